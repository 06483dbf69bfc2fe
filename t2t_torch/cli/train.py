"""`t2t-train` / `python train.py` (T2T's t2t-trainer): train a model on a problem as configured (see README);
`mode=eval` evaluates the run's last.ckpt (or `ckpt_path=`) on `eval_split` without training, as `t2t-eval` does."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from t2t_torch.cli.app import run_app
from t2t_torch.errors import StoppedBySignal

PROGRAM = "t2t-train"


def train_or_evaluate(cfg: DictConfig) -> Any:
    """The task of `t2t-train` and `t2t-eval`: the final metrics, or with `objective=` (a sweep) the objective's
    value (None: stopped early; a missing metric is a one-line error)."""
    from t2t_torch.run.evaluate import evaluate
    from t2t_torch.run.train import train
    from t2t_torch.sweeps.plan import in_optuna_trial, objective_value

    if cfg.get("mode", "train") == "eval":
        return evaluate(cfg)
    try:
        metrics = train(cfg)
    except StoppedBySignal:
        if in_optuna_trial():
            return None  # the sweeper records the trial as stopped; a rerun resumes it in place
        raise
    objective = cfg.get("objective")
    if not objective:
        return metrics
    return objective_value(metrics, objective)


def main() -> None:
    run_app(PROGRAM, "train", train_or_evaluate)


if __name__ == "__main__":
    main()
