"""A real Lightning DDP run on CPU (2 processes, gloo): the `trainer=ddp_cpu` preset trains, shards the data,
evaluates with metrics reduced across processes, and writes one checkpoint."""

import subprocess
import sys
from pathlib import Path

from helpers import tiny

REPO = Path(__file__).resolve().parents[1]


def test_ddp_on_two_cpu_processes(tmp_path):
    args = [sys.executable, str(REPO / "train.py"), *tiny(["trainer=ddp_cpu", "trainer.max_steps=6",
            "trainer.val_check_interval=3", f"data_dir={tmp_path}/data", "hydra.run.dir=run"])]
    args.remove("trainer.devices=1")
    result = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert output.count("Train batches per epoch") == 2  # one data shard per process
    assert "eval/accuracy_per_sequence" in output
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()
