"""Numeric regression guard (torchtitan's habit): the first 20 training losses of a seeded tiny run through the real
training path must match the checked-in values. After an intended numeric change, regenerate them with
`python tests/test_loss_regression.py --update` and say why in the commit message."""

import csv
import json
import sys
from pathlib import Path

from helpers import compose, tiny

from t2t_torch.train import train

EXPECTED = Path(__file__).parent / "data" / "tiny_run_losses.json"
RUN = ["trainer.max_steps=20", "trainer.log_every_n_steps=1", "trainer.val_check_interval=20", "seed=7",
       "problem.train_size=400"]


def first_losses(tmp_path: Path) -> list[float]:
    train(compose(tiny(RUN), tmp_path))
    with open(tmp_path / "run" / "csv" / "version_0" / "metrics.csv") as handle:
        rows = [r for r in csv.DictReader(handle) if r.get("train/loss")]
    return [round(float(r["train/loss"]), 6) for r in sorted(rows, key=lambda r: int(r["step"]))]


def test_first_losses_match_checked_in_values(tmp_path):
    expected = json.loads(EXPECTED.read_text())["losses"]
    got = first_losses(tmp_path)
    assert len(got) == len(expected) == 20
    assert all(abs(a - b) <= 2e-4 * max(1.0, abs(b)) for a, b in zip(got, expected)), list(zip(got, expected))


if __name__ == "__main__" and "--update" in sys.argv:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        losses = first_losses(Path(tmp))
    EXPECTED.write_text(json.dumps({"overrides": tiny(RUN), "losses": losses}, indent=1) + "\n")
    print(f"wrote {len(losses)} losses to {EXPECTED}")
