"""`t2t-avg-checkpoints` on real tiny runs: checkpoints of one run average (also across a resumption that trained
longer), checkpoints of another run (another seed) are refused in one line naming both files unless
`--allow_different_runs` says it is meant, and checkpoints that store no run config are averaged with a warning."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from t2t_torch.checkpoints.average import main
from t2t_torch.run.train import train
from tests.fixtures.helpers import compose, tiny

STEPS = ["trainer.max_steps=4", "trainer.val_check_interval=2", "keep_checkpoint_max=4"]


def run(tmp: Path, name: str, *overrides: str) -> Path:
    """Train (or resume) the tiny run `name` under `tmp`, all runs sharing one data_dir; returns its run dir."""
    cfg = compose(tiny([*STEPS, *overrides]), tmp)
    OmegaConf.update(cfg, "output_dir", str(tmp / name))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(cfg)
    finally:
        torch.set_num_threads(threads)
    return tmp / name


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """Run `a` (4 steps, then resumed to 6: trainer.max_steps may change on resume) and run `b` (another seed)."""
    tmp = tmp_path_factory.mktemp("avg_runs")
    a = run(tmp, "a")
    run(tmp, "a", "trainer.max_steps=6")
    return {"a": a, "b": run(tmp, "b", "seed=7")}


def test_checkpoints_of_one_run_average_across_a_resumption(runs, tmp_path, capsys, caplog):
    checkpoints = runs["a"] / "checkpoints"
    assert {"step-4.ckpt", "step-6.ckpt"} <= {p.name for p in checkpoints.glob("*.ckpt")}
    with caplog.at_level(logging.WARNING):
        assert main([str(checkpoints / "step-4.ckpt"), str(checkpoints / "step-6.ckpt"),
                     "--output_path", str(tmp_path / "avg.ckpt")]) == 0
    assert "Averaged 2 checkpoints (steps 4, 6)" in capsys.readouterr().out and not caplog.records
    assert main([str(runs["a"]), "--n", "3"]) == 0  # the run dir: its newest three steps
    assert (runs["a"] / "avg" / "avg-last3-step6.ckpt").is_file()


def test_checkpoints_of_another_run_are_refused_naming_both_files(runs, tmp_path, capsys):
    first, second = runs["a"] / "checkpoints" / "last.ckpt", runs["b"] / "checkpoints" / "last.ckpt"
    output = tmp_path / "avg.ckpt"
    assert main([str(first), str(second), "--output_path", str(output)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("t2t-avg-checkpoints: error: cannot average")
    assert str(first) in err and str(second) in err and "different runs" in err and "seed" in err
    assert "--allow_different_runs" in err and not output.exists()


def test_allow_different_runs_averages_them_with_a_warning(runs, tmp_path, caplog):
    first, second = runs["a"] / "checkpoints" / "last.ckpt", runs["b"] / "checkpoints" / "last.ckpt"
    output = tmp_path / "avg.ckpt"
    with caplog.at_level(logging.WARNING):
        assert main([str(first), str(second), "--output_path", str(output), "--allow-different-runs"]) == 0
    assert output.is_file() and "another run" in caplog.text and "seed" in caplog.text
    weight = "model.body.decoder.0.ffn.up.weight"
    a, b = (torch.load(p, weights_only=True)["state_dict"][weight] for p in (first, second))
    torch.testing.assert_close(torch.load(output, weights_only=True)["state_dict"][weight], (a + b) / 2)


def test_checkpoints_without_a_run_config_are_averaged_with_a_warning(runs, tmp_path, caplog):
    paths = []
    for name in ("a", "b"):  # of different runs, but nothing tells: as before, averaged, now with a warning
        checkpoint = torch.load(runs[name] / "checkpoints" / "last.ckpt", weights_only=True)
        checkpoint["hyper_parameters"]["run_config"] = {}
        torch.save(checkpoint, tmp_path / f"{name}.ckpt")
        paths.append(str(tmp_path / f"{name}.ckpt"))
    with caplog.at_level(logging.WARNING):
        assert main([*paths, "--output_path", str(tmp_path / "avg.ckpt")]) == 0
    assert "stores no run config" in caplog.text and (tmp_path / "avg.ckpt").is_file()
