"""Checkpoint IO that never leaves a half-written checkpoint and loads with `weights_only=True`.

Saving writes to a temporary file in the same folder (`.<name>.<host>.<pid>.<random>.tmp`, created with the usual
file mode, so the umask applies), fsyncs it and renames it over the target (atomic on POSIX), so a crash or SIGKILL
mid-save leaves the previous checkpoint intact. A failed save removes its temporary file; one left by a process
that was killed is removed by the next save of the same target on the same host once that process is gone. A full
disk or another OS error while writing is one line naming the file.

Loading refuses pickled code: checkpoints hold only tensors and plain containers (the run config is stored as plain
dicts). A file that is not a checkpoint is one line that says what it is, never torch's advice to load it unsafely.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import socket
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from t2t_torch.errors import T2TUserError

ZIP_MAGIC = b"PK\x03\x04"  # torch.save writes a zip archive


class AtomicCheckpointIO(TorchCheckpointIO):
    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any = None) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO takes no storage_options")
        target = Path(path)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise _write_error(target, error) from error
        remove_stale_temporaries(target)
        tmp = target.with_name(f".{target.name}.{_host()}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            # os.open with 0o666 lets the umask decide the mode, as for any file the user writes (mkstemp: 0600).
            with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb") as file:
                torch.save(checkpoint, file)
                file.flush()
                os.fsync(file.fileno())
            os.replace(tmp, target)
            _fsync_folder(target.parent)
        except BaseException as error:
            tmp.unlink(missing_ok=True)
            cause = _os_error_in(error)
            if cause is not None:  # torch wraps a failed write in a RuntimeError; the OSError is its context
                raise _write_error(target, cause) from error
            raise

    def load_checkpoint(
        self, path: str | os.PathLike, map_location: Any = None, weights_only: bool | None = None
    ) -> dict[str, Any]:
        return load_checkpoint_file(path, map_location)


def remove_stale_temporaries(target: Path) -> list[Path]:
    """Remove the temporary files of `target` left by processes of this host that no longer run (a SIGKILL
    mid-save); files of live processes and of other hosts (a shared filesystem) are kept. Returns the removed."""
    pattern = re.compile(rf"\.{re.escape(target.name)}\.(?P<host>[A-Za-z0-9-]+)\.(?P<pid>\d+)\.[0-9a-f]+\.tmp")
    removed = []
    for candidate in target.parent.glob(f".{target.name}.*.tmp"):
        match = pattern.fullmatch(candidate.name)
        if match and match["host"] == _host() and not _process_exists(int(match["pid"])):
            candidate.unlink(missing_ok=True)
            removed.append(candidate)
    return removed


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable (the folder entry), where the platform allows opening a folder."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:  # some filesystems refuse fsync on a folder; the file itself is already synced
        pass
    finally:
        os.close(handle)


def _os_error_in(error: BaseException) -> OSError | None:
    """The OSError that caused `error` (itself, or along its cause/context chain), else None."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, OSError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _write_error(target: Path, error: OSError) -> T2TUserError:
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return T2TUserError(f"cannot write checkpoint '{target}': no space left on device (the previous checkpoint"
                            " is kept): free some space or pass another output_dir")
    reason = error.strerror or type(error).__name__
    return T2TUserError(f"cannot write checkpoint '{target}' ({reason}): pass an output_dir you can write to")


def load_checkpoint_file(path: str | os.PathLike, map_location: Any = "cpu", mmap: bool = False) -> dict[str, Any]:
    """torch.load with weights_only=True and one-line errors for a missing, foreign or unreadable file or one
    that holds something other than a checkpoint dictionary (`mmap`: map the tensors instead of reading them,
    cheap when only a few fields are needed)."""
    path = Path(path)
    if not path.is_file():
        raise T2TUserError(f"checkpoint '{path}' does not exist: pass ckpt_path=<a .ckpt file of a run>")
    fix = "pass a .ckpt file written by t2t-train"
    try:
        with open(path, "rb") as handle:
            is_zip = handle.read(len(ZIP_MAGIC)) == ZIP_MAGIC
    except OSError as error:
        raise T2TUserError(f"cannot read checkpoint '{path}' ({error.strerror or error}): {fix}") from error
    if not is_zip:
        raise T2TUserError(f"cannot read checkpoint '{path}': it is not a file written by torch.save: {fix}")
    try:
        loaded = torch.load(path, map_location=map_location or "cpu", weights_only=True, mmap=mmap)
    except Exception as error:  # torch's messages suggest unsafe loading: say what the file is instead
        if "weights only load failed" in str(error).lower():
            what = "it holds Python objects other than tensors and plain containers (not loaded: they could run code)" \
                   " or is corrupt"
        else:
            what = f"it is truncated or corrupt ({type(error).__name__})"
        raise T2TUserError(f"cannot read checkpoint '{path}': {what}: {fix}") from error
    if not isinstance(loaded, dict):
        raise T2TUserError(f"cannot read checkpoint '{path}': it holds a {type(loaded).__name__}, not a checkpoint"
                           f" dictionary: {fix}")
    return loaded
