"""Bad input on the command line: one clear line naming the fix, exit status 2, nothing written or lost.

The entry points run in this process (`main` of `t2t_torch.cli.train` / `t2t_torch.cli.datagen` with `sys.argv` set,
Hydra's global state cleared around each call); one subprocess test checks the real `train.py` script end to end."""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra.core.global_hydra import GlobalHydra

import t2t_torch
from t2t_torch import registry
from t2t_torch.cli.datagen import main as datagen_main
from t2t_torch.cli.train import main as train_main
from t2t_torch.run.train import train
from tests.fixtures.helpers import compose, tiny

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def run_cli(monkeypatch, capsys, tmp_path):
    """Call an entry point in-process as `<program> args...` from `cwd` (default tmp_path); returns
    (exit status, stdout, stderr). Hydra's global state, the logging Hydra configures and the registry are left
    as they were."""
    registered = (registry.list_problems(include_reversed=True), t2t_torch.list_models(), t2t_torch.list_hparams())
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level

    def call(args, cwd=None, main=train_main, program="train.py"):
        monkeypatch.chdir(cwd or tmp_path)
        monkeypatch.setattr(sys, "argv", [program, *args])
        capsys.readouterr()
        GlobalHydra.instance().clear()
        try:
            main()
            code = 0
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 1
        finally:
            GlobalHydra.instance().clear()
            for handler in root.handlers:
                if handler not in handlers:
                    handler.close()
            root.handlers[:] = handlers
            root.setLevel(level)
        out, err = capsys.readouterr()
        return code, out, err

    yield call
    assert (registry.list_problems(include_reversed=True), t2t_torch.list_models(), t2t_torch.list_hparams()) \
        == registered  # nothing registered twice or lost by the in-process calls


def assert_one_line_error(result, *needles, program="t2t-train"):
    code, _, err = result
    assert code == 2, err[-2000:]
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"{program}: error:"), err[-2000:]
    for needle in needles:
        assert needle in lines[0]
    assert "Traceback" not in err


@pytest.fixture(scope="module")
def trained_checkpoint(tmp_path_factory):
    """One tiny run's last.ckpt, shared by the tests that need a real checkpoint."""
    tmp = tmp_path_factory.mktemp("trained")
    train(compose(tiny(), tmp))
    GlobalHydra.instance().clear()
    ckpt = tmp / "run" / "checkpoints" / "last.ckpt"
    assert ckpt.is_file()
    return ckpt


def test_train_script_gives_one_line_error(tmp_path):
    """The real script in a fresh interpreter (the in-process tests below call the same `train_main`)."""
    result = subprocess.run([sys.executable, str(REPO / "train.py"), "problem=algorithmic_reverse_binary4",
                             f"data_dir={tmp_path}/data"], cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert_one_line_error((result.returncode, result.stdout, result.stderr), "unknown problem",
                          "algorithmic_reverse_binary40")
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no data, no outputs


@pytest.mark.parametrize(("override", "needles"), [
    ("problem=algorithmic_reverse_binary4", ["unknown problem", "algorithmic_reverse_binary40"]),
    ("model=transfomer", ["unknown model", "transformer"]),
    ("hparams=transformer_tiyn", ["unknown hparams set", "transformer_tiny"]),
    ("trainer=gpuu", ["unknown trainer preset", "gpu"]),
    ("hparams.learning_rate_constant=0.1", ["hparams.learning_rate_constant", "hparams.optim.learning_rate_constant"]),
    ("trainer.max_stepz=3", ["trainer.max_stepz"]),
    ("problem.train_sise=3", ["problem.train_sise"]),
])
def test_bad_names_and_overrides(override, needles, tmp_path, run_cli):
    assert_one_line_error(run_cli([override, f"data_dir={tmp_path}/data"]), *needles)
    assert not (tmp_path / "outputs").exists() and not (tmp_path / "data").exists()


def test_unusable_data_dir(tmp_path, run_cli):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    assert_one_line_error(run_cli(tiny([f"data_dir={blocker}"])), "data_dir", "is a file")
    assert blocker.read_text() == "not a folder"


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_data_dir(tmp_path, run_cli):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    assert_one_line_error(run_cli(tiny([f"data_dir={locked}/sub"])), "data_dir")


def test_missing_checkpoint(tmp_path, run_cli):
    result = run_cli(tiny([f"data_dir={tmp_path}/data", f"ckpt_path={tmp_path}/nope.ckpt"]))
    assert_one_line_error(result, "nope.ckpt", "does not exist")


def test_checkpoint_of_another_model(tmp_path, run_cli, trained_checkpoint):
    before = trained_checkpoint.read_bytes()
    result = run_cli(tiny([f"data_dir={tmp_path}/data", "hydra.run.dir=second", f"ckpt_path={trained_checkpoint}",
                           "hparams.model.hidden_size=24"]))
    assert_one_line_error(result, "another model hparams")
    assert trained_checkpoint.read_bytes() == before
    assert not list((tmp_path / "second").rglob("*.ckpt"))


def test_checkpoint_of_other_problem_settings(tmp_path, run_cli, trained_checkpoint):
    before = trained_checkpoint.read_bytes()
    result = run_cli(tiny([f"data_dir={tmp_path}/data", "hydra.run.dir=second", f"ckpt_path={trained_checkpoint}",
                           "problem.train_size=100"]))
    assert_one_line_error(result, "another problem settings", "train_size")
    assert trained_checkpoint.read_bytes() == before


def test_unknown_problem_setting_at_runtime_is_one_line(tmp_path, run_cli):
    assert_one_line_error(run_cli(tiny([f"data_dir={tmp_path}/data", "+problem.nonsense=1"])), "nonsense", "train_size")


def test_datagen_prepares_only_the_data(tmp_path, run_cli):
    code, out, err = run_cli(["problem=algorithmic_sort_problem", "problem.train_size=50", "problem.dev_size=5",
                              f"data_dir={tmp_path}/data"], main=datagen_main, program="t2t-datagen")
    assert code == 0, err[-2000:]
    assert "Prepared algorithmic_sort_problem" in out
    # One cache folder per split and fingerprint (`<split>.<fingerprint>/`, example_cache.py), each with its manifest.
    root = tmp_path / "data" / "algorithmic_sort_problem"
    manifests = {path.parent.name: json.loads(path.read_text()) for path in root.glob("*/manifest.json")}
    assert sorted(name.split(".")[0] for name in manifests) == ["dev", "train"], sorted(manifests)
    for folder, manifest in manifests.items():
        split = folder.split(".")[0]
        assert manifest["fingerprint"] == folder
        assert manifest["num_examples"] == {"train": 50, "dev": 5}[split]
    problem = registry.problem("algorithmic_sort_problem", train_size=50, dev_size=5)
    assert sorted(problem.split_cache(split, tmp_path / "data").path.name for split in problem.splits) \
        == sorted(manifests)  # the folders the trainer reads for these settings
    assert len(problem.dataset("train", tmp_path / "data")) == 50
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # no run directory, no logs

    bad = run_cli(["problem=algorithmic_sort_problm"], main=datagen_main, program="t2t-datagen")
    assert_one_line_error(bad, "algorithmic_sort_problem", program="t2t-datagen")


@pytest.mark.parametrize(("make_args", "needles"), [
    (lambda t: ["trainer.max_steps=ten"], ["trainer.max_steps must be a whole number", "'ten'"]),
    (lambda t: ["hparams.model.num_heads=3"], ["num_heads=3 does not divide", "hidden_size=16", "[1, 2, 4, 8, 16]"]),
    (lambda t: ["hparams.model.hiden_size=8"], ["unknown config key 'hparams.model.hiden_size'",
                                                "Did you mean: hparams.model.hidden_size"]),
    (lambda t: [f"hydra.run.dir={t / 'a_file' / 'run'}"], ["hydra.run.dir", "lies under the file", "a_file"]),
    (lambda t: ["-m", "seed=range(5,1)"], ["the sweep 'seed=range(5,1)' has no values"]),
    (lambda t: [f"ckpt_path={t / 'a_file'}"], ["cannot read checkpoint", "not a file written by torch.save"]),
])
def test_settings_that_used_to_fail_late_with_a_traceback_are_one_line_before_any_work(make_args, needles, tmp_path,
                                                                                        run_cli):
    (tmp_path / "a_file").write_text("not a checkpoint")
    args = make_args(tmp_path)
    overrides = [a for a in tiny([f"data_dir={tmp_path}/data"]) if a.split("=")[0] not in
                 {a.split("=")[0] for a in args}]
    result = run_cli([*overrides, *args])
    assert_one_line_error(result, *needles)
    assert "weights_only" not in result[2]  # never torch's advice to load a file unsafely
    assert not (tmp_path / "data").exists() and not (tmp_path / "outputs").exists()  # nothing prepared or made
    assert (tmp_path / "a_file").read_text() == "not a checkpoint"


def test_a_model_config_check_is_one_line_before_any_work(run_cli, tmp_path):
    """A body's own check (`__post_init__` raising ValueError) reaches the user as one line, exit 2."""
    result = run_cli([f"data_dir={tmp_path}/data", "problem=image_digits", "model=shake_shake",
                      "hparams=shakeshake_small", "hparams.model.num_hidden_layers=7"])
    assert_one_line_error(result, "hparams.model: model.num_hidden_layers must be 6n + 2", "got 7")
    assert not (tmp_path / "data").exists()
