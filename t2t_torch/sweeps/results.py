"""A sweep's report in its directory: `results.csv`, `results.md` and `best.yaml` (T2T's tuner left these to the
Cloud ML Engine console).

- `results.csv` / `results.md`: one row per trial (number, state, objective, parameters, minutes, directory,
  the trial it retried, why it failed), rewritten after every batch so an interrupted sweep still has its table;
- `best.yaml`: the best trial's full configuration (its `.hydra/config.yaml`), ready to run with
  `python train.py --config-dir <sweep dir> --config-name best [key=value ...]`; it trains in `<sweep dir>/best_run`.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import optuna
from omegaconf import OmegaConf
from optuna.trial import FrozenTrial, TrialState

from t2t_torch.sweeps.plan import SweepPlan
from t2t_torch.sweeps.study import RETRY_OF_ATTR, trial_errors

BEST_CONFIG = "best.yaml"
BEST_RUN_DIR = "best_run"


def trial_dir_name(number: int) -> str:
    return f"trial_{number}"


def _rows(study: optuna.Study, plan: SweepPlan) -> list[dict[str, Any]]:
    errors = trial_errors(study)
    rows = []
    for trial in study.get_trials(deepcopy=False):
        if trial.state == TrialState.WAITING:
            continue
        minutes = None
        if trial.datetime_start and trial.datetime_complete:
            minutes = round((trial.datetime_complete - trial.datetime_start).total_seconds() / 60, 2)
        rows.append({"trial": trial.number, "state": trial.state.name, plan.objective: trial.value,
                     **{key: trial.params.get(key) for key in plan.space}, "minutes": minutes,
                     "dir": trial_dir_name(trial.number), "retry_of": trial.user_attrs.get(RETRY_OF_ATTR),
                     "error": errors.get(trial.number, {}).get("message") if trial.state == TrialState.FAIL else None})
    return rows


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.value is not None]
    return study.best_trial if complete else None


def write_results(study: optuna.Study, plan: SweepPlan, sweep_dir: Path) -> None:
    """Write results.csv and results.md (the best trial marked with *)."""
    rows = _rows(study, plan)
    columns = ["trial", "state", plan.objective, *plan.space, "minutes", "dir", "retry_of", "error"]
    with open(sweep_dir / "results.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    best = best_trial(study)
    lines = [f"# Sweep `{plan.study_name}`: {plan.direction} `{plan.objective}`", "",
             f"{sum(r['state'] == 'COMPLETE' for r in rows)} complete of {len(rows)} trials."
             + (f" Best: trial {best.number} ({plan.objective} = {_cell(best.value)})." if best else ""), "",
             "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        mark = "*" if best is not None and row["trial"] == best.number else ""
        lines.append("| " + " | ".join(_cell(row[c]) + (mark if c == "trial" else "") for c in columns) + " |")
    (sweep_dir / "results.md").write_text("\n".join(lines) + "\n")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.6g}"
    return str(value).replace("|", "\\|")


def write_best_config(study: optuna.Study, plan: SweepPlan, sweep_dir: Path) -> Path | None:
    """Write best.yaml from the best trial's saved config; None while no trial has completed."""
    best = best_trial(study)
    if best is None:
        return None
    saved = sweep_dir / trial_dir_name(best.number) / ".hydra" / "config.yaml"
    if not saved.is_file():
        return None  # e.g. hydra.output_subdir=null: the trial kept no config
    config = OmegaConf.load(saved)
    OmegaConf.update(config, "hydra.run.dir", str((sweep_dir / BEST_RUN_DIR).resolve()), force_add=True)
    searched = "\n".join(f"#   {key}: {best.params[key]}" for key in plan.space if key in best.params)
    header = (
        f"# Best trial of sweep '{plan.study_name}': {trial_dir_name(best.number)}, {plan.objective} = {best.value}"
        f" ({plan.direction}d over {len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))}"
        " complete trials).\n"
        f"# Run it: python train.py --config-dir {sweep_dir.resolve()} --config-name best [key=value ...]\n"
        f"# (it trains in {BEST_RUN_DIR}/ beside this file). The searched values:\n{searched}\n"
    )
    if config.get("usr_dir"):
        header += f"# This run imports usr_dir: add usr_dir={config.usr_dir} to the command line.\n"
    path = sweep_dir / BEST_CONFIG
    path.write_text(header + OmegaConf.to_yaml(config))
    return path
