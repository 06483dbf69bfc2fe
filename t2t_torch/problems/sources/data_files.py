"""The `problem.data_files={root: <path>}` setting of problems that read one local folder instead of downloading
(MNIST, CIFAR, LibriSpeech, Common Voice): the shared reading of that knob, with a one-line error for any other form."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from t2t_torch.errors import T2TUserError


def data_files_root(problem: Any, what: str) -> Path | None:
    """The path of `problem.data_files` given as `{root: <path>}` (or the bare path); None when it is unset (the
    problem downloads); a one-line error describing `what` the root must be otherwise."""
    files = problem.data_files
    if files is None:
        return None
    if isinstance(files, Mapping) and set(files) == {"root"}:
        files = files["root"]
    if not isinstance(files, (str, Path)):
        raise T2TUserError(f"problem.data_files of {problem.name} must be {{root: <{what}>}}, got {files!r}")
    return Path(files).expanduser()
