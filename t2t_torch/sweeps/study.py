"""The Optuna study behind a sweep, kept in `<sweep dir>/optuna.db`, and how a rerun resumes it.

T2T's tuner ran on Cloud ML Engine, which kept the trials; here an SQLite Optuna storage in the sweep directory
keeps them, so rerunning the same command resumes the sweep:
- trials that completed are kept and count towards `n_trials` (they are not run again);
- trials left RUNNING by an interrupted sweep (Ctrl-C, a killed job) run again in place: same number, same
  parameters, same directory, so training resumes from that trial's `last.ckpt`;
- trials that FAILED (raised) are retried once, with the same parameters, as new trials, except those that failed
  on bad input (a `T2TUserError`, e.g. a sampled warmup longer than the run): the same values would fail again;
- the rerun must be the same sweep (objective, direction, ranges, command-line overrides: `SweepPlan.fingerprint`);
  `n_trials`, `n_jobs` and the launcher may change, so a finished sweep grows with a larger `n_trials`.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState

from t2t_torch.errors import T2TUserError
from t2t_torch.sweeps.plan import SweepPlan
from t2t_torch.sweeps.search_space import ParamRange

FINGERPRINT_ATTR = "t2t_sweep"
ERRORS_ATTR = "t2t_errors"  # study attr: {trial number: {"message": first line, "input": a T2TUserError?}}
RETRY_OF_ATTR = "retry_of"


@dataclass(frozen=True)
class Outcome:
    """How a launched trial ended: "complete", "failed" (told FAIL) or "stopped" (left RUNNING, resumable)."""

    number: int
    state: str
    error: BaseException | None = None
    message: str = ""

    @property
    def bad_input(self) -> bool:
        return isinstance(self.error, T2TUserError)


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


def record(study: optuna.Study, number: int, completed: bool, result: Any) -> Outcome:
    """Tell the study how trial `number` ended; `result` is its objective value, or the exception it raised."""
    if completed and result is None:
        return Outcome(number, "stopped")  # no final metrics, e.g. after SIGTERM: resumed in place by a rerun
    if completed and isinstance(result, (int, float)) and not math.isnan(result):
        study.tell(number, float(result))
        return Outcome(number, "complete")
    error = None if completed else result
    message = f"objective = {result!r}, not a number (did it diverge?)" if completed else _first_line(result)
    errors = dict(study.user_attrs.get(ERRORS_ATTR, {}))
    errors[str(number)] = {"message": message, "input": isinstance(error, T2TUserError)}
    study.set_user_attr(ERRORS_ATTR, errors)
    study.tell(number, state=TrialState.FAIL)
    return Outcome(number, "failed", error, message)


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    line = lines[0] if lines else ""
    return line if isinstance(error, T2TUserError) else f"{type(error).__name__}: {line}"


def trial_errors(study: optuna.Study) -> dict[int, dict[str, Any]]:
    return {int(k): v for k, v in study.user_attrs.get(ERRORS_ATTR, {}).items()}


def enqueue_retries(study: optuna.Study) -> list[int]:
    """Queue one retry (same parameters) for each failed trial that is not itself a retry, did not fail on bad
    input and has no retry yet."""
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get(RETRY_OF_ATTR) for t in trials}
    bad_input = {n for n, e in trial_errors(study).items() if e.get("input")}
    queued = []
    for trial in trials:
        if (trial.state == TrialState.FAIL and RETRY_OF_ATTR not in trial.user_attrs and trial.number not in retried
                and trial.number not in bad_input):
            study.enqueue_trial(dict(trial.params), user_attrs={RETRY_OF_ATTR: trial.number})
            queued.append(trial.number)
    return queued


def count_complete(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
