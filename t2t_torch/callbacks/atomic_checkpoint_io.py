"""Checkpoint IO that never leaves a half-written checkpoint and loads with `weights_only=True`.

Saving writes to a temporary file in the same folder, fsyncs it and renames it over the target (atomic on POSIX),
so a crash or SIGKILL mid-save leaves the previous `last.ckpt` intact. Loading refuses pickled code: checkpoints
hold only tensors and plain containers (the run config is stored as plain dicts).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from t2t_torch.errors import T2TUserError


class AtomicCheckpointIO(TorchCheckpointIO):
    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any = None) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO takes no storage_options")
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(handle, "wb") as file:
                torch.save(checkpoint, file)
                file.flush()
                os.fsync(file.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def load_checkpoint(self, path: str | os.PathLike, map_location: Any = None, weights_only: bool | None = None) -> dict[str, Any]:
        return load_checkpoint_file(path, map_location)


def load_checkpoint_file(path: str | os.PathLike, map_location: Any = "cpu", mmap: bool = False) -> dict[str, Any]:
    """torch.load with weights_only=True and one-line errors for a missing or unreadable file (`mmap`: map the
    tensors instead of reading them, cheap when only a few fields are needed)."""
    path = Path(path)
    if not path.is_file():
        raise T2TUserError(f"checkpoint '{path}' does not exist: pass ckpt_path=<a .ckpt file of a run>")
    try:
        return torch.load(path, map_location=map_location or "cpu", weights_only=True, mmap=mmap)
    except Exception as error:  # torch raises several types for truncated or foreign files
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise T2TUserError(f"cannot read checkpoint '{path}' ({first_line}): pass another checkpoint") from error
