"""Shared helpers for the test-suite: compose configs the way the CLI does, at tiny sizes."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

import t2t_torch  # noqa: F401  (registers the built-ins)
from t2t_torch.run.config_check import compose_config
from t2t_torch.run.config_store import register_configs

TINY_MODEL = [
    "hparams=transformer_tiny",
    "hparams.model.hidden_size=16",
    "hparams.model.filter_size=32",
    "hparams.model.num_heads=2",
    "hparams.optim.learning_rate_warmup_steps=10",
]
TINY_PROBLEM = [
    "problem=algorithmic_identity_binary40",
    "problem.train_size=200",
    "problem.dev_size=24",
    "problem.train_length=8",
    "problem.dev_length=8",
]
QUIET_TRAINER = [
    "trainer.accelerator=cpu",
    "trainer.devices=1",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "trainer.max_steps=4",
    "trainer.val_check_interval=2",
    "trainer.limit_val_batches=2",
    "hparams.batching.batch_size=64",
]


def compose(overrides: list[str], tmp_path: Path, config_name: str = "train") -> DictConfig:
    """The composed config the CLI would build, with data and output dirs under tmp_path."""
    register_configs()
    cfg = compose_config([*overrides, f"data_dir={tmp_path / 'data'}"], config_name)
    if "output_dir" in cfg:
        OmegaConf.update(cfg, "output_dir", str(tmp_path / "run"))
    return cfg


def tiny(overrides: list[str] = ()) -> list[str]:
    return [*TINY_PROBLEM, *TINY_MODEL, *QUIET_TRAINER, *overrides]
