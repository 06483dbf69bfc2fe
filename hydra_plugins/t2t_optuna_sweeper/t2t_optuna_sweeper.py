"""Hydra sweeper `hydra/sweeper=t2t_optuna`: T2T's hyperparameter tuner (`--hparams_range`, `--autotune_objective`,
`--autotune_maximize`, `--autotune_max_trials`, `--autotune_parallel_trials`) over current Optuna (5.x, ask/tell).

Why a sweeper of our own rather than hydra-optuna-sweeper (1.3.0, the newest; checked 2026-11 on this stack):
- it requires optuna<3.0. pip resolves optuna 2.10.1 with SQLAlchemy 2.1.9, and optuna 2.10's RDB storage then fails
  on the first SQLite access (`AssertionError` in `get_current_version`); it worked only with SQLAlchemy 1.4.54 and
  alembic 1.13.3 pinned as well (alembic 1.20 requires SQLAlchemy>=2): three stale pins beside torch 2.11;
- even pinned so, rerunning a sweep on its storage does not resume it: every run asks `n_trials` more trials,
  numbers its jobs from 0 again (in a fixed sweep dir: into the first run's trial directories), and neither
  finishes interrupted trials nor retries failed ones;
- its ranges are a string DSL (`tag(log, interval(0.3, 3.0))`); ours are YAML mappings
  (`t2t_torch.sweeps.search_space`).

How a sweep runs: the plan is checked (`t2t_torch.sweeps.plan`, one line and exit status 2 on bad input, before any
trial); the study lives in `<sweep dir>/optuna.db` (`hydra.sweeper.storage` to use another Optuna storage URL) and
resumes as `t2t_torch.sweeps.study` describes; each batch asks `n_jobs` trials and hands them to the launcher at once
(basic: one after another in this process; `hydra/launcher=local_parallel`: joblib processes; `hydra/launcher=slurm`:
submitit jobs); trial N runs in `<sweep dir>/trial_N` (this sweeper sets `hydra.sweep.subdir`); a trial that raises
counts against `max_failures` (one that raised a `T2TUserError`, bad input such as a sampled warmup longer than the
run, is reported in one line); a trial that ends without metrics (SIGTERM) stops the sweep, to be resumed; after every
batch `results.csv`, `results.md` and `best.yaml` are rewritten (`t2t_torch.sweeps.results`). This module is imported
by Hydra's plugin scan at every start, so it imports Optuna and t2t_torch only when a sweep runs. (No
`from __future__ import annotations` here: Hydra's scan runs this module before putting it in sys.modules, and
dataclasses then cannot resolve string annotations.)
"""

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.plugins import Plugins
from hydra.core.utils import JobStatus
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

log = logging.getLogger(__name__)


@dataclass
class T2TOptunaSweeperConf:
    _target_: str = "hydra_plugins.t2t_optuna_sweeper.t2t_optuna_sweeper.T2TOptunaSweeper"
    direction: str = "maximize"  # or minimize (T2T's --autotune_maximize)
    n_trials: int = 20  # complete trials to reach, counting those of earlier runs (--autotune_max_trials)
    n_jobs: int = 1  # trials per batch, run in parallel by a parallel launcher (--autotune_parallel_trials)
    max_failures: int = 0  # failed trials tolerated in one run before the sweep stops
    sampler: str = "tpe"  # tpe | random
    seed: int = 0
    study_name: str | None = None  # default: the hparams_search name
    storage: str | None = None  # default: sqlite:///<sweep dir>/optuna.db
    params: dict[str, Any] = field(default_factory=dict)  # key -> {type, low, high, log, step, choices}


ConfigStore.instance().store(group="hydra/sweeper", name="t2t_optuna", node=T2TOptunaSweeperConf, provider="t2t_torch")


class T2TOptunaSweeper(Sweeper):
    """Ask/tell loop over a Hydra launcher; settings are read from `hydra.sweeper` of the composed config."""

    def __init__(self, **settings: Any) -> None:  # the T2TOptunaSweeperConf fields; read from self.config instead
        self.config: DictConfig | None = None
        self.launcher = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(config=config, hydra_context=hydra_context,
                                                                task_function=task_function)

    def sweep(self, arguments: list[str]) -> Any:
        from t2t_torch.errors import T2TUserError

        try:
            return self._sweep(arguments)
        except T2TUserError as error:  # one line, as t2t-train prints its own errors
            print(f"t2t-train: error: {error}", file=sys.stderr)
            sys.exit(2)

    def _sweep(self, arguments: list[str]) -> dict[str, Any] | None:
        from t2t_torch.sweeps import results
        from t2t_torch.sweeps import study as studies
        from t2t_torch.sweeps.plan import make_plan

        assert self.config is not None
        plan = make_plan(self.config, arguments)
        settings = self.config.hydra.sweeper
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        storage = settings.storage or studies.default_storage(sweep_dir)
        with studies.sweep_lock(sweep_dir):
            study = studies.open_study(plan, storage, settings.sampler, int(settings.seed))
            log.info("Study '%s' in %s: %s %s over %s", plan.study_name, storage, plan.direction, plan.objective,
                     ", ".join(plan.space))
            try:
                self._run_trials(study, plan, int(settings.n_trials), int(settings.n_jobs), int(settings.max_failures))
            finally:
                results.write_results(study, plan, sweep_dir)
                best_config = results.write_best_config(study, plan, sweep_dir)
            best = results.best_trial(study)
        if best is None:
            return None
        log.info("Best trial %d: %s = %s with %s", best.number, plan.objective, best.value, best.params)
        log.info("Results: %s; best config: %s", sweep_dir / "results.md", best_config)
        return {"number": best.number, "value": best.value, "params": best.params}

    def _run_trials(self, study: Any, plan: Any, n_trials: int, n_jobs: int, max_failures: int) -> None:
        from t2t_torch.errors import T2TUserError
        from t2t_torch.sweeps import study as studies

        dists = studies.distributions(plan.space)
        resuming = [(t.number, dict(t.params)) for t in studies.interrupted_trials(study)]
        if resuming:
            log.info("Resuming interrupted trials in place: %s", [n for n, _ in resuming])
        retried = studies.enqueue_retries(study)
        if retried:
            log.info("Retrying failed trials with the same parameters: %s", retried)
        failed = []
        while True:
            batch, resuming = resuming[:n_jobs], resuming[n_jobs:]
            room = n_trials - studies.count_complete(study) - len(batch) - len(resuming)
            for _ in range(max(0, min(n_jobs - len(batch), room))):
                trial = study.ask(dists)
                batch.append((trial.number, dict(trial.params)))
            if not batch:
                return
            returns = self.launcher.launch([self._overrides(plan, n, p) for n, p in batch], initial_job_idx=batch[0][0])
            # JobReturn keeps a failed job's exception in _return_value; its return_value property would re-raise it
            outcomes = [studies.record(study, number, ret.status == JobStatus.COMPLETED, ret._return_value)
                        for (number, _), ret in zip(batch, returns, strict=True)]
            for outcome in outcomes:
                if outcome.state == "failed":
                    log.error("Trial %d failed: %s", outcome.number, outcome.message)
                    failed.append(outcome)
            stopped = [o.number for o in outcomes if o.state == "stopped"]
            if stopped:
                raise T2TUserError(f"trial(s) {stopped} stopped before their final evaluation (no {plan.objective});"
                                   " rerun the same command to resume them")
            if len(failed) > max_failures:
                last = failed[-1]
                if last.error is not None and not last.bad_input:
                    raise last.error  # a bug: keep its traceback
                raise T2TUserError(f"trial {last.number} failed: {last.message} ({len(failed)} failed in this run;"
                                   f" raise hydra.sweeper.max_failures={max_failures} to go on past such trials)")

    @staticmethod
    def _overrides(plan: Any, number: int, params: dict[str, Any]) -> list[str]:
        from t2t_torch.sweeps.results import trial_dir_name

        searched = [plan.space[key].override(value) for key, value in params.items() if key in plan.space]
        return [*plan.fixed, *searched, f"hydra.sweep.subdir={trial_dir_name(number)}"]
