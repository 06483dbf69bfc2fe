"""Check, before any work is done, that an output file or folder can be written there.

A bad output path should cost one line naming the setting to change, not a traceback after training or decoding
has run. Nothing is left behind here: the check walks up to the nearest existing folder. A path under a regular
file fails for every user, root included; a folder without write permission fails for everyone but root. Where a
folder would have to be created, a probe folder is made in the nearest existing one and removed at once: the
permission bits do not tell everything (root may write anywhere by them, yet /proc, /sys or a full quota take no
new folder, and Hydra would fail with a traceback making the run directory).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from t2t_torch.errors import T2TUserError


def nearest_existing(path: Path) -> Path:
    """`path` itself if it exists, else its closest existing parent (a relative path ends at '.')."""
    return next((p for p in (path, *path.parents) if p.exists()), Path("."))


def check_output_folder(path: str | Path, setting: str) -> Path:
    """`path` as a Path; a one-line error naming `setting` unless a folder exists there or can be created there."""
    path = Path(path).expanduser()
    _check_creatable(path, path, setting, f"pass another {setting}=<folder>")
    return path


def check_output_file(path: str | Path, setting: str) -> Path:
    """`path` as a Path; a one-line error naming `setting` if it is a folder or its folder cannot be made."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise T2TUserError(f"{setting} '{path}' is a folder: pass {setting}=<a file path>")
    _check_creatable(path.parent, path, setting, f"pass another {setting}=<file>")
    return path


def _check_creatable(folder: Path, shown: Path, setting: str, fix: str) -> None:
    existing = nearest_existing(folder)
    if not existing.is_dir():
        where = "is a file" if existing == shown else f"lies under the file '{existing}'"
        raise T2TUserError(f"{setting} '{shown}' {where}: {fix}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise T2TUserError(f"{setting} '{shown}' cannot be written ('{existing}' is not writable): {fix}")
    if existing != folder:  # a folder will be made in `existing`: try it
        try:
            os.rmdir(tempfile.mkdtemp(prefix=".t2t-probe-", dir=existing))
        except OSError as error:
            raise T2TUserError(f"{setting} '{shown}' cannot be created ('{existing}' takes no new folder:"
                               f" {error.strerror or error}): {fix}") from None


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name one file: equal once resolved (symbolic links), or the same inode (hard links)."""
    a, b = Path(a).expanduser(), Path(b).expanduser()
    if a.resolve() == b.resolve():
        return True
    return a.exists() and b.exists() and os.path.samefile(a, b)
