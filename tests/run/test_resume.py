"""Resuming from a checkpoint continues exactly: the same losses at every later step, and the same final weights, as
an uninterrupted run (model, optimizer, learning-rate schedule, data position and random generators restored) --
with dropout on, from a checkpoint written at the last training step, at validation time, with gradient
accumulation, and after SIGTERM during training or validation (sent by a callback at a chosen step, so the test is
deterministic)."""

import csv
import os
import signal

import lightning as L
import pytest
import torch
from omegaconf import OmegaConf

import t2t_torch.run.train as train_module
from t2t_torch.checkpoints.atomic_io import load_checkpoint_file
from t2t_torch.errors import StoppedBySignal
from t2t_torch.run.train import train
from tests.fixtures.helpers import compose, tiny

# Dropout stays on (transformer_tiny: 0.1 everywhere), so a resume that lost the random generators would differ.
STEPS = ["trainer.max_steps=12", "trainer.val_check_interval=4", "trainer.log_every_n_steps=1",
         "problem.train_size=120", "hparams.batching.batch_size=48"]
TOLERANCE = 1e-5  # same machine, same kernels: only summation order could differ, and it does not here


def losses(run_dir):
    rows = []
    for path in sorted((run_dir / "csv").glob("version_*/metrics.csv")):
        with open(path) as handle:
            rows += [r for r in csv.DictReader(handle) if r.get("train/loss")]
    return {int(r["step"]): float(r["train/loss"]) for r in rows}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """{overrides: run dir} of uninterrupted 12-step runs, trained once each for the whole module."""
    runs = {}

    def run(extra=()):
        key = tuple(extra)
        if key not in runs:
            tmp = tmp_path_factory.mktemp("full")
            train(compose(tiny([*STEPS, *extra]), tmp))
            runs[key] = tmp / "run"
        return runs[key]

    return run


def assert_same_as(full_dir, resumed_dir, from_step):
    expected, got = losses(full_dir), losses(resumed_dir)
    later = [s for s in expected if s >= from_step]
    assert later and all(abs(expected[s] - got[s]) < TOLERANCE for s in later), \
        [(s, expected[s], got.get(s)) for s in later]
    a = load_checkpoint_file(full_dir / "checkpoints" / "last.ckpt")
    b = load_checkpoint_file(resumed_dir / "checkpoints" / "last.ckpt")
    assert a["global_step"] == b["global_step"] == 12
    for key, value in a["state_dict"].items():
        assert torch.allclose(value, b["state_dict"][key], atol=TOLERANCE), key


@pytest.mark.parametrize("extra", [[], ["trainer.accumulate_grad_batches=2"]], ids=["plain", "grad_accumulation"])
def test_resume_from_the_last_step_equals_uninterrupted(uninterrupted, tmp_path, extra):
    full_dir = uninterrupted(extra)
    # Stop after 6 steps (mid-epoch: an epoch has more than 6 batches), then resume to 12 from last.ckpt.
    train(compose(tiny([*STEPS, *extra, "trainer.max_steps=6"]), tmp_path))
    assert load_checkpoint_file(tmp_path / "run" / "checkpoints" / "last.ckpt")["global_step"] == 6
    train(compose(tiny([*STEPS, *extra]), tmp_path))  # same run dir: resumes from its own last.ckpt
    assert_same_as(full_dir, tmp_path / "run", 6)


def test_resume_from_a_checkpoint_written_at_validation_equals_uninterrupted(uninterrupted, tmp_path):
    full_dir = uninterrupted()
    first = tmp_path / "first"
    train(compose(tiny([*STEPS, "keep_checkpoint_max=5"]), first))
    at_validation = first / "run" / "checkpoints" / "step-8.ckpt"  # written by ModelCheckpoint after validating
    assert load_checkpoint_file(at_validation)["global_step"] == 8
    second = tmp_path / "second"
    train(compose(tiny([*STEPS, f"ckpt_path={at_validation}"]), second))
    assert_same_as(full_dir, second / "run", 8)


class SignalAt(L.Callback):
    """Send this process SIGTERM once: after training step `step`, or inside the validation that follows it."""

    def __init__(self, step, during_validation=False):
        self.step, self.during_validation, self.sent = step, during_validation, False

    def _send(self, trainer):
        if not self.sent and trainer.global_step == self.step:
            self.sent = True
            os.kill(os.getpid(), signal.SIGTERM)

    def on_train_batch_end(self, trainer, *args):
        if not self.during_validation:
            self._send(trainer)

    def on_validation_batch_end(self, trainer, *args):
        if self.during_validation and not trainer.sanity_checking:
            self._send(trainer)


@pytest.mark.parametrize("during_validation", [False, True], ids=["in_training", "in_validation"])
def test_sigterm_saves_last_checkpoint_wherever_it_lands_and_the_rerun_resumes_exactly(
        uninterrupted, tmp_path, monkeypatch, during_validation):
    full_dir = uninterrupted(["trainer.limit_val_batches=3"])
    overrides = tiny([*STEPS, "trainer.limit_val_batches=3"])  # validation at step 8 is 3 batches: signal in the first
    callback = SignalAt(8, during_validation)
    monkeypatch.setattr(train_module, "decode_eval_callbacks", lambda cfg: [callback])
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(StoppedBySignal) as stopped:
        train(compose(overrides, tmp_path))
    assert signal.getsignal(signal.SIGTERM) == previous  # Lightning put the handler back
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    assert stopped.value.step == 8 and stopped.value.checkpoint == str(last)
    assert load_checkpoint_file(last)["global_step"] == 8
    monkeypatch.undo()
    train(compose(overrides, tmp_path))
    assert_same_as(full_dir, tmp_path / "run", 8)


def test_rng_state_is_saved_in_the_checkpoint_and_loads_weights_only(tmp_path):
    train(compose(tiny(STEPS), tmp_path))
    checkpoint = load_checkpoint_file(tmp_path / "run" / "checkpoints" / "last.ckpt")  # weights_only=True
    (state,) = [v for k, v in checkpoint["callbacks"].items() if k.startswith("RngState")]
    assert set(state) == {"torch", "cuda", "numpy", "python"}
    assert state["torch"].dtype == torch.uint8 and len(state["python"]["words"]) == 625


def test_config_saved_with_run_and_in_checkpoint(tmp_path):
    cfg = compose(tiny(), tmp_path)
    train(cfg)
    saved = OmegaConf.load(tmp_path / "run" / "config.yaml")
    assert saved.problem.name == cfg.problem.name and saved.hparams.model.hidden_size == 16
    ckpt = load_checkpoint_file(tmp_path / "run" / "checkpoints" / "last.ckpt")
    assert ckpt["hyper_parameters"]["run_config"]["hparams"]["model"]["hidden_size"] == 16
    assert ckpt["hyper_parameters"]["model_name"] == "transformer"


def test_stopped_by_signal_survives_pickling():
    """Launchers (submitit, multiprocessing) ship a job's exception to another process."""
    import pickle

    stopped = pickle.loads(pickle.dumps(StoppedBySignal(8, "/run/checkpoints/last.ckpt")))
    assert (stopped.step, stopped.checkpoint) == (8, "/run/checkpoints/last.ckpt")
    assert str(stopped).startswith("stopped by SIGTERM at step 8; saved /run/checkpoints/last.ckpt")
