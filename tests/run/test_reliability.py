"""Checkpoints are atomic and load with weights_only=True; SIGTERM saves and a relaunch resumes; a NaN loss stops
the run naming the step and the first module that produced it."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import pytest
import torch

from t2t_torch.callbacks.nonfinite_loss_guard import NonFiniteLossError, first_nonfinite_module
from t2t_torch.checkpoints.atomic_io import AtomicCheckpointIO, load_checkpoint_file
from t2t_torch.errors import T2TUserError
from t2t_torch.run.train import train
from tests.fixtures.helpers import compose, tiny

REPO = Path(__file__).resolve().parents[2]


def test_atomic_save_keeps_previous_file_when_interrupted(tmp_path, monkeypatch):
    io = AtomicCheckpointIO()
    target = tmp_path / "last.ckpt"
    io.save_checkpoint({"step": 1, "w": torch.ones(3)}, target)

    def exploding_save(obj, file, *args, **kwargs):
        file.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", exploding_save)
    with pytest.raises(KeyboardInterrupt):
        io.save_checkpoint({"step": 2}, target)
    monkeypatch.undo()
    assert io.load_checkpoint(target)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no temporary file left behind


def test_load_refuses_pickled_code_and_truncated_files(tmp_path):
    evil = tmp_path / "evil.ckpt"
    torch.save({"fn": print}, evil)
    with pytest.raises(T2TUserError, match="cannot read checkpoint"):
        load_checkpoint_file(evil)
    good = tmp_path / "good.ckpt"
    torch.save({"w": torch.ones(100)}, good)
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(T2TUserError, match="truncated.ckpt"):
        load_checkpoint_file(truncated)


def test_nan_loss_names_step_and_module(tmp_path, monkeypatch):
    from t2t_torch.models import transformer

    original = transformer.FeedForward.forward

    def poisoned(self, x):
        return original(self, x) * float("nan")

    monkeypatch.setattr(transformer.FeedForward, "forward", poisoned)
    with pytest.raises(NonFiniteLossError) as error:
        train(compose(tiny(), tmp_path))
    message = str(error.value)
    assert "at step" in message and "encoder.0.ffn" in message and "\n" not in message


class PoisonGradient(L.Callback):
    """After backward at `step`, one gradient element becomes NaN while the loss stayed finite (an overflow)."""

    def __init__(self, step):
        self.step = step

    def on_after_backward(self, trainer, pl_module):
        if trainer.global_step == self.step:
            name, parameter = next((n, p) for n, p in pl_module.named_parameters() if "decoder" in n)
            self.name = name
            parameter.grad.view(-1)[0] = float("nan")


def test_nonfinite_gradient_stops_before_the_step_and_no_checkpoint_holds_it(tmp_path, monkeypatch):
    import t2t_torch.run.train as train_module

    poison = PoisonGradient(step=3)
    monkeypatch.setattr(train_module, "decode_eval_callbacks", lambda cfg: [poison])
    with pytest.raises(NonFiniteLossError) as error:
        train(compose(tiny(["trainer.val_check_interval=2"]), tmp_path))
    message = str(error.value)
    assert f"the gradient of '{poison.name}'" in message and "at step 3" in message and "\n" not in message
    for ckpt in (tmp_path / "run" / "checkpoints").glob("*.ckpt"):  # the step-2 checkpoints, all finite
        state = load_checkpoint_file(ckpt)["state_dict"]
        assert all(torch.isfinite(t).all() for t in state.values() if t.is_floating_point()), ckpt


def test_a_checkpoint_with_nonfinite_weights_is_never_written(tmp_path):
    from t2t_torch.callbacks.nonfinite_loss_guard import NonFiniteLossGuard

    target = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"global_step": 1, "state_dict": {"w": torch.ones(2)}}, target)
    poisoned = {"global_step": 2, "state_dict": {"w": torch.tensor([1.0, float("inf")]), "step": torch.tensor(2)}}
    with pytest.raises(NonFiniteLossError, match="refusing to write a checkpoint at step 2: weight 'w'"):
        NonFiniteLossGuard().on_save_checkpoint(None, None, poisoned)  # runs before the file is written
    assert load_checkpoint_file(target)["global_step"] == 1


def test_first_nonfinite_module_finds_the_culprit():
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.first, self.second = torch.nn.Linear(2, 2), torch.nn.Linear(2, 1)

        def forward(self, batch):
            return self.second(self.first(batch["x"]))

    net = Net()
    with torch.no_grad():
        net.second.weight.fill_(float("inf"))
    assert first_nonfinite_module(net, {"x": torch.ones(1, 2)}) == "second"


def test_sigterm_saves_checkpoint_and_relaunch_resumes(tmp_path):
    args = [sys.executable, str(REPO / "train.py"), *tiny(["trainer.max_steps=600", "trainer.val_check_interval=1000",
            "trainer.limit_val_batches=1", "problem.train_size=2000", f"data_dir={tmp_path}/data",
            "hydra.run.dir=run"])]
    process = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    started = tmp_path / "run" / "csv"
    deadline = time.time() + 120
    while time.time() < deadline and not started.exists():
        time.sleep(0.2)
    time.sleep(1)  # let it train a few steps
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 143, output[-3000:]  # StoppedBySignal.EXIT_STATUS: a preempted, resumable run
    assert "stopped by SIGTERM at step" in output and "run the same command again to resume" in output
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    stopped_at = load_checkpoint_file(ckpt)["global_step"]
    assert 0 < stopped_at < 600, output[-2000:]
    relaunch = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert relaunch.returncode == 0, relaunch.stderr[-3000:]
    assert "Resuming from" in relaunch.stdout + relaunch.stderr
    assert load_checkpoint_file(ckpt)["global_step"] == 600
