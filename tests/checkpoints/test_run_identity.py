"""Run directories identify their run: two commands that would train differently never share one (so neither
silently resumes the other), a relaunch of the same command finds its own, and a run directory whose last.ckpt
was trained with other settings, or `resume=false` over an existing last.ckpt, is a one-line error that leaves
the checkpoint untouched."""

import pytest
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from t2t_torch.checkpoints.run_identity import first_differences
from t2t_torch.errors import T2TUserError
from t2t_torch.run.config_check import _compose
from t2t_torch.run.config_store import register_configs
from t2t_torch.run.train import train
from tests.fixtures.helpers import compose, tiny


def hydra_run_dir(overrides: list[str]) -> str:
    """hydra.run.dir as Hydra resolves it for this command line (the `t2t_run_name` resolver included)."""
    register_configs()
    cfg = _compose(overrides, "train", [])
    previous = HydraConfig.instance().cfg
    try:
        HydraConfig.instance().set_config(cfg)
        return str(OmegaConf.select(cfg, "hydra.run.dir"))
    finally:
        HydraConfig.instance().cfg = previous


@pytest.mark.parametrize(("first", "second"), [
    ([], ["debug=overfit"]),  # the quick start and an overfitting check
    (["problem=algorithmic_sort_problem"], ["experiment=algorithmic_sort_problem"]),  # the recipe sets more
    ([], ["data_dir=/somewhere/else"]),
    ([], ["seed=7"]),
    ([], ["hparams.model.hidden_size=64"]),
])
def test_commands_that_train_differently_get_different_run_dirs(first, second):
    assert hydra_run_dir(first) != hydra_run_dir(second)


def test_the_same_command_gets_the_same_run_dir_and_resumable_settings_keep_it():
    command = ["problem=algorithmic_sort_problem", "seed=3"]
    assert hydra_run_dir(command) == hydra_run_dir(list(reversed(command)))
    # how often to evaluate or log, or where to resume from, may change on resume: the run is the same one
    assert hydra_run_dir(command) == hydra_run_dir([*command, "trainer.log_every_n_steps=5", "ckpt_path=/a.ckpt"])
    # which loggers it writes to and when it stops early, too; a callback that changes training does not
    assert hydra_run_dir(command) == hydra_run_dir([*command, "logger=[default,mlflow]", "early_stopping.patience=5"])
    assert hydra_run_dir(command) != hydra_run_dir([*command, "callbacks=ema"])


def test_max_steps_is_part_of_the_run_when_the_schedule_decays_over_it(tmp_path):
    cosine = OmegaConf.to_container(compose([], tmp_path), resolve=True)  # transformer_tiny_algorithmic: cosine
    longer = {**cosine, "trainer": {**cosine["trainer"], "max_steps": 6000}}
    assert first_differences(cosine, longer) == ["trainer.max_steps: 3000 vs 6000"]
    rsqrt = OmegaConf.to_container(compose(["hparams=transformer_tiny"], tmp_path), resolve=True)
    assert first_differences(rsqrt, {**rsqrt, "trainer": {**rsqrt["trainer"], "max_steps": 6000}}) == []


def test_a_run_dir_of_another_run_is_refused_in_one_line(tmp_path):
    train(compose(tiny(), tmp_path))
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    before = last.read_bytes()
    with pytest.raises(T2TUserError) as error:
        train(compose(tiny(["seed=99", "hparams.optim.learning_rate_constant=0.5"]), tmp_path))  # same output_dir
    message = str(error.value)
    assert "\n" not in message and "holds a run with other settings" in message
    assert "seed: 1234 vs 99" in message and "hparams.optim.learning_rate_constant" in message
    assert last.read_bytes() == before
    train(compose(tiny(["trainer.max_steps=6"]), tmp_path))  # a longer run of the same one resumes
    assert last.read_bytes() != before


def test_resume_false_refuses_to_overwrite_last_ckpt(tmp_path):
    train(compose(tiny(), tmp_path))
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    before = last.read_bytes()
    with pytest.raises(T2TUserError, match="already holds checkpoints/last.ckpt.*resume=true.*hydra.run.dir"):
        train(compose(tiny(["resume=false"]), tmp_path))
    assert last.read_bytes() == before


def test_a_run_started_from_ckpt_path_resumes_from_its_own_last_ckpt(tmp_path, caplog):
    """'Run the same command again to resume' holds for a run started with ckpt_path= too: its own last.ckpt wins."""
    import csv
    import logging

    train(compose(tiny(["trainer.max_steps=4"]), tmp_path / "first"))
    start = tmp_path / "first" / "run" / "checkpoints" / "last.ckpt"
    command = tiny([f"ckpt_path={start}", "trainer.log_every_n_steps=1"])
    train(compose([*command, "trainer.max_steps=6"], tmp_path / "second"))
    with caplog.at_level(logging.WARNING):
        train(compose([*command, "trainer.max_steps=8"], tmp_path / "second"))
    assert "Resuming from the run's own" in caplog.text
    with open(tmp_path / "second" / "run" / "csv" / "version_1" / "metrics.csv", newline="") as handle:
        steps = [int(row["step"]) for row in csv.DictReader(handle) if row.get("train/loss")]
    assert steps and min(steps) >= 6  # continued after step 6, not again after step 4


def test_a_run_without_loggers_trains(tmp_path):
    train(compose(tiny(["~logger"]), tmp_path))  # no logger: no learning-rate monitor either (Lightning refuses it)
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file() and not (tmp_path / "run" / "csv").exists()
