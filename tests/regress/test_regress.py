"""The regression runner (t2t-regress) on 2-step fake recipes from a temporary usr_dir (bands in its
conf/known_results.yaml): a run inside its band passes and writes report.md / report.csv / a PNG with the numbers, a
run outside its band exits 1, and bad requests (unknown recipe, recipe without a known result, malformed band) are
one-line errors. Also: the real recipes' bands (their measurements: tests/regress/test_known_results.py)."""

import csv
import sys
from pathlib import Path

import pytest

from t2t_torch import registry
from t2t_torch.errors import T2TUserError
from t2t_torch.regress.recipes import Expected, all_recipes, cpu_recipes, find_recipe, parse_expected
from t2t_torch.regress.runner import main

FAKE_RECIPE = """# @package _global_
defaults:
  - override /problem: algorithmic_identity_binary40
  - override /hparams: transformer_tiny
  - override /trainer: cpu
problem: {train_size: 200, dev_size: 24, train_length: 8, dev_length: 8}
hparams:
  model: {hidden_size: 16, filter_size: 32, num_heads: 2}
  optim: {learning_rate_warmup_steps: 1}
  batching: {batch_size: 64}
trainer: {max_steps: 2, val_check_interval: 2, limit_val_batches: 2, enable_model_summary: false}
"""
FAKE_BANDS = """fake_pass: {metric: eval/accuracy, min: 0.0, max: 1.0, seeds: [7]}
fake_fail: {metric: eval/loss, max: 0.0001}
fake_bad_band: {metric: eval/loss}
"""


@pytest.fixture
def usr_dir(tmp_path, monkeypatch):
    """A usr_dir whose conf/experiment/ holds fake recipes and conf/known_results.yaml their bands; the registry's
    config dirs and sys.path are restored."""
    monkeypatch.setattr(registry, "_CONFIG_DIRS", list(registry._CONFIG_DIRS))
    monkeypatch.setattr(sys, "path", list(sys.path))
    folder = tmp_path / f"regress_usr_{tmp_path.name}"  # a unique package name per test
    (folder / "conf" / "experiment").mkdir(parents=True)
    (folder / "__init__.py").write_text('"""Fake recipes for the regression-runner tests."""\n')
    for name in ("fake_pass", "fake_fail", "fake_plain", "fake_bad_band"):
        (folder / "conf" / "experiment" / f"{name}.yaml").write_text(FAKE_RECIPE)
    (folder / "conf" / "known_results.yaml").write_text(FAKE_BANDS)
    return folder


def run_main(usr_dir: Path, tmp_path: Path, *args: str) -> int:
    return main([*args, "--usr-dir", str(usr_dir), "--report-dir", str(tmp_path / "report"), "--threads", "1",
                 f"data_dir={tmp_path / 'data'}"])


def test_recipe_in_band_passes_and_writes_the_report(usr_dir, tmp_path, capsys):
    assert run_main(usr_dir, tmp_path, "fake_pass") == 0
    report = tmp_path / "report"
    rows = list(csv.DictReader((report / "report.csv").open()))
    assert [(r["recipe"], r["seed"], r["verdict"], r["in_band"]) for r in rows] == [("fake_pass", "7", "PASS", "True")]
    value = float(rows[0]["result"])
    assert 0.0 <= value <= 1.0 and rows[0]["steps"] == "2" and rows[0]["torch"] and rows[0]["git_commit"]
    markdown = (report / "report.md").read_text()
    assert f"| fake_pass | eval/accuracy | [0, 1] | 7 | {value:.4g} |" in markdown
    assert "lightning" in markdown and "hydra-core" in markdown and "![fake_pass](fake_pass.png)" in markdown
    assert (report / "fake_pass.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (report / "fake_pass" / "seed7" / "checkpoints" / "last.ckpt").is_file()
    assert "All recipes in band." in capsys.readouterr().out
    assert run_main(usr_dir, tmp_path, "fake_pass") == 2  # the same report dir again: it would re-report the old run
    assert "seed7 exists from an earlier run" in capsys.readouterr().err


def test_recipe_out_of_band_exits_1(usr_dir, tmp_path, capsys):
    assert run_main(usr_dir, tmp_path, "fake_fail") == 1
    rows = list(csv.DictReader((tmp_path / "report" / "report.csv").open()))
    assert [(r["recipe"], r["seed"], r["verdict"]) for r in rows] == [("fake_fail", "1234", "FAIL")]
    assert float(rows[0]["result"]) > 0.0001
    assert "1 recipe(s) outside their band: fake_fail" in capsys.readouterr().out


@pytest.mark.parametrize(("name", "message"), [
    ("fake_pas", "unknown recipe 'fake_pas'. Did you mean: fake_pass"),
    ("fake_plain", "recipe 'fake_plain' has no known result: add 'fake_plain: {metric: <logged metric>, min: <x>}'"),
    ("fake_bad_band", "known_results.yaml: fake_bad_band needs min and/or max"),
])
def test_bad_recipe_is_a_one_line_error(usr_dir, tmp_path, capsys, name, message):
    assert run_main(usr_dir, tmp_path, name) == 2
    error = capsys.readouterr().err
    assert error.startswith("t2t-regress: error: ") and error.count("\n") == 1 and message in error
    assert not (tmp_path / "report").exists()


def test_bad_override_fails_before_training(usr_dir, tmp_path, capsys):
    assert run_main(usr_dir, tmp_path, "fake_pass", "hparams.optim.learning_rat=1") == 2
    assert "recipe fake_pass: unknown config key 'hparams.optim.learning_rat'" in capsys.readouterr().err


def test_list_shows_bands_and_why_full_scale_recipes_are_skipped(capsys):
    assert main(["--list"]) == 0
    out = capsys.readouterr().out
    assert "algorithmic_sort_problem" in out and "eval/accuracy_per_sequence >=" in out
    assert "image_cifar10_shakeshake_big" in out and "[skipped: not yet reproduced here]" in out


def test_real_recipes_have_checked_bands():
    cpu = {r.name for r in cpu_recipes()}
    assert {"algorithmic_reverse_decimal40_iid", "algorithmic_addition_decimal40", "algorithmic_sort_problem",
            "translate_ende_bible_tiny"} <= cpu
    for recipe in all_recipes().values():
        expected = recipe.expected
        assert expected is not None, recipe.name
        if expected.scale == "cpu" and not expected.runnable:  # listed, not run: it says what it needs
            assert expected.status and recipe.skip_reason() and expected.seeds, recipe.name
        elif expected.scale == "cpu" and expected.seeds:  # set from seeds (their values: benchmarks/known_results.md)
            assert expected.runnable and len(expected.seeds) >= 3, recipe.name
        elif expected.scale == "cpu":  # a band not yet established must say so
            assert expected.runnable and "band pending" in (expected.status or ""), recipe.name
        else:
            assert recipe.skip_reason() and "not yet reproduced here" in expected.status and expected.published


def test_band_checks():
    band = Expected(metric="eval/bleu", min=1.0, max=2.0)
    assert band.contains(1.0) and band.contains(2.0) and not band.contains(0.99) and not band.contains(None)
    assert not band.contains(float("nan")) and band.band() == "[1, 2]"
    assert Expected(metric="m", min=0.95).band() == ">= 0.95" and Expected(metric="m", max=3).band() == "<= 3"


def test_malformed_expected_blocks_are_one_line_errors():
    from omegaconf import OmegaConf

    for block, message in [({"min": 1}, "metric is missing"), ({"metric": "m", "min": "high"}, "must be a number"),
                           ({"metric": "m", "min": 1, "scale": "tpu"}, "scale must be one of"),
                           ({"metric": "m", "min": 1, "mni": 2}, "unknown key(s) mni")]:
        with pytest.raises(T2TUserError, match=message.replace("(", r"\(").replace(")", r"\)")):
            parse_expected(OmegaConf.create(block), Path("x.yaml"), "r")
    with pytest.raises(T2TUserError, match="Did you mean: algorithmic_sort_problem"):
        find_recipe("algorithmic_sort")


def test_a_run_stopped_early_is_not_a_result(tmp_path):
    from t2t_torch.regress.runner import unfinished

    (tmp_path / "config.yaml").write_text("trainer: {max_steps: 2000}\n")
    assert unfinished(tmp_path, [{"step": "849"}, {"step": "874"}]) == (875, 2000)
    assert unfinished(tmp_path, [{"step": "1999"}, {"step": "2000"}]) is None


def test_ci_lane_cheapest_real_recipe_reaches_its_band(tmp_path, capsys):
    """The CI lane (scripts/ci_regress.sh, here inside the suite): the cheapest CPU-scale known result, one seed,
    really trained (1000 steps, ~2-4 minutes on 2 cores) and checked against the band established from 3 seeds."""
    recipe = find_recipe("algorithmic_sort_problem")
    seed = recipe.expected.seeds[0]
    assert main(["algorithmic_sort_problem", "--threads", "1", "--report-dir", str(tmp_path / "report"),
                 f"data_dir={tmp_path / 'data'}"]) == 0, capsys.readouterr().out
    rows = list(csv.DictReader((tmp_path / "report" / "report.csv").open()))
    assert [(r["recipe"], r["seed"], r["verdict"], r["steps"]) for r in rows] == [
        ("algorithmic_sort_problem", str(seed), "PASS", "1000")]
    assert float(rows[0]["result"]) >= recipe.expected.min
