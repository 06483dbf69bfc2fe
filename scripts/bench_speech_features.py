"""Speech features, side by side in one run: serving cached log-mel frames vs computing them on the device per batch.

The speech problems compute 80-bin Kaldi log-mel frames once (read, resample to 16 kHz, fbank, CMVN) and cache them
as float16 (problems/speech/speech_problem.py). The alternative is to cache the 16 kHz waveform (int16) and compute the
frames on the training device for every batch. This script times, on the same batches of a prepared speech folder:

1. `cache`: what the loader does now: each example's float16 rows read from the memory-mapped cache, widened to
   float32 and padded into a (B, T, 80) batch, moved to the device;
2. `device, kaldi`: int16 waveforms moved to the device, Kaldi fbank per utterance there
   (`torchaudio.compliance.kaldi.fbank`, the cached features exactly), per-utterance CMVN, padded;
3. `device, batched`: the padded waveform batch through `torchaudio.transforms.MelSpectrogram` (400-sample
   windows every 160, 80 mel bins; close to, not equal to, Kaldi's) on the device, log, masked per-utterance CMVN;

against the frames per second the tiny recipe model (`transformer_librispeech_tiny`, CTC 0.3) consumes in training
steps on the same batches, so the table shows whether feature serving can matter. It also reports the one-time
preparation cost per utterance and the bytes per second of audio each cache holds. Rounds alternate the paths and
the median counts.

    scripts/fetch_local_data.sh synthetic_speech
    python scripts/bench_speech_features.py --threads 2 --out benchmarks/speech_features.md
    python scripts/bench_speech_features.py --device cuda --out /tmp/speech_features_gpu.md
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import torch
import torchaudio
from omegaconf import OmegaConf
from torchaudio.compliance import kaldi

import t2t_torch
from t2t_torch.problems.speech import audio_features
from t2t_torch.run.config_check import compose_config
from t2t_torch.run.config_store import register_configs


def frame_batches(lengths: list[int], frames: int, count: int) -> list[list[int]]:
    """`count` batches of consecutive utterances of about `frames` input frames each."""
    out, batch, total, index = [], [], 0, 0
    while len(out) < count:
        batch.append(index % len(lengths))
        total += lengths[index % len(lengths)]
        index += 1
        if total >= frames:
            out.append(batch)
            batch, total = [], 0
    return out


def synced(device: torch.device, fn: Callable[[], object]) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def pad(rows: list[torch.Tensor]) -> torch.Tensor:
    return torch.nn.utils.rnn.pad_sequence(rows, batch_first=True)


def cmvn(x: torch.Tensor) -> torch.Tensor:
    return (x - x.mean(0)) / torch.sqrt(x.var(0, unbiased=False) + audio_features.VARIANCE_EPSILON)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path("~/t2t_data/raw/synthetic_speech"))
    parser.add_argument("--utterances", type=int, default=400, help="training utterances prepared and served")
    parser.add_argument("--frames", type=int, default=8000, help="input frames a batch (the recipe's batch_size)")
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    root = args.root.expanduser()
    lines = root.joinpath("train.tsv").read_text(encoding="utf-8").splitlines()[: args.utterances]
    with tempfile.TemporaryDirectory() as tmp:
        manifest = Path(tmp) / "train.tsv"
        manifest.write_text("".join(f"{root / line}\n" for line in lines), encoding="utf-8")
        dev = Path(tmp) / "dev.tsv"
        dev.write_text("".join(f"{root / line}\n" for line in lines[:4]), encoding="utf-8")
        problem = t2t_torch.problem("speech_folder", data_files={"train": str(manifest), "dev": str(dev)})
        listing = problem.utterances("train", Path(tmp))
        audio_features.load_waveform(listing.path(listing.utterances[0]), "")  # imports, resampler kernels
        start = time.perf_counter()
        problem.generate_data(Path(tmp) / "data")
        prepare_s = time.perf_counter() - start
        waves = [audio_features.load_waveform(listing.path(u), "").samples for u in listing.utterances]
        dataset = problem.dataset("train", Path(tmp) / "data")
        cached = [dataset[i]["inputs"] for i in range(len(dataset))]  # the served float32 rows
        pcm = [torch.from_numpy(np.round(w * 32767).astype(np.int16)) for w in waves]  # what a waveform cache holds
        seconds = sum(len(w) for w in waves) / audio_features.SAMPLE_RATE
        stored = sum(a.size for a in cached) * 2  # float16 bytes
        batches = frame_batches([len(a) for a in cached], args.frames, args.batches)
        mel = torchaudio.transforms.MelSpectrogram(audio_features.SAMPLE_RATE, n_fft=audio_features.FRAME_SAMPLES,
                                                   hop_length=audio_features.SHIFT_SAMPLES, n_mels=80,
                                                   center=False).to(device)

        def serve_cache() -> None:
            for batch in batches:
                pad([torch.from_numpy(dataset[i]["inputs"]) for i in batch]).to(device)

        def device_kaldi() -> None:
            for batch in batches:
                rows = []
                for i in batch:
                    wave = pcm[i].to(device).float().unsqueeze(0)  # int16 scale, as Kaldi reads
                    rows.append(cmvn(kaldi.fbank(wave, num_mel_bins=80, dither=0.0,
                                                 sample_frequency=audio_features.SAMPLE_RATE)))
                pad(rows)

        def device_batched() -> None:
            for batch in batches:
                waves_b = pad([pcm[i] for i in batch]).to(device).float() / 32768.0
                frames = torch.tensor([audio_features.num_frames(len(pcm[i])) for i in batch], device=device)
                x = mel(waves_b).clamp(min=1e-10).log().transpose(1, 2)  # (B, T, 80)
                mask = (torch.arange(x.shape[1], device=device)[None] < frames[:, None]).unsqueeze(-1)
                mean = (x * mask).sum(1, keepdim=True) / frames[:, None, None]
                var = ((x - mean) ** 2 * mask).sum(1, keepdim=True) / frames[:, None, None]
                _ = ((x - mean) / torch.sqrt(var + audio_features.VARIANCE_EPSILON)) * mask

        register_configs()
        cfg = compose_config(["problem=speech_folder", "model=transformer", "hparams=transformer_librispeech_tiny",
                              "hparams.model.ctc_weight=0.3"])
        sets = OmegaConf.to_container(cfg.hparams, resolve=True)
        model = t2t_torch.model("transformer")(sets["model"], problem.spec(Path(tmp) / "data"),
                                               sets.get("modality")).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
        tensors = [(pad([torch.from_numpy(cached[i]) for i in batch]).to(device),
                    pad([torch.from_numpy(dataset[i]["targets"]) for i in batch]).to(device)) for batch in batches]

        def train_steps() -> None:
            for inputs, targets in tensors:
                loss = model({"inputs": inputs, "targets": targets})["loss"]
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()

        paths = {"cache (float16 rows -> float32 batch)": serve_cache, "device, kaldi fbank per utterance":
                 device_kaldi, "device, batched MelSpectrogram": device_batched, "model: training steps": train_steps}
        for fn in paths.values():
            synced(device, fn)  # warm-up
        rounds: dict[str, list[float]] = {name: [] for name in paths}
        total_frames = sum(len(cached[i]) for batch in batches for i in batch)
        for _ in range(args.rounds):
            for name, fn in paths.items():
                rounds[name].append(total_frames / synced(device, fn))
    median = {name: statistics.median(v) for name, v in rounds.items()}
    cache_rate, model_rate = median["cache (float16 rows -> float32 batch)"], median["model: training steps"]
    table = [f"# Speech features: cached frames vs computed on the device ({date.today().isoformat()})", "",
             f"`python scripts/bench_speech_features.py --threads {args.threads} --device {args.device}"
             f" --utterances {args.utterances} --frames {args.frames} --batches {args.batches} --rounds {args.rounds}`"
             f" on {platform.processor() or platform.machine()}, torch {torch.__version__}, torchaudio"
             f" {torchaudio.__version__}, {args.threads} threads, device {device}.",
             "", f"{len(waves)} utterances ({seconds / 60:.1f} min of audio) from {root.name}; {args.batches}"
             f" batches of ~{args.frames} frames; {args.rounds} alternating rounds, median.", "",
             "| path | frames/s | x cache | x model's consumption | rounds |", "|---|---:|---:|---:|---|"]
    for name, values in rounds.items():
        table.append(f"| {name} | {median[name]:,.0f} | {median[name] / cache_rate:.3f} |"
                     f" {median[name] / model_rate:.1f} | {', '.join(f'{v:,.0f}' for v in values)} |")
    table += ["", "One-time preparation and storage:", "",
              f"- the cache build (read, resample to 16 kHz, fbank, CMVN, write float16), once per split and setting:"
              f" {1000 * prepare_s / len(waves):.1f} ms an utterance.",
              f"- bytes per second of audio: float16 frames {stored / seconds:,.0f}; int16 16 kHz waveform"
              f" {2 * audio_features.SAMPLE_RATE:,}.", ""]
    fastest = max(median[n] for n in paths if n.startswith("device"))
    table += [f"Serving the cache is {cache_rate / fastest:.1f}x faster than the faster on-device path here, and"
              f" serves {cache_rate / model_rate:,.0f}x the frames the model trains on.", ""]
    text = "\n".join(table)
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
