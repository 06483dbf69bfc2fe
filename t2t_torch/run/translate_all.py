"""Decode a split with every checkpoint of a run and tabulate its decode metrics per step: what `t2t-translate-all`
(cli/translate_all.py) runs.

The checkpoints are the `*.ckpt` files of `RUN/checkpoints/` (train with `keep_checkpoint_max=N` to keep one per
validation), ordered by global step, one file per step (as `t2t-avg-checkpoints` picks them). Each is decoded with
`decode.py`'s split decoding (run/decode.py) into `OUT/step-<S>/` (decodes, references, inputs), scored with the
problem's decode metrics (BLEU and chrF for translation, WER and CER for speech, ...), and the table is written to
`OUT/table.md` and `OUT/table.csv`, with `OUT/curve.png`, each metric against the step (matplotlib, the `regress`
extra; without it the plot is skipped and says so). Checkpoints of another model or problem than the newest one are
refused in one line, as averaging refuses them. The output folder is checked before anything is decoded.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from t2t_torch.checkpoints.average import check_same_model, find_checkpoints, last_checkpoints, load
from t2t_torch.inference.decode_config import DecodeConfig
from t2t_torch.inference.predictor import Predictor, resolve_device
from t2t_torch.run.decode import check_split_folder, decode_split
from t2t_torch.run.writable import check_output_file, check_output_folder

OUTPUTS = ("table.md", "table.csv", "curve.png")


def decode_every_checkpoint(run: str | Path, out: Path, split: str, num_samples: int, config: DecodeConfig,
                            device: str = "auto") -> list[dict[str, float]]:
    """One row per checkpoint of `run`, oldest first: {"step", <each decode metric>, "seconds", ...}."""
    chosen = last_checkpoints(find_checkpoints([run]), n=10**9)
    newest = load(chosen[-1][1], weights=True)  # memory-mapped: only the weights' shapes are compared
    for _, path in chosen[:-1]:
        check_same_model(newest, load(path, weights=True))
    out = check_output_folder(out, "--out")
    for name in OUTPUTS:
        check_output_file(out / name, "--out")
    folders = [check_split_folder(out / f"step-{step}") for step, _ in chosen]
    rows = []
    for (step, path), folder in zip(chosen, folders, strict=True):
        print(f"Step {step}: {path}")
        predictor = Predictor.from_checkpoint(path, device=resolve_device(device))
        metrics = decode_split(predictor, config, split, num_samples, folder)
        rows.append({"step": float(step), **metrics})
    return rows


def metric_names(rows: Sequence[dict[str, float]]) -> list[str]:
    """The decode metrics of the rows (not the counts and speeds decode_split also reports)."""
    skip = {"step", "lines", "seconds", "sentences_per_second"}
    return [name for name in rows[0] if name not in skip]


def write_table(rows: Sequence[dict[str, float]], out: Path, split: str) -> Path:
    names = metric_names(rows)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "table.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["step", *names, "seconds"])
        for row in rows:
            writer.writerow([int(row["step"]), *(f"{row[n]:.4f}" for n in names), f"{row['seconds']:.2f}"])
    lines = [f"| step | {' | '.join(f'{split} {n}' for n in names)} | decode seconds |",
             f"|---:|{'---:|' * len(names)}---:|"]
    lines += [f"| {int(row['step'])} | {' | '.join(f'{row[n]:.2f}' for n in names)} | {row['seconds']:.1f} |"
              for row in rows]
    (out / "table.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out / "table.md"


def plot(rows: Sequence[dict[str, float]], out: Path, split: str) -> Path | None:
    """Each decode metric against the step; None (and a printed note) without matplotlib."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        print("t2t-translate-all: no plot (matplotlib is missing: pip install 't2t-torch[regress]')")
        return None
    names = metric_names(rows)
    figure = Figure(figsize=(4 * len(names), 3.2), layout="constrained")
    axes = figure.subplots(1, len(names), squeeze=False)[0]
    steps = [int(row["step"]) for row in rows]
    for ax, name in zip(axes, names, strict=True):
        ax.plot(steps, [row[name] for row in rows], marker="o")
        ax.set_xlabel("step")
        ax.set_title(f"{split} {name}")
        ax.grid(alpha=0.3)
    figure.savefig(out / "curve.png", dpi=100)
    return out / "curve.png"
