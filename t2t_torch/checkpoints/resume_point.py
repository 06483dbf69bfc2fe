"""Where a run resumes: the newest valid checkpoint of its `checkpoints/` folder, by the step recorded inside.

A run directory holds `last.ckpt` (written at every validation, at the last step and on SIGTERM/SIGINT),
`best-<step>.ckpt` and, with `keep_checkpoint_max`, `step-<step>.ckpt`; folders written by t2t-torch before the
single `last.ckpt` writer may also hold `last-v<N>.ckpt`, sometimes newer than `last.ckpt`. All of them are full
training states. A relaunch takes the one with the highest `global_step` that loads and holds a resumable state
(optimizer and loop states); at equal steps `last.ckpt` wins (it records the best checkpoint chosen at that step).
An unreadable file is skipped, and named, rather than stopping the run when an older valid one exists — so a
SIGKILL mid-write (the atomic write keeps the previous file anyway), a truncated copy or a full disk never costs
more than the steps after the newest valid file. T2T's equivalent was `tf.train.latest_checkpoint`, which trusts
the `checkpoint` index file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from t2t_torch.checkpoints.atomic_io import load_checkpoint_file
from t2t_torch.errors import T2TUserError

LAST = "last.ckpt"
PATTERNS = (LAST, "last-v*.ckpt", "best-*.ckpt", "step-*.ckpt")
RESUMABLE_KEYS = ("global_step", "state_dict", "optimizer_states", "loops")


@dataclass(frozen=True)
class ResumePoint:
    """The checkpoint to resume from (`path`, `step`; None when the folder holds no valid one) and the files skipped
    as unreadable or not resumable (`skipped`: path -> reason)."""

    path: Path | None
    step: int | None
    skipped: dict[Path, str] = field(default_factory=dict)
    last_step: int | None = None  # what last.ckpt holds, when it is valid

    def describe_choice(self) -> str | None:
        """One line when the choice is not plain `last.ckpt`, saying why; None otherwise."""
        if self.path is None or (self.path.name == LAST and not self.skipped):
            return None
        parts = [f"resuming from {self.path.name} (step {self.step})"]
        if self.last_step is not None and self.path.name != LAST:
            parts.append(f"newer than last.ckpt (step {self.last_step})")
        parts += [f"skipped {path.name}: {reason}" for path, reason in self.skipped.items()]
        return "; ".join(parts)


def candidates(folder: Path) -> list[Path]:
    """The run's checkpoint files, each once."""
    found: dict[Path, None] = {}
    for pattern in PATTERNS:
        for path in sorted(folder.glob(pattern)):
            if path.is_file():
                found[path] = None
    return list(found)


def _priority(path: Path) -> int:
    """At equal steps: last.ckpt, then best-/step- files, then an older version's last-v<N>.ckpt."""
    return 0 if path.name == LAST else 2 if path.name.startswith("last-v") else 1


def _read_step(path: Path) -> int:
    """The global step a resumable checkpoint records; T2TUserError when it cannot be read or resumed."""
    checkpoint = load_checkpoint_file(path, mmap=True)
    missing = [key for key in RESUMABLE_KEYS if key not in checkpoint]
    if missing:
        raise T2TUserError(f"it holds no training state ({', '.join(missing)} missing)")
    return int(checkpoint["global_step"])


def find_resume_point(folder: Path) -> ResumePoint:
    """The newest valid checkpoint of `folder` (see the module docstring)."""
    steps: dict[Path, int] = {}
    skipped: dict[Path, str] = {}
    for path in candidates(folder):
        try:
            steps[path] = _read_step(path)
        except T2TUserError as error:
            skipped[path] = _reason(str(error), path)
    if not steps:
        return ResumePoint(None, None, skipped)
    best = min(steps, key=lambda p: (-steps[p], _priority(p), p.name))
    return ResumePoint(best, steps[best], skipped, steps.get(folder / LAST))


def _reason(message: str, path: Path) -> str:
    """The part of a load error that says what is wrong with the file, without its advice."""
    prefix = f"cannot read checkpoint '{path}': "
    text = message[len(prefix):] if message.startswith(prefix) else message
    return text.split(": pass ")[0]
