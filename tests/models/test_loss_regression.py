"""Numeric regression guard (torchtitan's habit): the first 20 training losses of a seeded tiny run through the real
training path must match the checked-in values. After an intended numeric change, regenerate them with
`python -m tests.models.test_loss_regression --update` and say why in the commit message.

The run is pinned so that only a change in what is computed can move it, not the machine it runs on: float64
(`trainer.precision=64-true`), one torch thread and deterministic algorithms. Kernels still differ between CPUs
(AVX2 vs AVX-512 paths sum in other orders), which in float64 moves a loss by ~1e-12 and, amplified over 20 Adam
steps, stays far below 1e-7; a real change (another initialization, mask, loss, schedule or data order) moves the
losses by 1e-4 or more. Hence the tolerance: relative 1e-7.
"""

import csv
import json
import sys
from pathlib import Path

import pytest
import torch

from t2t_torch.run.train import train
from tests.fixtures.helpers import compose, tiny

EXPECTED = Path(__file__).resolve().parents[1] / "data" / "tiny_run_losses.json"
RUN = ["trainer.max_steps=20", "trainer.log_every_n_steps=1", "trainer.val_check_interval=20", "seed=7",
       "problem.train_size=400", "trainer.precision=64-true"]
RELATIVE_TOLERANCE = 1e-7
DIGITS = 10


@pytest.fixture
def pinned_numerics():
    """One thread and deterministic algorithms for the test (restored after)."""
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(deterministic)


def first_losses(tmp_path: Path) -> list[float]:
    train(compose(tiny(RUN), tmp_path))
    with open(tmp_path / "run" / "csv" / "version_0" / "metrics.csv") as handle:
        rows = [r for r in csv.DictReader(handle) if r.get("train/loss")]
    return [round(float(r["train/loss"]), DIGITS) for r in sorted(rows, key=lambda r: int(r["step"]))]


def test_first_losses_match_checked_in_values(tmp_path, pinned_numerics):
    expected = json.loads(EXPECTED.read_text())["losses"]
    got = first_losses(tmp_path)
    assert len(got) == len(expected) == 20
    assert all(abs(a - b) <= RELATIVE_TOLERANCE * max(1.0, abs(b)) for a, b in zip(got, expected, strict=True)), \
        list(zip(got, expected, strict=True))


if __name__ == "__main__" and "--update" in sys.argv:
    import tempfile

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    with tempfile.TemporaryDirectory() as tmp:
        losses = first_losses(Path(tmp))
    EXPECTED.write_text(json.dumps({"overrides": tiny(RUN), "losses": losses}, indent=1) + "\n")
    print(f"wrote {len(losses)} losses to {EXPECTED}")
