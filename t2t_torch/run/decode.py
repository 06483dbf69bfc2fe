"""`decode(cfg)`: decoding with a trained model, what `decode.py` / `t2t-decode` (cli/decode.py) runs (T2T's
`t2t-decoder`, `bin/t2t_decoder.py` + `utils/decoding.py`, with `t2t-bleu` built in).

Everything is rebuilt from the checkpoint (model, hparams, problem, vocabulary); the command line only says what
to decode and how:

    python decode.py ckpt_path=RUN/checkpoints/last.ckpt                       # the dev split + BLEU and chrF
    python decode.py ckpt_path=... decode.split=test decode.to_file=DIR       # DIR/{decodes,references,inputs}.txt
    python decode.py ckpt_path=... decode.split=dev decode.to_file=dev.b4.txt # dev.b4{,.references,.inputs}.txt
    python decode.py ckpt_path=... decode.from_file=in.txt decode.to_file=out.txt [decode.reference=ref.txt]
    python decode.py ckpt_path=... decode.interactive=true                    # a REPL on stdin; q quits
    python decode.py ckpt_path=... decode.beam_size=4 decode.alpha=0.6 decode.return_beams=true
    python decode.py ckpt_path=RUN/best                                        # the run's best-<step>.ckpt
    python decode.py ckpt_path=... decode.score_file=pairs.tsv                # log p(target | source) per line

Decoding a split writes the decodes, the references and the inputs. `decode.to_file` names either a folder (a name
without a suffix, or a folder that exists; by default the run dir), which gets `decodes.txt`, `references.txt` and
`inputs.txt`, or, when its name ends in a suffix such as `.txt`, the decodes file itself, with the references and
inputs beside it: `dev.beam4.txt` -> `dev.beam4.txt`, `dev.beam4.references.txt`, `dev.beam4.inputs.txt`. As the
decodes file has always been, outputs that exist already are rewritten; one that is a folder is refused before decoding.

`decode.score_file` is a TSV of source<TAB>target lines; each line's score is the natural log-probability of the
target given the source (summed over its tokens and eos). With a language model (decoder-only, no inputs) the source
is the prompt: the target is read as its continuation (after one space, unless the source ends or the target begins
with whitespace), as decoding continues a prompt, and only the target's tokens are scored.

Decoding a file writes exactly one output line per input line, in input order (with `return_beams`, every beam
best first, tab-separated, each followed by its score unless `decode.write_beam_scores=false`); empty,
whitespace-only, unencodable, over-long and invalid-UTF-8 lines are counted and warned about, never a crash or a
shifted line.

On the CPU, decoding uses at most one intra-op thread per CPU this process may use (`cap_cpu_threads`: its affinity
and its container's CPU quota, which torch's default ignores): small decoder steps on more threads than CPUs spend
their time in the kernel, not in the model.
"""

from __future__ import annotations

import io
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import torch
from omegaconf import DictConfig, OmegaConf

from t2t_torch.checkpoints.best import resolve_checkpoint
from t2t_torch.datamodules.cpus import usable_cpus
from t2t_torch.decoding.text_files import format_output, read_text_lines, write_text_lines
from t2t_torch.errors import T2TUserError
from t2t_torch.hparams import dataclass_from_mapping
from t2t_torch.inference.decode_config import DecodeConfig
from t2t_torch.inference.predictor import Predictor
from t2t_torch.metrics.bleu import corpus_scores
from t2t_torch.metrics.decode_scores import decode_scores
from t2t_torch.run.writable import check_output_file, check_output_folder, same_file

log = logging.getLogger(__name__)

# What decode.* keys choose the job; the rest are DecodeConfig (search) settings.
MODE_KEYS = ("from_file", "to_file", "reference", "interactive", "split", "num_samples", "score_file")


def cap_cpu_threads() -> int:
    """Lower torch's intra-op threads to the CPUs this process may use (never raise them: a smaller
    OMP_NUM_THREADS or torch.set_num_threads stays); returns the count."""
    threads = min(torch.get_num_threads(), usable_cpus())
    if threads < torch.get_num_threads():
        log.info("Decoding on %d CPU threads (torch's default, %d, is more than the CPUs this process may use)",
                 threads, torch.get_num_threads())
        torch.set_num_threads(threads)
    return threads


def decode_config(cfg: DictConfig) -> DecodeConfig:
    """The search settings of `cfg.decode` (T2T's decode_hparams) plus the run's seed."""
    settings = {k: v for k, v in OmegaConf.to_container(cfg.decode, resolve=True).items() if k not in MODE_KEYS}
    return dataclass_from_mapping(DecodeConfig, {**settings, "seed": cfg.get("seed")}, "decode")


def decode(cfg: DictConfig) -> dict[str, float]:
    """Decode as configured (see the module docstring); returns BLEU/chrF (when there are references) and speed.
    Input, reference and output paths are checked before the checkpoint is loaded."""
    if not cfg.get("ckpt_path"):
        raise T2TUserError("no checkpoint given: pass ckpt_path=<run dir>/checkpoints/last.ckpt")
    config = decode_config(cfg)
    options = cfg.decode
    job, split_outputs, scoring = None, None, None
    if options.get("score_file"):
        if options.from_file or options.interactive or options.reference:
            raise T2TUserError("decode.score_file scores given pairs: pass it without decode.from_file,"
                               " decode.interactive and decode.reference")
        to_file = Path(options.to_file) if options.to_file else Path(cfg.output_dir) / "scores.txt"
        scoring = ScoreJob.check(Path(options.score_file), to_file)
    elif options.from_file and not options.interactive:
        to_file = Path(options.to_file) if options.to_file else Path(cfg.output_dir) / "decodes.txt"
        job = FileJob.check(Path(options.from_file), to_file, options.reference)
    elif not options.interactive:
        split_outputs = check_split_outputs(Path(options.to_file)) if options.to_file else \
            SplitOutputs.in_folder(check_split_folder(Path(cfg.output_dir)))
    predictor = Predictor.from_checkpoint(resolve_checkpoint(cfg.ckpt_path, key="ckpt_path"),
                                            data_dir=cfg.get("data_dir"),
                                            device=cfg.get("device", "cpu"))
    if predictor.device.type == "cpu":
        cap_cpu_threads()
    if scoring is not None:
        return scoring.run(predictor, config)
    if options.interactive:
        return interactive(predictor, config, io.TextIOWrapper(sys.stdin.buffer, errors="replace"), sys.stdout)
    if job is not None:
        return job.run(predictor, config)
    return decode_split(predictor, config, options.split, options.num_samples, split_outputs)


@dataclass(frozen=True)
class FileJob:
    """A `decode.from_file` job whose files were all read and checked before anything is decoded."""

    from_file: Path
    to_file: Path
    lines: list[str]
    invalid: int  # lines of from_file that held invalid UTF-8
    references: list[str] | None

    @classmethod
    def check(cls, from_file: Path, to_file: Path, reference: str | Path | None = None) -> FileJob:
        """Refuse an output that would overwrite the input or the reference (also through a link), an output path
        that cannot be written, an empty input, and a reference whose line count differs from the input's."""
        from_file, to_file = from_file.expanduser(), to_file.expanduser()
        if same_file(to_file, from_file):
            raise T2TUserError(f"decode.to_file is the input file '{from_file}': pass another decode.to_file")
        if reference and same_file(to_file, reference):
            raise T2TUserError(f"decode.to_file is the reference file '{reference}' (the decodes would replace it):"
                               " pass another decode.to_file")
        check_output_file(to_file, "decode.to_file")
        lines, invalid = read_text_lines(from_file)
        if not lines:
            raise T2TUserError(f"input file '{from_file}' is empty: nothing to decode")
        references = None
        if reference:
            references, _ = read_text_lines(reference, "reference file", "decode.reference")
            if len(references) != len(lines):
                raise T2TUserError(f"reference '{reference}' has {len(references)} lines but the input has"
                                   f" {len(lines)}: pass the reference of decode.from_file")
        return cls(from_file, to_file, lines, invalid, references)

    def run(self, predictor: Predictor, config: DecodeConfig) -> dict[str, float]:
        """Translate every line into the same line of `to_file`; BLEU and chrF when there are references."""
        if self.invalid:
            log.warning("%d of %d lines of %s were not valid UTF-8: the invalid bytes were replaced by U+FFFD",
                        self.invalid, len(self.lines), self.from_file)
        scored = predictor.translate_scored(self.lines, config)
        outputs = [beams[0][0] for beams in scored]
        write_text_lines(self.to_file, [output_line(beams, config, predictor.is_classifier) for beams in scored])
        metrics = report_speed(len(self.lines), predictor.last_stats.seconds, self.to_file)
        if self.references is not None:
            metrics |= report_scores(outputs, self.references, predictor.decode_metrics)
        return metrics


@dataclass(frozen=True)
class ScoreJob:
    """A `decode.score_file` job: source<TAB>target pairs, read and checked before the checkpoint is loaded."""

    score_file: Path
    to_file: Path
    pairs: list[tuple[str, str]]

    @classmethod
    def check(cls, score_file: Path, to_file: Path) -> ScoreJob:
        score_file, to_file = score_file.expanduser(), to_file.expanduser()
        if same_file(to_file, score_file):
            raise T2TUserError(f"decode.to_file is the score file '{score_file}': pass another decode.to_file")
        check_output_file(to_file, "decode.to_file")
        lines, _ = read_text_lines(score_file, "score file", "decode.score_file")
        if not lines:
            raise T2TUserError(f"score file '{score_file}' is empty: pass a TSV of source<TAB>target lines")
        pairs = []
        for number, line in enumerate(lines, start=1):
            tabs = line.count("\t")
            if tabs != 1:
                found = "no TAB" if tabs == 0 else f"{tabs} TABs"
                raise T2TUserError(f"score file '{score_file}' line {number} has {found}: each line is"
                                   " source<TAB>target")
            source, target = line.split("\t")
            if not source.strip() or not target.strip():
                raise T2TUserError(f"score file '{score_file}' line {number} has an empty source or target")
            pairs.append((source, target))
        return cls(score_file, to_file, pairs)

    def run(self, predictor: Predictor, config: DecodeConfig) -> dict[str, float]:
        """Write each pair's log-probability (natural log, one per line, in order) to `to_file`."""
        started = time.perf_counter()
        try:
            scores = predictor.score(self.pairs, batch_size=config.batch_size)
        except T2TUserError as error:
            raise T2TUserError(f"score file '{self.score_file}': {error}") from None
        write_text_lines(self.to_file, [f"{score:.6f}" for score in scores])
        seconds = time.perf_counter() - started
        mean = sum(scores) / len(scores)
        print(f"Scored {len(scores)} pairs of {self.score_file} into {self.to_file}: mean log-probability {mean:.4f}"
              f" ({len(scores) / max(seconds, 1e-9):.1f} pairs/s)")
        return {"pairs": float(len(scores)), "mean_log_prob": mean, "seconds": seconds}


SPLIT_FILES = ("decodes.txt", "references.txt", "inputs.txt")
SIBLINGS = ("references", "inputs")  # beside a decodes file X.txt: X.references.txt, X.inputs.txt


@dataclass(frozen=True)
class SplitOutputs:
    """Where split decoding writes the decodes, the references and the inputs."""

    decodes: Path
    references: Path
    inputs: Path

    @classmethod
    def in_folder(cls, folder: Path) -> SplitOutputs:
        return cls(*(folder / name for name in SPLIT_FILES))

    @classmethod
    def beside(cls, decodes: Path) -> SplitOutputs:
        """`dev.beam4.txt` -> itself, `dev.beam4.references.txt`, `dev.beam4.inputs.txt`."""
        stem, suffix = decodes.name[:-len(decodes.suffix)], decodes.suffix
        return cls(decodes, *(decodes.with_name(f"{stem}.{sibling}{suffix}") for sibling in SIBLINGS))


def check_split_folder(folder: Path) -> Path:
    """The folder split decoding writes SPLIT_FILES into, checked to be usable before anything is decoded."""
    folder = check_output_folder(folder, "decode.to_file")
    for name in SPLIT_FILES:
        check_output_file(folder / name, "decode.to_file")
    return folder


def check_split_outputs(to_file: Path) -> SplitOutputs:
    """The outputs of split decoding for `decode.to_file` (see the module docstring: a name with a suffix that is
    not an existing folder is the decodes file, anything else the folder), checked before anything is decoded."""
    to_file = to_file.expanduser()
    if not to_file.suffix or to_file.is_dir():
        return SplitOutputs.in_folder(check_split_folder(to_file))
    outputs = SplitOutputs.beside(to_file)
    for path in (outputs.decodes, outputs.references, outputs.inputs):
        check_output_file(path, "decode.to_file")
    return outputs


def decode_split(predictor: Predictor, config: DecodeConfig, split: str, num_samples: int,
                 folder: Path | SplitOutputs) -> dict[str, float]:
    """Decode (the first `num_samples` of) a split of the problem; write decodes, references and inputs (into
    `folder`, or where `SplitOutputs` says); score."""
    outputs = folder if isinstance(folder, SplitOutputs) else SplitOutputs.in_folder(folder)
    problem, data_dir = predictor.problem, predictor.data_dir
    if problem is None or data_dir is None:
        raise T2TUserError("this predictor knows no problem data: pass data_dir=<the data_dir of the training run>")
    dataset = problem.dataset(split, data_dir)
    count = len(dataset) if num_samples is None or num_samples < 0 else min(num_samples, len(dataset))
    if count == 0:
        raise T2TUserError(f"split '{split}' of {problem.name} in {data_dir} holds no examples to decode")
    examples = [dataset[i] for i in range(count)]
    started = time.perf_counter()
    encoders = predictor.encoders
    if predictor.is_classifier:  # labels: the argmax class of each example, by name
        labels = predictor.classify_examples([e["inputs"] for e in examples], config.batch_size)
        hypotheses = [[(label, None)] for label in labels]
        references = [predictor.label_name(int(e["targets"])) for e in examples]
    else:
        decoded = predictor.generate([e["inputs"].tolist() for e in examples], config)
        hypotheses = [[(encoders["targets"].decode(ids), score) for ids, score in beams] for beams in decoded]
        references = [encoders["targets"].decode(e["targets"]) for e in examples]
    seconds = time.perf_counter() - started
    inputs = [encoders["inputs"].decode(e["inputs"]) if "inputs" in encoders else f"<{predictor.spec.inputs.modality}>"
              for e in examples]
    decodes = write_text_lines(outputs.decodes, [output_line(h, config, predictor.is_classifier) for h in hypotheses])
    write_text_lines(outputs.references, [format_output(r) for r in references])
    write_text_lines(outputs.inputs, [format_output(i) for i in inputs])
    print(f"Decoded {count} examples of {problem.name}/{split}")
    metrics = report_speed(count, seconds, decodes)
    return metrics | report_scores([h[0][0] for h in hypotheses], references, predictor.decode_metrics)


def output_line(beams: list[tuple[str, float | None]], config: DecodeConfig, is_classifier: bool) -> str:
    """One output line: the best text; with `return_beams` every beam, tab-separated, each followed by its score
    (`write_beam_scores`; an input that was not decoded has empty scores, a label none)."""
    if not config.return_beams:
        return format_output(beams[0][0])
    if not config.write_beam_scores or is_classifier:
        return format_output([text for text, _ in beams])
    cells = [cell for text, score in beams for cell in (text, "" if score is None else f"{score:.6f}")]
    return format_output(cells)


def interactive(predictor: Predictor, config: DecodeConfig, lines: TextIO, out: TextIO) -> dict[str, float]:
    """T2T's `decode_interactively`: translate each line typed on `lines` until `q` or end of input."""
    count = 0
    print("Type a sentence to translate, q to quit.", file=out, flush=True)
    for line in lines:
        text = line.rstrip("\r\n")
        if text.strip() == "q":
            break
        if not text.strip():
            continue
        beams = predictor.translate_scored([text], config)[0]
        for rank, (beam, score) in enumerate(beams if config.return_beams else beams[:1]):
            prefix = f"[{rank}] " if config.return_beams else ""
            shown = f" ({score:.4f})" if config.return_beams and config.write_beam_scores and score is not None else ""
            print(prefix + beam + shown, file=out, flush=True)
        count += 1
    return {"lines": float(count)}


def report_speed(count: int, seconds: float, path: Path) -> dict[str, float]:
    speed = count / seconds if seconds > 0 else float("inf")
    print(f"Wrote {count} lines to {path} in {seconds:.2f} s ({speed:.1f} sentences/s)")
    return {"lines": float(count), "seconds": seconds, "sentences_per_second": speed}


def report_scores(hypotheses: list[str], references: list[str], names: tuple[str, ...]) -> dict[str, float]:
    """The problem's decode metrics (`ProblemSpec.decode_metrics`); BLEU and chrF print sacreBLEU's lines."""
    if {"bleu", "chrf"} & set(names):
        scores = corpus_scores(hypotheses, references)
        print(scores.bleu_line)
        print(scores.chrf_line)
    results = decode_scores(hypotheses, references, names)
    for name, value in results.items():
        if name not in ("bleu", "chrf"):
            print(f"{name} = {value:.2f}")
    return results
