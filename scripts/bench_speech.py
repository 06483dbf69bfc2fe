"""Speech preparation and CPU decoding speed, side by side in one run, as real-time factors (seconds of audio per
second of work; higher is faster).

Preparation (problems/speech: read, stereo -> mono, resample to 16 kHz, Kaldi fbank, CMVN, cache) of real speech:
Debian's `fillets-ng-data-nl` Dutch dialogue clips (22.05 kHz stereo OGG), a third kept as they are, a third mixed
down to mono and a third resampled to 44.1 kHz, as the issue's mix of files. Paths, each into a fresh data_dir:

1. `before`: this process, torch's default threads, `torchaudio.functional.resample` building its kernel per file;
2. `after, serial`: this process, the resampler kernel cached per file rate (`audio_features.resampler`);
3. `after, N workers`: `problem.prepare_workers=N` spawned processes of one torch thread each.

All three caches are compared byte for byte. Decoding: `transformer_librispeech_tiny` with a CTC head (0.3) trained
for `--train-seconds` on the clips (transcripts: the clip's name, e.g. `vit m hlava`), then greedy, beam-4 and joint
CTC/attention beam-4 (`decode.ctc_weight=0.3`) decodes of `--decode` held-out clips, on 1 torch thread and on as
many as the CPUs this process may use (`run/decode.py cap_cpu_threads`).

    mkdir -p ~/t2t_data/raw/fillets_nl && cd ~/t2t_data/raw/fillets_nl && apt-get download fillets-ng-data-nl \
        && dpkg -x fillets-ng-data-nl_*.deb .
    python scripts/bench_speech.py --clips ~/t2t_data/raw/fillets_nl --out benchmarks/speech_features.md

`--out` replaces this benchmark's section (from its heading on) of the file and keeps what is above it.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from datetime import date
from functools import partial
from pathlib import Path

import numpy as np
import soundfile
import torch
import torchaudio
from omegaconf import OmegaConf

import t2t_torch
from t2t_torch.datamodules.cpus import usable_cpus
from t2t_torch.inference.decode_config import DecodeConfig
from t2t_torch.inference.search import decode_scored
from t2t_torch.problems.speech import audio_features, feature_workers
from t2t_torch.run.config_check import compose_config
from t2t_torch.run.config_store import register_configs

HEADING = "# Speech preparation and CPU decoding: real-time factors"


def write_clips(source: Path, out: Path, count: int) -> list[str]:
    """Manifest lines (`path<TAB>text`) of `count` clips of `source`: every third as is, mono, or at 44.1 kHz."""
    lines = []
    for index, path in enumerate(sorted(source.rglob("*.ogg"))[:count]):
        if index % 3:
            data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)  # (n, channels)
            if index % 3 == 1:
                data = data.mean(axis=1)
            else:
                data = torchaudio.functional.resample(torch.from_numpy(data.T.copy()), rate, 2 * rate).numpy().T
                rate *= 2
            path = out / f"{index:04d}.ogg"
            soundfile.write(str(path), data, rate, format="OGG", subtype="VORBIS")
        lines.append(f"{path}\t{path.stem.replace('-', ' ').replace('_', ' ')}")
    return lines


def prepare(files: dict[str, str], data: Path, workers: int) -> float:
    start = time.perf_counter()
    t2t_torch.problem("speech_folder", data_files=files, prepare_workers=workers).generate_data(data)
    return time.perf_counter() - start


def cache_bytes(data: Path) -> dict[str, bytes]:
    return {f"{p.parent.name}/{p.name}": p.read_bytes() for p in sorted(data.glob("speech_folder/*.*/*"))}


def train(problem: t2t_torch.problems.problem.Problem, data: Path, seconds: float) -> tuple[torch.nn.Module, int]:
    """The tiny recipe model (CTC 0.3) trained on batches of ~4000 frames for `seconds`; (model, steps)."""
    register_configs()
    cfg = compose_config(["problem=speech_folder", "model=transformer", "hparams=transformer_librispeech_tiny",
                          "hparams.model.ctc_weight=0.3"])
    sets = OmegaConf.to_container(cfg.hparams, resolve=True)
    torch.manual_seed(0)
    model = t2t_torch.model("transformer")(sets["model"], problem.spec(data), sets.get("modality"))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    dataset = problem.dataset("train", data)
    order, batches, batch, frames = np.random.default_rng(0).permutation(len(dataset)), [], [], 0
    for index in order:
        batch.append(dataset[int(index)])
        frames += len(batch[-1]["inputs"])
        if frames >= 4000:
            batches.append(batch)
            batch, frames = [], 0
    pad = partial(torch.nn.utils.rnn.pad_sequence, batch_first=True)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        rows = batches[steps % len(batches)]
        inputs = pad([torch.from_numpy(r["inputs"]) for r in rows])
        targets = pad([torch.from_numpy(r["targets"]) for r in rows])
        loss = model({"inputs": inputs, "targets": targets})["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        steps += 1
    return model.eval(), steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=Path, default=Path("~/t2t_data/raw/fillets_nl"))
    parser.add_argument("--utterances", type=int, default=360, help="clips prepared (the last --decode are dev)")
    parser.add_argument("--decode", type=int, default=32, help="held-out clips decoded")
    parser.add_argument("--train-seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=min(feature_workers.AUTO_MAX_WORKERS, usable_cpus()))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    cpus, default_threads = usable_cpus(), torch.get_num_threads()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        lines = write_clips(args.clips.expanduser(), work, args.utterances)
        (work / "train.tsv").write_text("\n".join(lines[:-args.decode]) + "\n", encoding="utf-8")
        (work / "dev.tsv").write_text("\n".join(lines[-args.decode:]) + "\n", encoding="utf-8")
        files = {"train": str(work / "train.tsv"), "dev": str(work / "dev.tsv")}
        audio_s = sum(soundfile.info(line.split("\t")[0]).duration for line in lines)
        resampler = audio_features.resampler
        audio_features.resampler = lambda rate: partial(torchaudio.functional.resample, orig_freq=rate,
                                                        new_freq=audio_features.SAMPLE_RATE)
        prep = {"before: serial, functional.resample per file": prepare(files, work / "before", 1)}
        audio_features.resampler = resampler
        prep["after: serial, cached resampler kernel"] = prepare(files, work / "serial", 1)
        prep[f"after: {args.workers} worker processes x 1 thread"] = prepare(files, work / "parallel", args.workers)
        caches = [cache_bytes(work / name) for name in ("before", "serial", "parallel")]
        identical = caches[0] == caches[1] == caches[2] and len(caches[0]) == 10
        problem = t2t_torch.problem("speech_folder", data_files=files)
        model, steps = train(problem, work / "serial", args.train_seconds)
        dev = problem.dataset("dev", work / "serial")
        inputs = [dev[i]["inputs"].tolist() for i in range(len(dev))]
        dev_s = sum(len(x) for x in inputs) / 100  # 10 ms frames
        vocab = problem.spec(work / "serial").targets.vocab_size
        searches = {"greedy": DecodeConfig(beam_size=1), "beam 4": DecodeConfig(beam_size=4),
                    "joint CTC 0.3, beam 4": DecodeConfig(beam_size=4, ctc_weight=0.3)}
        decode_rtf: dict[str, dict[int, float]] = {name: {} for name in searches}
        for threads in sorted({1, cpus}):
            torch.set_num_threads(threads)
            for name, config in searches.items():
                start = time.perf_counter()
                decode_scored(model, inputs, vocab, config, torch.device("cpu"))
                decode_rtf[name][threads] = dev_s / (time.perf_counter() - start)
        torch.set_num_threads(default_threads)
    before = audio_s / next(iter(prep.values()))
    table = [HEADING, "", f"{date.today().isoformat()}: `python scripts/bench_speech.py --utterances {args.utterances}"
             f" --decode {args.decode} --train-seconds {args.train_seconds:g} --workers {args.workers}` on"
             f" {platform.machine()}, {os.cpu_count()} CPU cores ({cpus} usable), torch {torch.__version__}"
             f" ({default_threads} threads by default), torchaudio {torchaudio.__version__}.", "",
             f"Preparation: {len(lines)} fillets-ng-data-nl clips, {audio_s / 60:.1f} min of audio (22.05 kHz stereo,"
             f" mono, 44.1 kHz stereo OGG), train + dev splits from scratch, vocabulary and hashing included. The"
             f" three caches are {'byte-identical' if identical else 'DIFFERENT'}.", "",
             "| preparation | seconds | RTF (audio s / s) | x before |", "|---|---:|---:|---:|"]
    for name, seconds in prep.items():
        table.append(f"| {name} | {seconds:.1f} | {audio_s / seconds:.0f} | {audio_s / seconds / before:.2f} |")
    table += ["", f"Decoding {len(inputs)} held-out clips ({dev_s:.0f} s of audio), batch 32, after {steps} training"
              f" steps ({args.train_seconds:g} s):", "",
              "| search | " + " | ".join(f"RTF, {t} thread{'s' * (t > 1)}" for t in sorted({1, cpus})) + " |",
              "|---|" + "---:|" * len({1, cpus})]
    for name, by_threads in decode_rtf.items():
        table.append(f"| {name} | " + " | ".join(f"{rtf:.1f}" for _, rtf in sorted(by_threads.items())) + " |")
    text = "\n".join(table) + "\n"
    print(text)
    if args.out:
        old = args.out.read_text(encoding="utf-8") if args.out.is_file() else ""
        kept = old.split(HEADING)[0].rstrip("\n")
        args.out.write_text((kept + "\n\n" if kept else "") + text, encoding="utf-8")


if __name__ == "__main__":
    main()
