"""Hydra multirun over any key through the real command line (`python train.py -m a=1,2 hparams=x`), on a tiny
problem: every combination trains in its own run directory and ends with a final checkpoint.

The parallel-process launcher (`hydra/launcher=local_parallel`, joblib) runs a 2-trial Optuna sweep with n_jobs=2.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.fixtures.helpers import TINY_PROBLEM

REPO = Path(__file__).resolve().parents[2]
TINY = [
    *TINY_PROBLEM, "hparams=transformer_tiny", "hparams.model.hidden_size=16", "hparams.model.filter_size=32",
    "hparams.model.num_heads=2", "trainer.max_steps=3", "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
]


def run_train(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "train.py"), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def test_multirun_over_a_key_trains_every_combination(tmp_path: Path) -> None:
    sweep = tmp_path / "multirun"
    result = run_train(["-m", "hparams.optim.learning_rate_constant=0.1,0.2", *TINY,
                        f"data_dir={tmp_path / 'data'}", f"hydra.sweep.dir={sweep}"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    for job, lr in ((0, 0.1), (1, 0.2)):
        assert (sweep / str(job) / "checkpoints" / "last.ckpt").is_file()
        overrides = (sweep / str(job) / ".hydra" / "overrides.yaml").read_text()
        assert f"hparams.optim.learning_rate_constant={lr}" in overrides


def test_local_parallel_launcher_runs_trials_as_processes(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    result = run_train(["hparams_search=algorithmic_tiny_range", "hydra/launcher=local_parallel",
                        "hydra.sweeper.n_jobs=2", "hydra.sweeper.n_trials=2", *TINY,
                        f"data_dir={tmp_path / 'data'}", f"hydra.sweep.dir={sweep}"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Joblib.Parallel(n_jobs=2" in result.stdout + result.stderr  # the trials ran in 2 worker processes
    for n in (0, 1):
        assert (sweep / f"trial_{n}" / "checkpoints" / "last.ckpt").is_file()
    rows = (sweep / "results.csv").read_text().splitlines()
    assert len(rows) == 3 and all(",COMPLETE," in row for row in rows[1:])
