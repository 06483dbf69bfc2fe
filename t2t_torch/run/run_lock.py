"""An exclusive lock on a run directory, so that the same command started twice never trains twice into one folder.

`train()` holds `<run dir>/.lock` with `fcntl.flock` while it runs (only the process of global rank 0; the other
ranks of a job share its directory). A second process gets one line naming the holder's PID, host and start time.
The kernel drops a flock when its process dies, however it dies (SIGKILL included), so a lock left by a dead
process is simply taken over; the file's content (PID, host, time) only serves the message, and a takeover says
whose lock it was. A filesystem without flock support (some network mounts) runs unlocked, with a warning.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import socket
import time
from pathlib import Path
from types import TracebackType

from t2t_torch.errors import T2TUserError

log = logging.getLogger(__name__)

LOCK_NAME = ".lock"


class RunLock:
    def __init__(self, run_dir: str | os.PathLike) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.release()

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            holder = _read_holder(fd)
            os.close(fd)
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise T2TUserError(f"run directory '{self.run_dir}' is in use by another training process"
                                   f" ({_describe(holder)}): wait for it to end or stop it, or pass"
                                   " hydra.run.dir=<another folder>") from None
            log.warning("Cannot lock %s (%s): running without a lock; do not start this run twice at once",
                        self.path, error.strerror or error)
            return
        previous = _read_holder(fd)
        if previous.get("pid") not in (None, os.getpid()):
            log.info("Took over the lock of %s: the process that held it (%s) has ended", self.run_dir,
                     _describe(previous))
        record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                             "started": time.strftime("%Y-%m-%d %H:%M:%S")}).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, record, 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _read_holder(fd: int) -> dict:
    try:
        holder = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def _describe(holder: dict) -> str:
    if not holder:
        return "PID unknown"
    return f"PID {holder.get('pid')} on {holder.get('host')}, started {holder.get('started')}"
