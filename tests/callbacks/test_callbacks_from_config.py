"""Callbacks and loggers from config (`callbacks=`, `logger=` groups, Hydra `_target_`) and early stopping on any
metric the run logs: they build, they act, and a bad entry or monitor is one line before any work."""

import pytest

from t2t_torch.checkpoints.atomic_io import load_checkpoint_file
from t2t_torch.errors import T2TUserError
from t2t_torch.run.train import train
from tests.fixtures.helpers import compose, tiny


def test_a_callback_preset_runs_with_the_training(tmp_path):
    train(compose(tiny(["callbacks=[ema,model_summary]"]), tmp_path))
    checkpoint = load_checkpoint_file(tmp_path / "run" / "checkpoints" / "last.ckpt")
    names = " ".join(checkpoint["callbacks"])
    assert "EMAWeightAveraging" in names


def test_any_callback_by_target_and_the_default_loggers(tmp_path):
    train(compose(tiny(["+callbacks.timer._target_=lightning.pytorch.callbacks.Timer",
                        "+callbacks.timer.duration=00:00:10:00"]), tmp_path))
    checkpoint = load_checkpoint_file(tmp_path / "run" / "checkpoints" / "last.ckpt")
    assert any(name.startswith("Timer") for name in checkpoint["callbacks"])
    assert (tmp_path / "run" / "csv" / "version_0" / "metrics.csv").is_file()
    assert list((tmp_path / "run" / "tensorboard").rglob("events.out.tfevents.*"))


@pytest.mark.parametrize(("override", "needle"), [
    ("+callbacks.bad._target_=no_such_module.Callback", "callbacks.bad._target_ 'no_such_module.Callback' does not"
                                                        " import"),
    ("+callbacks.bad.decay=0.9", "callbacks.bad has no _target_"),
    ("+logger.bad._target_=lightning.pytorch.loggers.NoSuchLogger", "logger.bad._target_"),
    ("early_stopping.monitor=eval/accuracy_per_sequense", "Did you mean: eval/accuracy_per_sequence"),
    ("early_stopping.monitor=eval/bleu", "eval/bleu needs decode_eval.every=1"),
    ("early_stopping.monitor=eval/mystery", "It logs: eval/loss"),
])
def test_bad_entries_and_monitors_are_one_line_when_composed(override, needle, tmp_path):
    with pytest.raises(T2TUserError) as error:
        compose(tiny([override]), tmp_path)
    assert needle in str(error.value) and "\n" not in str(error.value)
    assert not (tmp_path / "data").exists()


def test_early_stopping_stops_when_the_monitor_stops_improving(tmp_path):
    # An improvement must exceed 10 nats: none does, so the run stops after patience=1 evaluation without one.
    train(compose(tiny(["trainer.max_steps=12", "trainer.val_check_interval=2", "early_stopping.monitor=eval/loss",
                        "early_stopping.patience=1", "early_stopping.min_delta=10"]), tmp_path))
    assert load_checkpoint_file(tmp_path / "run" / "checkpoints" / "last.ckpt")["global_step"] == 4


def test_the_best_checkpoint_follows_the_early_stopping_metric(tmp_path):
    train(compose(tiny(["early_stopping.monitor=eval/accuracy", "early_stopping.patience=100"]), tmp_path))
    checkpoint = load_checkpoint_file(tmp_path / "run" / "checkpoints" / "last.ckpt")
    assert "ModelCheckpoint{'monitor': 'eval/accuracy', 'mode': 'max'," in " ".join(checkpoint["callbacks"])
    assert list((tmp_path / "run" / "checkpoints").glob("best-*.ckpt"))
