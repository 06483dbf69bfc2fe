"""A user's own folder (T2T's --t2t_usr_dir): its problem registers by name and its hparams YAML joins the
`hparams` config group — tested by copying examples/my_t2t into a temporary folder outside the package."""

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TINY = ["hparams.model.hidden_size=16", "hparams.model.filter_size=32", "hparams.model.num_heads=2",
        "hparams.optim.learning_rate_warmup_steps=1", "problem.train_size=60", "problem.dev_size=8",
        "trainer.max_steps=3", "trainer.val_check_interval=3", "trainer.enable_progress_bar=false",
        "trainer.accelerator=cpu"]


def test_usr_dir_problem_and_hparams_train(tmp_path):
    usr_dir = tmp_path / "elsewhere" / "my_t2t"
    shutil.copytree(REPO / "examples" / "my_t2t", usr_dir)
    args = [sys.executable, str(REPO / "train.py"), f"usr_dir={usr_dir}", "problem=word_reverse",
            "hparams=transformer_word_tiny", f"data_dir={tmp_path}/data", "hydra.run.dir=run", *TINY]
    result = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()
    assert "word_reverse" in (tmp_path / "run" / "config.yaml").read_text()

    listing = subprocess.run(["t2t-registry", f"usr_dir={usr_dir}"], capture_output=True,
                             text=True, check=True)
    assert "word_reverse" in listing.stdout and "transformer_word_tiny" in listing.stdout


def test_missing_usr_dir_is_one_line(tmp_path):
    result = subprocess.run([sys.executable, str(REPO / "train.py"), f"usr_dir={tmp_path}/nope"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "usr_dir" in result.stderr
