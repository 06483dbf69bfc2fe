"""The Optuna study behind a sweep, kept in `<sweep dir>/optuna.db`, and how a rerun resumes it.

T2T's tuner ran on Cloud ML Engine, which kept the trials; here an SQLite Optuna storage in the sweep directory
keeps them, so rerunning the same command resumes the sweep:
- trials that completed are kept and count towards `n_trials` (they are not run again);
- trials left RUNNING by an interrupted sweep (Ctrl-C, a killed job) run again in place: same number, same
  parameters, same directory, so training resumes from that trial's `last.ckpt`;
- trials that FAILED (raised) are retried once, with the same parameters, as new trials;
- the rerun must be the same sweep (objective, direction, ranges, command-line overrides: `SweepPlan.fingerprint`);
  `n_trials`, `n_jobs` and the launcher may change, so a finished sweep grows with a larger `n_trials`.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState

from t2t_torch.errors import T2TUserError
from t2t_torch.sweeps.plan import SweepPlan
from t2t_torch.sweeps.search_space import ParamRange

FINGERPRINT_ATTR = "t2t_sweep"
RETRY_OF_ATTR = "retry_of"


def default_storage(sweep_dir: Path) -> str:
    return f"sqlite:///{(sweep_dir / 'optuna.db').resolve()}"


@contextmanager
def sweep_lock(sweep_dir: Path) -> Iterator[None]:
    """One sweep process per sweep directory: a second one would take the first one's RUNNING trials for stale."""
    path = sweep_dir / ".sweep.lock"
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            raise T2TUserError(f"another sweep (pid {handle.read().strip() or '?'}) is running in {sweep_dir}: wait for"
                               " it, or start this one elsewhere with hydra.sweep.dir=<dir>") from None
        handle.truncate(0)
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def distribution(param: ParamRange) -> BaseDistribution:
    if param.kind == "categorical":
        return CategoricalDistribution(list(param.choices))
    if param.kind == "int":
        return IntDistribution(int(param.low), int(param.high), log=param.log, step=int(param.step or 1))
    return FloatDistribution(float(param.low), float(param.high), log=param.log, step=param.step)


def distributions(space: Mapping[str, ParamRange]) -> dict[str, BaseDistribution]:
    return {key: distribution(param) for key, param in space.items()}


def make_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def open_study(plan: SweepPlan, storage: str, sampler: str, seed: int) -> optuna.Study:
    """Create the study, or load it for a rerun after checking that it is the same sweep.

    The sampler's seed moves on by the number of trials already stored, so a resumed sweep does not draw the same
    parameters again, while the same history still gives the same draws."""
    study = optuna.create_study(storage=storage, study_name=plan.study_name, direction=plan.direction,
                                load_if_exists=True)
    wanted = json.dumps(plan.fingerprint(), sort_keys=True)
    stored = study.user_attrs.get(FINGERPRINT_ATTR)
    if stored is None:
        study.set_user_attr(FINGERPRINT_ATTR, wanted)
    elif stored != wanted:
        raise T2TUserError(f"study '{plan.study_name}' in {storage.removeprefix('sqlite:///')} was run with another "
                           f"{_first_difference(json.loads(stored), plan.fingerprint())}: rerun it with its own command"
                           " line, or start a new sweep with hydra.sweep.dir=<new dir>")
    study.sampler = make_sampler(sampler, seed + len(study.get_trials(deepcopy=False)))
    return study


def _first_difference(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    what = {"objective": "objective", "direction": "direction", "fixed": "command line", "space": "search space"}
    for key, word in what.items():
        if old.get(key) != new.get(key):
            return f"{word} ({old.get(key)} vs now {new.get(key)})"
    return "configuration"


def interrupted_trials(study: optuna.Study) -> list[FrozenTrial]:
    """Trials an interrupted run left RUNNING (the sweep lock makes sure no other process is running them)."""
    return study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))


def enqueue_retries(study: optuna.Study) -> list[int]:
    """Queue one retry (same parameters) for each failed trial that is not itself a retry and has none yet."""
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get(RETRY_OF_ATTR) for t in trials}
    queued = []
    for trial in trials:
        if trial.state == TrialState.FAIL and RETRY_OF_ATTR not in trial.user_attrs and trial.number not in retried:
            study.enqueue_trial(dict(trial.params), user_attrs={RETRY_OF_ATTR: trial.number})
            queued.append(trial.number)
    return queued


def count_complete(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
