"""User-facing errors: one clear line that names the fix.

Every error a user can cause (a misspelt name, a missing file, a corrupt cache, a bad override) is raised as a
`T2TUserError`; the command-line entry points print its message on one line and exit with status 2 instead of
showing a traceback. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class T2TUserError(Exception):
    """An error caused by input the user can fix; its message is a single line that says how."""


class UnknownNameError(T2TUserError, KeyError):
    """A registry lookup of a name that is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def close_matches(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """The registered names closest to `name` (difflib ratio), best first."""
    return difflib.get_close_matches(name, list(candidates), n=n, cutoff=0.5)


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """' Did you mean: a, b?' or '' when nothing is close."""
    matches = close_matches(name, candidates)
    return f" Did you mean: {', '.join(matches)}?" if matches else ""


class StoppedBySignal(Exception):
    """Training stopped on SIGTERM (preemption, `kill`) or SIGINT (Ctrl-C) after saving `last.ckpt`. The CLI exits
    with `exit_status`, 128 + the signal's number as shells report it (143 for SIGTERM, 130 for SIGINT), so that
    schedulers and scripts can tell an interrupted, resumable run from a finished one."""

    EXIT_STATUS = 143  # SIGTERM's, the status a preempted run reports
    EXIT_STATUSES = {"SIGTERM": 143, "SIGINT": 130}

    def __init__(self, step: int, checkpoint: str, signal_name: str = "SIGTERM") -> None:
        super().__init__(step, checkpoint, signal_name)  # the arguments, so that it pickles (launchers ship it)
        self.step = step
        self.checkpoint = checkpoint
        self.signal_name = signal_name

    @property
    def exit_status(self) -> int:
        return self.EXIT_STATUSES.get(self.signal_name, self.EXIT_STATUS)

    def __str__(self) -> str:
        return (f"stopped by {self.signal_name} at step {self.step}; saved {self.checkpoint}: run the same command"
                " again to resume")
