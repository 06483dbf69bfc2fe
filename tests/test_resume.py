"""Resuming from a checkpoint continues exactly: the same losses at every later step as an uninterrupted run
(model, optimizer, learning-rate schedule and data position all restored)."""

import csv

import torch
from helpers import compose, tiny
from omegaconf import OmegaConf

from t2t_torch.callbacks.atomic_checkpoint_io import load_checkpoint_file
from t2t_torch.train import train

STEPS = ["trainer.max_steps=12", "trainer.val_check_interval=4", "trainer.log_every_n_steps=1",
         "hparams.model.layer_prepostprocess_dropout=0.0", "hparams.model.attention_dropout=0.0",
         "hparams.model.relu_dropout=0.0", "problem.train_size=120", "hparams.batching.batch_size=48"]


def losses(run_dir):
    rows = []
    for path in sorted((run_dir / "csv").glob("version_*/metrics.csv")):
        with open(path) as handle:
            rows += [r for r in csv.DictReader(handle) if r.get("train/loss")]
    return {int(r["step"]): float(r["train/loss"]) for r in rows}


def test_resume_equals_uninterrupted(tmp_path):
    full = compose(tiny(STEPS), tmp_path / "full")
    train(full)
    # Stop after 6 steps (mid-epoch: an epoch has more than 6 batches), then resume to 12 from last.ckpt.
    part_dir = tmp_path / "part"
    first = compose(tiny([*STEPS, "trainer.max_steps=6"]), part_dir)
    train(first)
    assert load_checkpoint_file(part_dir / "run" / "checkpoints" / "last.ckpt")["global_step"] == 6
    resumed = compose(tiny(STEPS), part_dir)  # same run dir: resumes from its own last.ckpt
    train(resumed)
    expected, got = losses(tmp_path / "full" / "run"), losses(part_dir / "run")
    later = [s for s in expected if s >= 6]
    assert later and all(abs(expected[s] - got[s]) < 1e-5 for s in later), [(s, expected[s], got.get(s)) for s in later]
    a = load_checkpoint_file(tmp_path / "full" / "run" / "checkpoints" / "last.ckpt")
    b = load_checkpoint_file(part_dir / "run" / "checkpoints" / "last.ckpt")
    assert a["global_step"] == b["global_step"] == 12
    for key, value in a["state_dict"].items():
        assert torch.allclose(value, b["state_dict"][key], atol=1e-5), key


def test_config_saved_with_run_and_in_checkpoint(tmp_path):
    cfg = compose(tiny(), tmp_path)
    train(cfg)
    saved = OmegaConf.load(tmp_path / "run" / "config.yaml")
    assert saved.problem.name == cfg.problem.name and saved.hparams.model.hidden_size == 16
    ckpt = load_checkpoint_file(tmp_path / "run" / "checkpoints" / "last.ckpt")
    assert ckpt["hyper_parameters"]["run_config"]["hparams"]["model"]["hidden_size"] == 16
    assert ckpt["hyper_parameters"]["model_name"] == "transformer"
