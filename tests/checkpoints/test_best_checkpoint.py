"""`ckpt_path=best` (t2t_torch/checkpoints/best.py) on a real tiny run validated three times: it names the
best-<step>.ckpt of the step with the lowest logged eval/loss, `mode=eval` and `decode.py` use it, and a run or folder
without one (or with several and no last.ckpt to tell) is one line."""

import csv
import json
import shutil

import pytest
import torch
from omegaconf import OmegaConf

from t2t_torch.checkpoints.best import resolve_checkpoint
from t2t_torch.errors import T2TUserError
from t2t_torch.run.decode import decode
from t2t_torch.run.evaluate import evaluate
from t2t_torch.run.train import train
from tests.fixtures.helpers import compose, tiny

RUN = ["trainer.max_steps=6", "trainer.val_check_interval=2"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("best")
    torch.set_num_threads(1)
    train(compose(tiny(RUN), tmp))
    return tmp


def lowest_eval_loss(run_dir):
    with open(next(run_dir.glob("**/metrics.csv")), encoding="utf-8") as handle:
        losses = [float(r["eval/loss"]) for r in csv.DictReader(handle) if r.get("eval/loss")]
    assert len(losses) >= 3  # the validations at steps 2, 4, 6 (and the final evaluation)
    return min(losses)


def best_state(path):
    states = torch.load(path, weights_only=False)["callbacks"]
    return next(v for k, v in states.items() if "ModelCheckpoint" in k and "best-" in v["best_model_path"])


def test_best_names_the_checkpoint_of_the_lowest_eval_loss(run):
    run_dir = run / "run"
    resolved = resolve_checkpoint(run_dir / "best")
    assert resolved.parent == run_dir / "checkpoints" and resolved.name.startswith("best-")
    state = best_state(run_dir / "checkpoints" / "last.ckpt")
    assert state["monitor"] == "eval/loss" and resolved.name == state["best_model_path"].rsplit("/", 1)[-1]
    assert float(state["best_model_score"]) == pytest.approx(lowest_eval_loss(run_dir), rel=1e-6)
    assert torch.load(resolved, weights_only=False)["global_step"] == int(resolved.stem.split("-")[1])
    assert resolve_checkpoint(run_dir / "checkpoints" / "best") == resolved
    assert resolve_checkpoint("best", run_dir) == resolved
    assert resolve_checkpoint(run_dir / "checkpoints" / "last.ckpt") == run_dir / "checkpoints" / "last.ckpt"


def test_mode_eval_and_decode_use_the_best_checkpoint(run):
    step = int(resolve_checkpoint(run / "run" / "best").stem.split("-")[1])
    metrics = evaluate(compose(tiny([*RUN, "mode=eval", "ckpt_path=best"]), run))
    report = json.loads((run / "run" / "eval" / f"dev-step{step}.json").read_text())
    assert report["metrics"] == metrics and report["step"] == step
    cfg = compose([f"ckpt_path={run / 'run' / 'best'}", "device=cpu", "decode.num_samples=4", "decode.beam_size=1"],
                  run / "decode", "decode")
    cfg.data_dir = None
    OmegaConf.update(cfg, "output_dir", str(run / "decodes"))
    assert decode(cfg)["lines"] == 4


def test_a_missing_or_ambiguous_best_checkpoint_is_one_line(run, tmp_path):
    with pytest.raises(T2TUserError, match="needs a run: pass ckpt_path=<run dir>/best"):
        resolve_checkpoint("best")
    with pytest.raises(T2TUserError, match="no best-<step>.ckpt in"):
        resolve_checkpoint(tmp_path / "best")
    source = run / "run" / "checkpoints"
    best = resolve_checkpoint(source / "best")
    copied = tmp_path / "merged" / "checkpoints"
    copied.mkdir(parents=True)
    shutil.copy(best, copied / best.name)
    shutil.copy(best, copied / "best-999.ckpt")
    with pytest.raises(T2TUserError, match="holds 2 best-\\*.ckpt files"):
        resolve_checkpoint(copied.parent / "best")
    shutil.copy(source / "last.ckpt", copied / "last.ckpt")  # it records the run's own best
    assert resolve_checkpoint(copied.parent / "best") == copied / best.name


def test_training_from_best_is_refused_before_any_work(tmp_path):
    with pytest.raises(T2TUserError, match="ckpt_path=best evaluates or decodes a run's best checkpoint"):
        compose(tiny([*RUN, "ckpt_path=best"]), tmp_path)
    assert not (tmp_path / "data").exists()
