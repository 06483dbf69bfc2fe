"""A recipe's known result (its band) lives in conf/known_results.yaml, beside the recipe and outside the run's config:
no composed experiment has an `expected` key, so editing a band keeps the run directory's name and lets the run
resume (compose-level and through t2t-regress --resume). A malformed known-results file, or an `expected:` block left
in a recipe, is a one-line error naming the file. The measurements the bands were set from are in
benchmarks/known_results.md, every seed's value inside its band; recipe files and bands carry no dates."""

import csv
import re
import shutil
import sys
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest
from omegaconf import OmegaConf, open_dict

import t2t_torch  # noqa: F401  (registers the built-ins)
from t2t_torch import registry
from t2t_torch.checkpoints.run_identity import first_differences
from t2t_torch.errors import T2TUserError
from t2t_torch.registry import PACKAGE_CONF_DIR
from t2t_torch.regress.recipes import KNOWN_RESULTS_FILE, all_recipes, load_known_results, load_recipe, option_exists
from t2t_torch.regress.runner import main
from t2t_torch.run.config_check import compose_config
from t2t_torch.run.config_store import register_configs, run_name

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks" / "known_results.md"
EXPERIMENTS = sorted(p.stem for p in (PACKAGE_CONF_DIR / "experiment").glob("*.yaml"))
COMPOSABLE = [name for name, recipe in sorted(all_recipes().items())
              if all(option_exists(group, option) for group, option in recipe.requires.items())]
PROBE = "algorithmic_sort_problem"  # the real recipe copied into a temporary config dir to edit its band


def compose_run(overrides: list[str], search_path: list[Path] = ()) -> tuple[str, dict]:
    """The run directory name `${t2t_run_name:}` gives this command (config_store.run_name, the resolver itself) and
    the resolved config a checkpoint stores as its run_config (what `check_same_run` compares on resume)."""
    register_configs()
    cfg = compose_config(overrides, "train", list(search_path))
    with open_dict(cfg):
        cfg.hydra = {"overrides": {"task": overrides}}
        name = run_name(cfg)
        del cfg["hydra"]
        cfg.output_dir = "outputs/run"  # Hydra's runtime.output_dir: the run directory itself
    return name, OmegaConf.to_container(cfg, resolve=True)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_no_composed_experiment_has_an_expected_key(name):
    if name not in COMPOSABLE:
        pytest.skip(f"{name}'s problem or model is not registered")
    _, stored = compose_run([f"experiment={name}"])
    assert "expected" not in stored and "known_results" not in stored
    assert "expected:" not in (PACKAGE_CONF_DIR / "experiment" / f"{name}.yaml").read_text()


def test_every_recipe_with_a_band_composes():
    assert set(COMPOSABLE) == set(EXPERIMENTS)  # a recipe that stops composing is skipped above: say so here


@pytest.fixture
def probe_conf(tmp_path):
    """A config dir holding a copy of a real recipe (as `probe`) and its band, as a usr_dir's conf/ would."""
    conf = tmp_path / "conf"
    (conf / "experiment").mkdir(parents=True)
    shutil.copy(PACKAGE_CONF_DIR / "experiment" / f"{PROBE}.yaml", conf / "experiment" / "probe.yaml")
    band = OmegaConf.load(PACKAGE_CONF_DIR / KNOWN_RESULTS_FILE)[PROBE]
    OmegaConf.save(OmegaConf.create({"probe": band}), conf / KNOWN_RESULTS_FILE)
    return conf


def test_editing_a_band_keeps_the_run_directory_and_its_resumption(probe_conf):
    overrides = ["experiment=probe", "seed=1"]
    recipe = load_recipe("probe", probe_conf / "experiment" / "probe.yaml")
    assert recipe.expected.min == 0.98 and recipe.expected.max is None
    name, stored = compose_run(overrides, [probe_conf])

    bands = OmegaConf.load(probe_conf / KNOWN_RESULTS_FILE)
    bands.probe.min, bands.probe.max, bands.probe.seeds = 0.5, 0.999, [4, 5, 6]
    OmegaConf.save(bands, probe_conf / KNOWN_RESULTS_FILE)
    edited = load_recipe("probe", probe_conf / "experiment" / "probe.yaml").expected
    assert (edited.min, edited.max, edited.seeds) == (0.5, 0.999, (4, 5, 6))  # the runner reads the new band
    new_name, new_stored = compose_run(overrides, [probe_conf])
    assert new_name == name  # the same run directory ...
    assert first_differences(stored, new_stored) == []  # ... whose last.ckpt train() resumes (check_same_run)

    # The old layout, a band inside the recipe file, would join the run config: it is refused in one line.
    recipe_file = probe_conf / "experiment" / "probe.yaml"
    recipe_file.write_text(recipe_file.read_text() + "expected: {metric: eval/accuracy_per_sequence, min: 0.5}\n")
    with pytest.raises(T2TUserError, match="has an expected: block .* move it to the known_results.yaml"):
        compose_run(overrides, [probe_conf])


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


@pytest.fixture
def usr_dir(tmp_path, monkeypatch):
    """A usr_dir with one fake recipe and its band; the registry's config dirs and sys.path are restored."""
    monkeypatch.setattr(registry, "_CONFIG_DIRS", list(registry._CONFIG_DIRS))
    monkeypatch.setattr(sys, "path", list(sys.path))
    folder = tmp_path / f"known_usr_{tmp_path.name}"
    (folder / "conf" / "experiment").mkdir(parents=True)
    (folder / "__init__.py").write_text('"""A fake recipe for the known-result tests."""\n')
    (folder / "conf" / "experiment" / "fake.yaml").write_text(FAKE_RECIPE)
    (folder / "conf" / KNOWN_RESULTS_FILE).write_text("fake: {metric: eval/accuracy, min: 0.0, max: 1.0, seeds: [7]}\n")
    return folder


def regress(usr_dir: Path, tmp_path: Path, *args: str) -> int:
    return main(["fake", *args, "--usr-dir", str(usr_dir), "--report-dir", str(tmp_path / "report"), "--threads", "1",
                 f"data_dir={tmp_path / 'data'}"])


def test_t2t_regress_resumes_a_run_after_its_band_is_edited(usr_dir, tmp_path, capsys):
    """The issue's case end to end: a run trained, its band edited, the same run again with --resume: it resumes
    in the same directory (the stored config has no band to differ in) and is checked against the new band."""
    assert regress(usr_dir, tmp_path) == 0
    run_dir = tmp_path / "report" / "fake" / "seed7"
    saved = (run_dir / "config.yaml").read_text()
    assert "expected" not in OmegaConf.load(run_dir / "config.yaml")
    (usr_dir / "conf" / KNOWN_RESULTS_FILE).write_text("fake: {metric: eval/accuracy, min: 2.0, seeds: [7]}\n")
    capsys.readouterr()
    assert regress(usr_dir, tmp_path, "--resume") == 1  # resumed, and now outside the (impossible) new band
    out = capsys.readouterr().out
    assert "(band >= 2)" in out and "other settings" not in out, out
    log = (run_dir.with_suffix(".log")).read_text()
    assert "other settings" not in log and "Traceback" not in log, log
    assert (run_dir / "config.yaml").read_text() == saved
    rows = list(csv.DictReader((tmp_path / "report" / "report.csv").open()))
    assert [(r["recipe"], r["seed"], r["min"], r["verdict"]) for r in rows] == [("fake", "7", "2.0", "FAIL")]


@pytest.mark.parametrize(("content", "message"), [
    ("fake: {metric: eval/accuracy, min: [1}\n", "is not valid YAML"),
    ("- fake\n", "must map recipe names to their bands"),
    ("fake: 0.9\n", "fake must be a mapping with metric and min and/or max"),
    ("fake: {metric: eval/accuracy, min: high}\n", "fake.min must be a number, got 'high'"),
    ("fake: {metric: eval/accuracy}\n", "fake needs min and/or max"),
    ("fake: {metric: eval/accuracy, min: 0.5, mni: 1}\n", "fake has unknown key(s) mni"),
    ("fake: {metric: eval/accuracy, min: 0.5, seeds: [1, x]}\n", "fake.seeds must be a list of integers"),
    ("fake: {metric: eval/accuracy, min: 0.5, measured: [0.6]}\n",
     "fake has measured: measurements are results, kept in benchmarks/known_results.md"),
    ("fake: {metric: eval/accuracy, min: 0.5}\nfkae: {metric: eval/accuracy, min: 0.5}\n",
     "'fkae' names no recipe"),
])
def test_malformed_known_results_file_is_a_one_line_error_naming_it(usr_dir, tmp_path, capsys, content, message):
    bands = usr_dir / "conf" / KNOWN_RESULTS_FILE
    bands.write_text(content)
    assert regress(usr_dir, tmp_path) == 2
    error = capsys.readouterr().err
    assert error.startswith("t2t-regress: error: ") and error.count("\n") == 1, error
    assert str(bands) in error and message in error, error
    assert not (tmp_path / "report").exists()
    assert main(["--list", "--usr-dir", str(usr_dir)]) == 2  # listing reads every band: the same error
    assert str(bands) in capsys.readouterr().err


def test_an_expected_block_left_in_a_recipe_is_a_one_line_error(usr_dir, tmp_path, capsys):
    recipe = usr_dir / "conf" / "experiment" / "fake.yaml"
    recipe.write_text(FAKE_RECIPE + "expected: {metric: eval/accuracy, min: 0.0}\n")
    assert regress(usr_dir, tmp_path) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and f"{recipe} has an expected: block" in error, error
    assert f"move it to {usr_dir / 'conf' / KNOWN_RESULTS_FILE} as 'fake:'" in error


def test_a_recipe_without_a_known_result_lists_and_composes(usr_dir, capsys):
    (usr_dir / "conf" / KNOWN_RESULTS_FILE).unlink()
    assert main(["--list", "--usr-dir", str(usr_dir)]) == 0
    assert re.search(r"^fake +\(no known result\)$", capsys.readouterr().out, re.MULTILINE)


def benchmark_rows() -> dict[str, dict[str, str]]:
    """The table of benchmarks/known_results.md: recipe -> {metric, seeds, measured, date, ...}."""
    lines = [line for line in BENCHMARKS.read_text().splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header[:5] == ["recipe", "metric", "seeds", "measured", "date"], header
    rows = {}
    for line in lines[2:]:
        cells = dict(zip(header, (cell.strip() for cell in line.strip("|").split("|")), strict=True))
        rows[cells["recipe"].strip("`")] = cells
    return rows


def test_every_cpu_band_has_its_measurements_in_benchmarks():
    """What the bands were set from lives with the results: one row per CPU-scale band, one value per seed of the
    band, each inside it, with the date and machine (the checks the recipe files' `measured:` once had)."""
    rows = benchmark_rows()
    bands = load_known_results(PACKAGE_CONF_DIR / KNOWN_RESULTS_FILE)
    for name, band in bands.items():
        if band.scale == "full":  # T2T's published numbers (`published:`), not measured here
            assert name not in rows, name
            continue
        assert band.seeds and name in rows, f"{name}: its band's runs are not in {BENCHMARKS}"
        row = rows[name]
        measured = [float(value) for value in row["measured"].split(",")]
        assert tuple(int(seed) for seed in row["seeds"].split(",")) == band.seeds, name
        assert len(measured) == len(band.seeds) and all(band.contains(m) for m in measured), (name, measured)
        assert row["metric"] == band.metric, name
        assert re.fullmatch(r"20\d\d-\d\d-\d\d", row["date"]) and row["machine and settings"], name
    assert set(rows) <= set(bands), set(rows) - set(bands)


def test_recipes_and_bands_carry_no_dates_or_measurements():
    files = [*(PACKAGE_CONF_DIR / "experiment").glob("*.yaml"), PACKAGE_CONF_DIR / KNOWN_RESULTS_FILE]
    for path in files:
        text = path.read_text()
        assert not re.search(r"\b20\d\d-\d\d\b", text), path
        assert not re.search(r"\b(measured|established_on|worst seed)\b", text, re.IGNORECASE), path


def test_the_known_results_file_ships_in_the_wheel():
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert any(fnmatch(KNOWN_RESULTS_FILE, pattern) for pattern in patterns["t2t_torch.conf"])
    assert (PACKAGE_CONF_DIR / KNOWN_RESULTS_FILE).is_file()  # conf/ is the package t2t_torch.conf


def test_malformed_file_helpers_raise_t2t_user_errors(tmp_path):
    (tmp_path / "experiment").mkdir()
    (tmp_path / KNOWN_RESULTS_FILE).write_text("nothing: {metric: m, min: 1}\n")
    with pytest.raises(T2TUserError, match="'nothing' names no recipe"):
        load_known_results(tmp_path / KNOWN_RESULTS_FILE)
    assert load_known_results(tmp_path / "absent.yaml") == {}
