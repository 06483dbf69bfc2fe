"""`init_from=` a run directory or a missing file (t2t_torch/checkpoints/best.py `resolve_checkpoint`,
t2t_torch/run/warm_start.py): one line naming what `init_from` takes, `<run>/checkpoints/last.ckpt` or `<run>/best`,
never `ckpt_path=` (which resumes a run instead of starting one from its weights)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from t2t_torch.checkpoints.best import resolve_checkpoint
from t2t_torch.errors import T2TUserError
from t2t_torch.run.warm_start import warm_start
from tests.fixtures.helpers import compose, tiny


@pytest.fixture
def run_dir(tmp_path) -> Path:
    """A run directory as t2t-train leaves it (only the checkpoint's name matters here)."""
    (tmp_path / "pretrain" / "checkpoints").mkdir(parents=True)
    (tmp_path / "pretrain" / "checkpoints" / "last.ckpt").write_bytes(b"")
    return tmp_path / "pretrain"


def message(error: pytest.ExceptionInfo) -> str:
    text = str(error.value)
    assert "\n" not in text and "ckpt_path" not in text
    return text


def test_a_run_directory_names_its_last_and_best_checkpoints(run_dir, tmp_path):
    with pytest.raises(T2TUserError) as error:
        compose(tiny([f"init_from={run_dir}"]), tmp_path)  # what train.py checks before anything runs
    text = message(error)
    assert f"'{run_dir}' is a folder" in text and f"{run_dir}/checkpoints/last.ckpt" in text
    assert f"{run_dir}/best" in text
    with pytest.raises(T2TUserError) as error:
        warm_start(torch.nn.Linear(1, 1), "transformer", run_dir, {}, set())
    text = message(error)
    assert f"init_from={run_dir}/checkpoints/last.ckpt" in text and f"init_from={run_dir}/best" in text
    with pytest.raises(T2TUserError) as error:  # its checkpoints/ folder: the same two
        resolve_checkpoint(run_dir / "checkpoints", key="init_from")
    assert f"init_from={run_dir}/checkpoints/last.ckpt" in message(error)


def test_a_missing_file_names_what_to_pass(tmp_path):
    missing = tmp_path / "missing.ckpt"
    with pytest.raises(T2TUserError) as error:
        compose(tiny([f"init_from={missing}"]), tmp_path)
    text = message(error)
    assert f"'{missing}' does not exist" in text and "<run dir>/checkpoints/last.ckpt" in text
    assert "<run dir>/best" in text
    with pytest.raises(T2TUserError) as error:
        warm_start(torch.nn.Linear(1, 1), "transformer", missing, {}, set())
    assert "init_from=<run dir>/checkpoints/last.ckpt" in message(error)


def test_decoding_names_ckpt_path_and_files_pass_unchanged(run_dir):
    with pytest.raises(T2TUserError, match=f"pass ckpt_path={run_dir}/checkpoints/last.ckpt"):
        resolve_checkpoint(run_dir, key="ckpt_path")
    assert resolve_checkpoint(run_dir / "checkpoints" / "last.ckpt") == run_dir / "checkpoints" / "last.ckpt"
