"""`t2t-translate-all`: decode a split with every checkpoint of a run and tabulate its decode metrics per step (T2T's
`bin/t2t_translate_all.py`, which decoded a file with each checkpoint of a model dir, plus its `t2t-bleu` pass
that wrote BLEU per step for TensorBoard).

    t2t-translate-all outputs/RUN                                 # dev split, beam 4, alpha 0.6
    t2t-translate-all outputs/RUN --split test --beam_size 1 --num_samples 200 --out outputs/RUN/translate_all

The checkpoints are the `*.ckpt` files of `RUN/checkpoints/` (train with `keep_checkpoint_max=N` to keep one per
validation), ordered by global step, one file per step (as `t2t-avg-checkpoints` picks them). Each is decoded with
`decode.py`'s split decoding into `OUT/step-<S>/` (decodes, references, inputs), scored with the problem's decode
metrics (BLEU and chrF for translation, WER and CER for speech, ...), and the table is written to `OUT/table.md`
and `OUT/table.csv`, with `OUT/curve.png`, each metric against the step (matplotlib, the `regress` extra; without
it the plot is skipped and says so). Checkpoints of another model or problem than the newest one are refused in
one line, as averaging refuses them. The output folder is checked before anything is decoded.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Sequence
from pathlib import Path

from t2t_torch.checkpoints.average import check_same_model, find_checkpoints, last_checkpoints, load
from t2t_torch.decode import check_split_folder, decode_split
from t2t_torch.errors import T2TUserError
from t2t_torch.inference.translator import DecodeConfig, Translator, resolve_device
from t2t_torch.writable import check_output_file, check_output_folder

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
        translator = Translator.from_checkpoint(path, device=resolve_device(device))
        metrics = decode_split(translator, config, split, num_samples, folder)
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="t2t-translate-all", description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="a run dir (or its checkpoints/ folder)")
    parser.add_argument("--split", default="dev", help="the problem's split to decode (dev)")
    parser.add_argument("--num_samples", type=int, default=-1, help="decode the first N examples; -1: all")
    parser.add_argument("--beam_size", type=int, default=4)
    parser.add_argument("--alpha", type=float, default=0.6)
    parser.add_argument("--extra_length", type=int, default=DecodeConfig.extra_length)
    parser.add_argument("--batch_size", type=int, default=DecodeConfig.batch_size)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default=None, help="the output folder (default: RUN/translate_all-<split>)")
    args = parser.parse_args(argv)
    run = Path(args.run).expanduser()
    out = Path(args.out).expanduser() if args.out else (run.parent if run.name == "checkpoints" else run) / \
        f"translate_all-{args.split}"
    try:
        config = DecodeConfig(beam_size=args.beam_size, alpha=args.alpha, extra_length=args.extra_length,
                              batch_size=args.batch_size)
        rows = decode_every_checkpoint(run, out, args.split, args.num_samples, config, args.device)
    except T2TUserError as error:
        print(f"t2t-translate-all: error: {error}", file=sys.stderr)
        return 2
    table = write_table(rows, out, args.split)
    plot(rows, out, args.split)
    print(table.read_text(encoding="utf-8"), end="")
    print(f"Wrote {table}, {out / 'table.csv'} and the decodes of {len(rows)} checkpoints under {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
