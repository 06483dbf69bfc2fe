"""Bad input on the command line: one clear line naming the fix, exit status 2, nothing written or lost."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import tiny

REPO = Path(__file__).resolve().parents[1]


def run_train(args, cwd, timeout=240):
    return subprocess.run([sys.executable, str(REPO / "train.py"), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def assert_one_line_error(result, *needles):
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("t2t-train: error:"), result.stderr[-2000:]
    for needle in needles:
        assert needle in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("override", "needles"), [
    ("problem=algorithmic_reverse_binary4", ["unknown problem", "algorithmic_reverse_binary40"]),
    ("model=transfomer", ["unknown model", "transformer"]),
    ("hparams=transformer_tiyn", ["unknown hparams set", "transformer_tiny"]),
    ("trainer=gpuu", ["unknown trainer preset", "gpu"]),
    ("hparams.learning_rate_constant=0.1", ["hparams.learning_rate_constant", "hparams.optim.learning_rate_constant"]),
    ("trainer.max_stepz=3", ["trainer.max_stepz"]),
    ("problem.train_sise=3", ["problem.train_sise"]),
])
def test_bad_names_and_overrides(override, needles, tmp_path):
    result = run_train([override, f"data_dir={tmp_path}/data"], tmp_path)
    assert_one_line_error(result, *needles)
    assert not (tmp_path / "outputs").exists()


def test_unusable_data_dir(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    result = run_train(tiny([f"data_dir={blocker}"]), tmp_path)
    assert_one_line_error(result, "data_dir", "is a file")
    assert blocker.read_text() == "not a folder"


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_data_dir(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    assert_one_line_error(run_train(tiny([f"data_dir={locked}/sub"]), tmp_path), "data_dir")


def test_missing_checkpoint(tmp_path):
    result = run_train(tiny([f"data_dir={tmp_path}/data", f"ckpt_path={tmp_path}/nope.ckpt"]), tmp_path)
    assert_one_line_error(result, "nope.ckpt", "does not exist")


def test_checkpoint_of_another_model(tmp_path):
    first = run_train(tiny([f"data_dir={tmp_path}/data", "hydra.run.dir=first"]), tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    ckpt = tmp_path / "first" / "checkpoints" / "last.ckpt"
    assert ckpt.is_file()
    before = ckpt.read_bytes()
    other = run_train(tiny([f"data_dir={tmp_path}/data", "hydra.run.dir=second", f"ckpt_path={ckpt}",
                            "hparams.model.hidden_size=24"]), tmp_path)
    assert_one_line_error(other, "another model hparams")
    assert ckpt.read_bytes() == before


def test_unknown_problem_setting_at_runtime_is_one_line(tmp_path):
    result = run_train(tiny([f"data_dir={tmp_path}/data", "+problem.nonsense=1"]), tmp_path)
    assert_one_line_error(result, "nonsense", "train_size")


def test_datagen_prepares_only_the_data(tmp_path):
    result = subprocess.run(["t2t-datagen", "problem=algorithmic_sort_problem", "problem.train_size=50",
                             "problem.dev_size=5", f"data_dir={tmp_path}/data"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "data" / "algorithmic_sort_problem" / "train" / "manifest.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # no run directory, no logs
    bad = subprocess.run(["t2t-datagen", "problem=algorithmic_sort_problm"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2 and "algorithmic_sort_problem" in bad.stderr and bad.stderr.count("\n") == 1
