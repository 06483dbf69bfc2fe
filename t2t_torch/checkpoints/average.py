"""`t2t-avg-checkpoints`: average the weights of the last N checkpoints into a new checkpoint (T2T's
`utils/avg_checkpoints.py` and the one-shot form of `bin/t2t_avg_all.py`).

    t2t-avg-checkpoints outputs/RUN --n 8                 # -> outputs/RUN/avg/avg-last8-step<S>.ckpt
    t2t-avg-checkpoints a.ckpt b.ckpt c.ckpt --output_path avg.ckpt
    python decode.py ckpt_path=outputs/RUN/avg/avg-last8-step<S>.ckpt

A run dir's checkpoints are the `*.ckpt` files (or sharded directories) of `RUN/checkpoints/` (train with
`keep_checkpoint_max=N` to keep one per validation), read as `CheckpointRecord`s and ordered by their global step; files
of one folder with the same step (`last.ckpt` and `step-S.ckpt`) count once. Floating-point weights are averaged in
float64 and cast back; other tensors are taken from the newest checkpoint. The output holds the averaged `state_dict`
with the newest checkpoint's `hyper_parameters`, step and stored vocabulary (no optimizer state: it is for decoding and
evaluation, not for resuming) and is written atomically, with the usual file mode. Checkpoints of another model, model
hparams, problem (name or settings) or vocabulary (sha256) are refused with one line, even when their weights' shapes
match.

Averaging is for checkpoints of one run (T2T averaged the last N of one training). Two checkpoints are of one run
when their run identity is equal: the composed config each stores (`hyper_parameters.run_config`) less the keys a
resumed run may change (`checkpoints/run_identity.py`: `trainer.max_steps`, logging, output paths, ...). Checkpoints of
runs with another seed or other hparams are refused in one line naming both files and the first settings that
differ, unless `--allow_different_runs` says that averaging them is meant (it is then logged). A checkpoint that
stores no run config (written by hand or by an older t2t-torch) cannot be told apart: it is averaged, with a warning.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from t2t_torch.checkpoints.atomic_io import AtomicCheckpointIO
from t2t_torch.checkpoints.record import CheckpointRecord
from t2t_torch.checkpoints.sharded import is_sharded_checkpoint
from t2t_torch.errors import T2TUserError

log = logging.getLogger(__name__)

ALLOW_DIFFERENT_RUNS = "--allow_different_runs"


def load(path: Path, weights: bool = False) -> CheckpointRecord:
    """A checkpoint's record (a file is memory-mapped: cheap to open for its step), with one-line errors."""
    return CheckpointRecord.load(path, weights=weights)


def find_checkpoints(paths: Sequence[str | Path]) -> list[Path]:
    """The given .ckpt files, and the .ckpt files of given run dirs (or their `checkpoints/` folder)."""
    found: list[Path] = []
    for given in map(lambda p: Path(p).expanduser(), paths):
        if given.is_file() or is_sharded_checkpoint(given):
            found.append(given)
        elif given.is_dir():
            folder = given / "checkpoints" if (given / "checkpoints").is_dir() else given
            found.extend(sorted(p for p in folder.glob("*.ckpt") if not p.name.startswith(".")))
        else:
            raise T2TUserError(f"'{given}' does not exist: pass a run dir or .ckpt files")
    if not found:
        raise T2TUserError(f"no .ckpt files in {', '.join(map(str, paths))}: pass a run dir that holds checkpoints")
    return found


def last_checkpoints(paths: Sequence[Path], n: int) -> list[tuple[int, Path]]:
    """The `n` checkpoints of highest global step, oldest first; files of one folder and step count once."""
    by_step: dict[tuple[int, Path], Path] = {}
    for path in paths:
        step = load(path).global_step
        key = (step if step is not None else -1, path.parent.resolve())
        if key not in by_step or _name_rank(path) < _name_rank(by_step[key]):
            by_step[key] = path
    chosen = sorted(by_step.items(), key=lambda item: (item[0][0], str(item[1])))[-n:]
    return [(step, path) for (step, _), path in chosen]


def _name_rank(path: Path) -> int:
    """Which of several files of one step to name in the output: step-S.ckpt, then best-S.ckpt, then last.ckpt."""
    return 0 if path.name.startswith("step-") else 2 if path.name == "last.ckpt" else 1


def check_same_model(reference: CheckpointRecord, other: CheckpointRecord) -> None:
    """One line when `other` is not the same model, hparams, problem and vocabulary (and, when both hold their
    weights, weight shapes) as `reference`."""
    mismatch = other.mismatch(reference)
    if mismatch:
        raise T2TUserError(f"cannot average '{other.path}' with '{reference.path}': it has {mismatch}; pass"
                           " checkpoints of one run")
    if reference.state_dict is None or other.state_dict is None:
        return
    ref_shapes = {k: tuple(v.shape) for k, v in reference.state_dict.items()}
    shapes = {k: tuple(v.shape) for k, v in other.state_dict.items()}
    if ref_shapes != shapes:
        differing = sorted(set(ref_shapes.items()) ^ set(shapes.items()))[0][0]
        raise T2TUserError(f"cannot average '{other.path}' with '{reference.path}': their weights differ"
                           f" ('{differing}'); pass checkpoints of one run")


def check_same_run(reference: CheckpointRecord, other: CheckpointRecord, allow_different_runs: bool = False) -> None:
    """One line when `other` is a checkpoint of another run than `reference`, unless `allow_different_runs` (then a
    warning); nothing when that cannot be told (a checkpoint without a stored run config)."""
    differences = other.run_differences(reference.run_config)
    if not differences:
        return
    path, ref_path = other.path, reference.path
    if not allow_different_runs:
        raise T2TUserError(f"cannot average '{path}' with '{ref_path}': they are checkpoints of different runs"
                           f" ({'; '.join(differences)}): pass checkpoints of one run, or {ALLOW_DIFFERENT_RUNS}"
                           " if averaging different runs is meant")
    log.warning("averaging '%s' with '%s', a checkpoint of another run (%s), as %s says", path, ref_path,
                "; ".join(differences), ALLOW_DIFFERENT_RUNS)


def average_checkpoints(paths: Sequence[Path], allow_different_runs: bool = False) -> dict[str, Any]:
    """The averaged checkpoint of `paths` (oldest first; the last one is the newest); checkpoints of other runs are
    refused unless `allow_different_runs` (see the module docstring)."""
    newest_path = paths[-1]
    newest = load(newest_path, weights=True)
    if newest.state_dict is None:
        raise T2TUserError(f"'{newest_path}' holds no state_dict: pass checkpoints written by t2t-train")
    sums = {k: v.to(torch.float64, copy=True) for k, v in newest.state_dict.items() if v.is_floating_point()}
    unknown = [newest_path] if newest.run_config is None else []  # stores no run config
    for path in paths[:-1]:
        checkpoint = load(path, weights=True)
        check_same_model(newest, checkpoint)
        check_same_run(newest, checkpoint, allow_different_runs)
        if checkpoint.run_config is None:
            unknown.append(path)
        for key in sums:
            sums[key] += checkpoint.weights()[key].to(torch.float64)
    if unknown and len(paths) > 1:
        log.warning("%s stores no run config (written by hand or by an older t2t-torch): whether all %d"
                    " checkpoints are of one run cannot be told; averaged anyway", ", ".join(map(str, unknown)),
                    len(paths))
    state_dict = {k: (sums[k] / len(paths)).to(v.dtype) if k in sums else v.clone()
                  for k, v in newest.state_dict.items()}
    return newest.decoding_checkpoint(state_dict, averaged_checkpoints=[str(p) for p in paths])


def default_output(given: Sequence[str | Path], n: int, step: int) -> Path:
    run_dir = Path(given[0]).expanduser()
    if len(given) != 1 or not run_dir.is_dir():
        raise T2TUserError("averaging given .ckpt files needs --output_path <file.ckpt>")
    if run_dir.name == "checkpoints":
        run_dir = run_dir.parent
    return run_dir / "avg" / f"avg-last{n}-step{step}.ckpt"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="t2t-avg-checkpoints", description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", help="a run dir (or its checkpoints/ folder), or .ckpt files")
    parser.add_argument("--n", type=int, default=8, help="how many of the newest checkpoints to average (8)")
    parser.add_argument("--output_path", default=None,
                        help="the averaged .ckpt (default: RUN/avg/avg-lastN-stepS.ckpt)")
    parser.add_argument(ALLOW_DIFFERENT_RUNS, "--allow-different-runs", action="store_true",
                        help="average checkpoints of different runs (another seed or other hparams) too; by default"
                             " they are refused")
    args = parser.parse_args(argv)
    logging.basicConfig(format="t2t-avg-checkpoints: %(levelname)s: %(message)s")  # unless logging is set up
    try:
        if args.n < 1:
            raise T2TUserError(f"--n must be >= 1, got {args.n}")
        chosen = last_checkpoints(find_checkpoints(args.paths), args.n)
        steps, paths = [s for s, _ in chosen], [p for _, p in chosen]
        if args.output_path:
            output = Path(args.output_path).expanduser()
        else:
            output = default_output(args.paths, args.n, steps[-1])
        if output.resolve() in {p.resolve() for p in paths}:
            raise T2TUserError(f"--output_path '{output}' is one of the inputs: pass another --output_path")
        AtomicCheckpointIO().save_checkpoint(average_checkpoints(paths, args.allow_different_runs), output)
    except T2TUserError as error:
        print(f"t2t-avg-checkpoints: error: {error}", file=sys.stderr)
        return 2
    print(f"Averaged {len(paths)} checkpoints (steps {', '.join(map(str, steps))}) into {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
