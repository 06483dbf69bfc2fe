"""`ckpt_path=best`: the checkpoint of a run that scored best on its monitored metric (T2T exported the best
checkpoint by `--eval_early_stopping_metric`; Lightning's `ckpt_path="best"` only works inside the trainer that
wrote it).

Training keeps one `best-<step>.ckpt` in `<run dir>/checkpoints/`, chosen by `early_stopping.monitor` (default
`eval/loss`, with its direction), at every validation. `resolve_checkpoint` turns

- `best` (for `mode=eval`, which knows its run directory) into that file of the run,
- `<run dir>/best` or `<run dir>/checkpoints/best` (for `decode.py` and `t2t-translate-all`) into that run's file,

and leaves any other existing file, and a sharded checkpoint directory (`sharded.py`), alone. When a folder holds
several `best-*.ckpt` files (a copied or merged folder), the one `last.ckpt` records as its best is taken; a run
without one is a one-line error naming the fix. A path that does not exist, and any other folder (a run directory is
not a checkpoint: which of its checkpoints is meant?), are one-line errors naming what to pass instead:
`<run dir>/checkpoints/last.ckpt` (its last weights) or `<run dir>/best`, as `key=...` when the caller says which
setting it reads (`init_from`, `ckpt_path`).
"""

from __future__ import annotations

from pathlib import Path

from t2t_torch.checkpoints.record import CheckpointRecord
from t2t_torch.checkpoints.sharded import is_sharded_checkpoint
from t2t_torch.errors import T2TUserError

BEST = "best"


def resolve_checkpoint(path: str | Path, run_dir: str | Path | None = None, key: str | None = None) -> Path:
    """The checkpoint `path` names; `best` and `<folder>/best` become the run's best-<step>.ckpt. `key` is the
    setting `path` came from, named in the messages."""
    path = Path(path).expanduser()
    if path.is_file() or is_sharded_checkpoint(path):
        return path
    if path.is_dir():
        raise T2TUserError(folder_message(path, key))
    if path.name != BEST:
        if path.exists():  # neither file nor folder (a pipe, a device): loading says what it is
            return path
        setting = f"{key}=" if key else ""
        raise T2TUserError(f"checkpoint '{path}' does not exist: pass {setting}<run dir>/checkpoints/last.ckpt (a"
                           f" run's last weights), {setting}<run dir>/best (its best) or another .ckpt file")
    if path == Path(BEST):
        if run_dir is None:
            raise T2TUserError("ckpt_path=best needs a run: pass ckpt_path=<run dir>/best")
        folder = Path(run_dir)
    else:
        folder = path.parent
    folder = folder / "checkpoints" if (folder / "checkpoints").is_dir() else folder
    found = sorted(folder.glob("best-*.ckpt"))
    if not found:
        raise T2TUserError(f"no best-<step>.ckpt in {folder}: a run keeps one from its first validation on (by"
                           " early_stopping.monitor, default eval/loss); pass ckpt_path=<a .ckpt file> instead")
    if len(found) == 1:
        return found[0]
    recorded = recorded_best(folder / "last.ckpt")
    match = [p for p in found if recorded is not None and p.name == recorded.name]
    if not match:
        raise T2TUserError(f"{folder} holds {len(found)} best-*.ckpt files ({', '.join(p.name for p in found)}) and"
                           " no last.ckpt that names one of them: pass ckpt_path=<the one you mean>")
    return match[0]


def folder_message(path: Path, key: str | None) -> str:
    """What to pass instead of the folder `path`: its run's last.ckpt or best, by their paths when it is a run."""
    setting = f"{key}=" if key else ""
    if path.name == "checkpoints" or (path / "last.ckpt").is_file():
        last, best = path / "last.ckpt", path / BEST
    elif (path / "checkpoints").is_dir():
        last, best = path / "checkpoints" / "last.ckpt", path / BEST
    else:
        last, best = Path("<run dir>/checkpoints/last.ckpt"), Path(f"<run dir>/{BEST}")
    return (f"checkpoint '{path}' is a folder, not a checkpoint file: pass {setting}{last} (the run's last weights)"
            f" or {setting}{best} (its best checkpoint)")


def recorded_best(last: Path) -> Path | None:
    """The best_model_path the ModelCheckpoint state of `last` records, if any."""
    if not (last.is_file() or is_sharded_checkpoint(last)):
        return None
    return CheckpointRecord.load(last).best_model_path
