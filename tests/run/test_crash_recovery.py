"""Crash recovery never loses steps: fault sequences with real signals (SIGINT, SIGTERM, SIGKILL, a SIGKILL in the
middle of a checkpoint write) against the real entry point, and the run-directory lock. Each rerun must resume from
the newest checkpoint of the run, and no `-v<N>` file is ever written (a resume would not read it).

The subprocess runs pause at a known step (fixtures/fault_train.py) so the signal lands there; a stopwatch would be
flaky."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import pytest

import t2t_torch.run.train as train_module
from t2t_torch.checkpoints.atomic_io import load_checkpoint_file
from t2t_torch.checkpoints.resume_point import find_resume_point
from t2t_torch.errors import StoppedBySignal, T2TUserError
from t2t_torch.run.run_lock import RunLock
from t2t_torch.run.train import train
from tests.fixtures.helpers import compose, tiny

FAULT_TRAIN = Path(__file__).resolve().parents[1] / "fixtures" / "fault_train.py"
RUN_ARGS = ["trainer.val_check_interval=10", "trainer.limit_val_batches=1", "problem.train_size=2000",
            "hydra.run.dir=run"]


class Run:
    """One `t2t-train` process of a sequence, in `folder`, with an optional fault point."""

    def __init__(self, folder: Path, max_steps: int, **fault: str) -> None:
        self.folder, self.marker = folder, folder / f"paused-{time.monotonic_ns()}"
        env = {**os.environ, "FAULT_MARKER": str(self.marker), **{f"FAULT_{k.upper()}": v for k, v in fault.items()}}
        args = [sys.executable, str(FAULT_TRAIN), *tiny([*RUN_ARGS, f"trainer.max_steps={max_steps}",
                                                         f"data_dir={folder / 'data'}"])]
        self.process = subprocess.Popen(args, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True)

    def wait_for(self, path: Path, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while not path.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{path.name} never appeared:\n{self.finish()[-3000:]}")
            time.sleep(0.02)

    def paused(self) -> "Run":
        self.wait_for(self.marker)
        return self

    def send(self, signum: int) -> None:
        self.process.send_signal(signum)

    def finish(self, timeout: float = 240) -> str:
        output, _ = self.process.communicate(timeout=timeout)
        return output


def checkpoints(folder: Path) -> Path:
    return folder / "run" / "checkpoints"


def step_of(path: Path) -> int:
    return load_checkpoint_file(path, mmap=True)["global_step"]


def assert_one_writer(folder: Path) -> None:
    names = sorted(p.name for p in checkpoints(folder).glob("*.ckpt"))
    assert not [n for n in names if "-v" in n], names  # Lightning's version counter never fires
    assert len([n for n in names if n.startswith("best-")]) == 1, names


def test_sigint_then_sigterm_then_sigkill_each_rerun_resumes_from_the_newest_step(tmp_path):
    # Ctrl-C at step 5: last.ckpt saved, one line, exit 130.
    run = Run(tmp_path, 30, pause_step="5").paused()
    run.send(signal.SIGINT)
    output = run.finish()
    assert run.process.returncode == 130, output[-3000:]
    assert "stopped by SIGINT at step 5" in output and "Traceback" not in output
    assert step_of(checkpoints(tmp_path) / "last.ckpt") == 5

    # Rerun, SIGTERM at step 15 (after the validation at 10): exit 143.
    run = Run(tmp_path, 30, pause_step="15").paused()
    run.send(signal.SIGTERM)
    output = run.finish()
    assert run.process.returncode == 143, output[-3000:]
    assert "training from step 5" in output and "stopped by SIGTERM at step 15" in output
    assert step_of(checkpoints(tmp_path) / "last.ckpt") == 15

    # Rerun, SIGKILL at step 25: the validation at 20 saved last.ckpt, so nothing before step 20 is lost.
    run = Run(tmp_path, 30, pause_step="25").paused()
    # Meanwhile the same command again: the run directory is locked, one line naming the first process.
    second = Run(tmp_path, 30)
    output = second.finish()
    assert second.process.returncode == 2, output[-3000:]
    assert f"is in use by another training process (PID {run.process.pid} on" in output
    assert "Traceback" not in output and "training from step" not in output
    run.process.kill()
    run.finish()
    assert step_of(checkpoints(tmp_path) / "last.ckpt") == 20
    assert_one_writer(tmp_path)

    # Rerun to the end: from step 20, the lock of the killed process taken over.
    run = Run(tmp_path, 30)
    output = run.finish()
    assert run.process.returncode == 0, output[-3000:]
    assert "training from step 20" in output
    assert step_of(checkpoints(tmp_path) / "last.ckpt") == 30
    assert_one_writer(tmp_path)


def test_finish_extend_then_sigkill_in_the_middle_of_a_checkpoint_write(tmp_path):
    run = Run(tmp_path, 20)
    output = run.finish()
    assert run.process.returncode == 0, output[-3000:]
    assert step_of(checkpoints(tmp_path) / "last.ckpt") == 20

    # Extended to 40; at step 35 a SIGTERM starts a save, and a SIGKILL lands while its file is half written.
    run = Run(tmp_path, 40, pause_step="35", slow_save_step="35").paused()
    run.send(signal.SIGTERM)
    run.wait_for(Path(f"{run.marker}.saving"))
    temporaries = list(checkpoints(tmp_path).glob(".last.ckpt.*.tmp"))
    assert temporaries, sorted(p.name for p in checkpoints(tmp_path).iterdir())
    run.process.kill()
    run.finish()
    assert step_of(checkpoints(tmp_path) / "last.ckpt") == 30  # the validation at 30; the killed write left it whole
    assert_one_writer(tmp_path)

    run = Run(tmp_path, 40)
    output = run.finish()
    assert run.process.returncode == 0, output[-3000:]
    assert "training from step 30" in output
    assert step_of(checkpoints(tmp_path) / "last.ckpt") == 40
    assert not list(checkpoints(tmp_path).glob(".*.tmp"))  # the killed write's temporary file was removed
    assert_one_writer(tmp_path)


class SigtermInValidation(L.Callback):
    """SIGTERM to this process inside the first validation (not the sanity check), in its first batch of two."""

    def __init__(self):
        self.sent = False

    def on_validation_batch_end(self, trainer, *args):
        if not self.sent and not trainer.sanity_checking:
            self.sent = True
            os.kill(os.getpid(), signal.SIGTERM)


def test_sigterm_during_the_first_validation_then_rerun(tmp_path, monkeypatch):
    overrides = tiny(["trainer.max_steps=8", "trainer.val_check_interval=4", "trainer.limit_val_batches=2"])
    monkeypatch.setattr(train_module, "decode_eval_callbacks", lambda cfg: [SigtermInValidation()])
    with pytest.raises(StoppedBySignal) as stopped:
        train(compose(overrides, tmp_path))
    assert stopped.value.step == 4 and stopped.value.exit_status == 143
    monkeypatch.undo()
    assert step_of(checkpoints(tmp_path) / "last.ckpt") == 4
    train(compose(overrides, tmp_path))
    assert step_of(checkpoints(tmp_path) / "last.ckpt") == 8
    assert_one_writer(tmp_path)


def test_resume_falls_back_to_the_newest_valid_checkpoint_when_last_is_corrupt(tmp_path, caplog):
    overrides = tiny(["trainer.max_steps=8", "trainer.val_check_interval=4", "keep_checkpoint_max=5"])
    train(compose(overrides, tmp_path))
    last = checkpoints(tmp_path) / "last.ckpt"
    last.write_bytes(last.read_bytes()[:300])  # truncated: a disk that filled up, a broken copy
    assert find_resume_point(checkpoints(tmp_path)).step == 8  # step-8.ckpt (and best-*) are still whole
    train(compose([*overrides, "trainer.max_steps=12"], tmp_path))
    assert "resuming from step-8.ckpt (step 8)" in caplog.text and "skipped last.ckpt" in caplog.text
    assert step_of(last) == 12


def test_a_run_whose_checkpoints_are_all_unreadable_says_to_move_them_aside(tmp_path):
    overrides = tiny(["trainer.max_steps=4"])
    train(compose(overrides, tmp_path))
    elsewhere = tmp_path / "elsewhere.ckpt"
    elsewhere.write_bytes((checkpoints(tmp_path) / "last.ckpt").read_bytes())
    for path in checkpoints(tmp_path).glob("*.ckpt"):
        path.write_bytes(b"PK\x03\x04 not a whole checkpoint")
    with pytest.raises(T2TUserError) as error:
        train(compose(overrides, tmp_path))
    message = str(error.value)
    assert "holds no readable checkpoint" in message and "move them aside (mv " in message and "\n" not in message
    with pytest.raises(T2TUserError, match="holds no readable checkpoint"):  # ckpt_path= does not get around it
        train(compose([*overrides, f"ckpt_path={elsewhere}"], tmp_path))


def test_older_versions_last_v1_is_resumed_when_it_is_newer(tmp_path):
    """A run directory left by the two-writer version: last.ckpt at step 4, last-v1.ckpt at step 8."""
    train(compose(tiny(["trainer.max_steps=4"]), tmp_path))
    older = checkpoints(tmp_path) / "last.ckpt"
    (checkpoints(tmp_path) / "keep.ckpt").write_bytes(older.read_bytes())
    train(compose(tiny(["trainer.max_steps=8"]), tmp_path))
    older.rename(checkpoints(tmp_path) / "last-v1.ckpt")
    (checkpoints(tmp_path) / "keep.ckpt").rename(older)
    point = find_resume_point(checkpoints(tmp_path))
    assert (point.path.name, point.step, point.last_step) == ("last-v1.ckpt", 8, 4)


def test_a_locked_run_directory_is_one_line_and_a_stale_lock_is_taken_over(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with RunLock(run_dir):
        with pytest.raises(T2TUserError) as error:
            train(compose(tiny(), tmp_path))
    assert f"in use by another training process (PID {os.getpid()} on" in str(error.value)
    assert not (run_dir / "checkpoints").exists()  # refused before any work
    (run_dir / ".lock").write_text('{"pid": 4194303, "host": "gone", "started": "earlier"}')  # its process ended
    train(compose(tiny(), tmp_path))
    assert step_of(checkpoints(tmp_path) / "last.ckpt") == 4
