"""Checkpoint files: a save killed with SIGKILL or stopped by a full disk keeps the previous checkpoint and leaves no
partial target; checkpoints get the usual file mode; a file that is not a checkpoint is one line that never
suggests loading it unsafely."""

from __future__ import annotations

import errno
import io
import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from t2t_torch.checkpoints import atomic_io as atomic_checkpoint_io
from t2t_torch.checkpoints.atomic_io import AtomicCheckpointIO, load_checkpoint_file
from t2t_torch.errors import T2TUserError
from t2t_torch.inference.predictor import Predictor

# A child that starts saving step 2 over the target, writes half the bytes, tells the parent on stdout and waits
# (on a stdin the parent never writes to) to be killed mid-save.
SAVING_CHILD = """
import io, sys, torch
from t2t_torch.checkpoints.atomic_io import AtomicCheckpointIO
real_save = torch.save
def save_half_then_wait(obj, file, *args, **kwargs):
    buffer = io.BytesIO()
    real_save(obj, buffer, *args, **kwargs)
    data = buffer.getvalue()
    file.write(data[: len(data) // 2])
    file.flush()
    print("writing", flush=True)
    sys.stdin.read()
    file.write(data[len(data) // 2 :])
torch.save = save_half_then_wait
AtomicCheckpointIO().save_checkpoint({"step": 2, "w": torch.zeros(4096)}, sys.argv[1])
"""


def save(target: Path, step: int) -> None:
    AtomicCheckpointIO().save_checkpoint({"step": step, "w": torch.full((64,), float(step))}, target)


def test_sigkill_mid_save_keeps_the_previous_checkpoint_and_the_next_save_cleans_up(tmp_path):
    target = tmp_path / "last.ckpt"
    save(target, 1)
    child = subprocess.Popen([sys.executable, "-c", SAVING_CHILD, str(target)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        line = child.stdout.readline()
        assert line == "writing\n", child.communicate()[1]
        partial = list(tmp_path.glob(".last.ckpt.*.tmp"))
        assert len(partial) == 1 and partial[0].stat().st_size > 0  # the child is mid-write
        child.send_signal(signal.SIGKILL)
        assert child.wait() == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert load_checkpoint_file(target)["step"] == 1  # the target was never replaced by a partial file
    assert partial[0].exists()  # a killed process cannot clean up after itself
    save(target, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]  # the next save removed the leftover
    assert load_checkpoint_file(target)["step"] == 3


def test_temporaries_of_live_processes_and_other_hosts_are_kept(tmp_path):
    target = tmp_path / "last.ckpt"
    host = atomic_checkpoint_io._host()
    live = tmp_path / f".last.ckpt.{host}.{os.getppid()}.0123abcd.tmp"  # the parent of this test process runs
    elsewhere = tmp_path / ".last.ckpt.another-host.1.0123abcd.tmp"  # a shared filesystem: not ours to judge
    other_target = tmp_path / f".best.ckpt.{host}.999999999.0123abcd.tmp"
    for path in (live, elsewhere, other_target):
        path.write_bytes(b"partial")
    save(target, 1)
    assert all(p.exists() for p in (live, elsewhere, other_target))


class FullDisk(io.FileIO):
    """A file on a disk that fills up after 1000 bytes."""

    def write(self, data) -> int:
        if self.tell() + len(data) > 1000:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super().write(data)


def test_full_disk_is_one_line_keeps_the_previous_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "last.ckpt"
    save(target, 1)
    # The real torch.save writing into a file whose write fails part-way, as on a full disk: torch wraps the
    # OSError in a RuntimeError.
    monkeypatch.setattr(atomic_checkpoint_io.os, "fdopen", lambda fd, mode: FullDisk(fd, mode))
    with pytest.raises(T2TUserError) as error:
        AtomicCheckpointIO().save_checkpoint({"step": 2, "w": torch.zeros(10_000)}, target)
    monkeypatch.undo()
    message = str(error.value)
    assert "\n" not in message and str(target) in message and "no space left" in message
    assert load_checkpoint_file(target)["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


def test_oserror_raised_directly_by_the_writer_is_one_line(tmp_path, monkeypatch):
    target = tmp_path / "last.ckpt"
    save(target, 1)

    def write_part_then_fail(obj, file, *args, **kwargs):
        file.write(b"PK\x03\x04partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torch, "save", write_part_then_fail)
    with pytest.raises(T2TUserError, match="no space left"):
        AtomicCheckpointIO().save_checkpoint({"step": 2}, target)
    monkeypatch.undo()
    assert load_checkpoint_file(target)["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640)])
def test_checkpoints_get_the_usual_file_mode(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        save(tmp_path / "last.ckpt", 1)
    finally:
        os.umask(previous)
    assert (tmp_path / "last.ckpt").stat().st_mode & 0o777 == mode


def test_an_unwritable_folder_is_one_line(tmp_path):
    (tmp_path / "file").write_text("a regular file")
    target = tmp_path / "file" / "run" / "last.ckpt"  # fails for root too
    with pytest.raises(T2TUserError) as error:
        save(target, 1)
    assert "\n" not in str(error.value) and str(target) in str(error.value)


def _write(path: Path, kind: str) -> None:
    if kind == "tensor":
        torch.save(torch.ones(3), path)
    elif kind == "list":
        torch.save([1, 2, 3], path)
    elif kind == "pickled code":
        torch.save({"fn": print}, path)
    elif kind == "plain pickle":
        path.write_bytes(pickle.dumps({"state_dict": {}}))
    elif kind == "random bytes":
        path.write_bytes(bytes(range(256)) * 8)
    elif kind == "text":
        path.write_text("not a checkpoint\n")
    elif kind == "empty":
        path.write_bytes(b"")
    else:  # truncated
        torch.save({"w": torch.ones(100)}, path)
        path.write_bytes(path.read_bytes()[:200])


@pytest.mark.parametrize(("kind", "needle"), [
    ("tensor", "holds a Tensor, not a checkpoint dictionary"),
    ("list", "holds a list, not a checkpoint dictionary"),
    ("pickled code", "other than tensors"),
    ("plain pickle", "not a file written by torch.save"),
    ("random bytes", "not a file written by torch.save"),
    ("text", "not a file written by torch.save"),
    ("empty", "not a file written by torch.save"),
    ("truncated", "truncated or corrupt"),
])
@pytest.mark.parametrize("mmap", [False, True])
def test_a_file_that_is_not_a_checkpoint_is_one_line_without_unsafe_advice(tmp_path, kind, needle, mmap):
    path = tmp_path / "model.ckpt"
    _write(path, kind)
    with pytest.raises(T2TUserError) as error:
        load_checkpoint_file(path, mmap=mmap)
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"cannot read checkpoint '{path}'") and needle in message
    assert "weights_only" not in message.lower()


def test_checkpoint_without_a_problem_spec_is_one_line(tmp_path):
    """Checkpoints written before the modality redesign record `problem_info`, not a spec: decoding, resuming and
    averaging them would build another network, so they are refused in one line (they are not converted)."""
    path = tmp_path / "old.ckpt"
    hyper_parameters = {"model_name": "transformer", "model_hparams": {"hidden_size": 8},
                        "problem_name": "algorithmic_identity_binary40", "run_config": {},
                        "problem_info": {"target_vocab_size": 4, "input_vocab_size": 4}}
    torch.save({"state_dict": {}, "global_step": 1, "hyper_parameters": hyper_parameters}, path)
    with pytest.raises(T2TUserError, match=r"written by an older t2t-torch .* retrain it") as error:
        Predictor.from_checkpoint(path)
    assert "\n" not in str(error.value)
