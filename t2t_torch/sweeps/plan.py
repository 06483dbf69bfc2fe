"""What an Optuna sweep will run, checked before any trial (T2T's `--hparams_range` / `--autotune_*` flags).

`make_plan(config, arguments)` turns the composed multirun config (with its `hydra` node) and the command-line task
overrides into a `SweepPlan`, or raises `T2TUserError` with one line that names the fix:
- a searched key that no run has (`hparams.<section>.<name>` is checked against the section's dataclass: the
  model's config, `OptimConfig`, `BatchingConfig`; any other key against the composed config);
- a malformed range (low >= high, a log range over values <= 0, ...: see `search_space`);
- an objective the run never logs (known up front: "eval/loss" and "eval/" + the problem's `eval_metrics`), a run
  that does not evaluate at the end, or a direction that contradicts the metric (maximizing eval/loss);
- bad sweeper settings (n_trials < 1, ...).

`t2t-train` calls `check_sweep_command` in its pre-flight, before Hydra starts; the sweeper calls `make_plan` again
when it starts, for runs that come in another way. In each trial, `objective_value` picks the objective from the
final metrics (one line when the run never logged it) and `in_optuna_trial` lets a trial's `T2TUserError` reach the
sweeper, which records it as that trial's failure.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from t2t_torch import registry
from t2t_torch.datamodules.batching import BatchingConfig
from t2t_torch.errors import T2TUserError, did_you_mean
from t2t_torch.metrics.logged_metrics import better as better_mode
from t2t_torch.metrics.logged_metrics import eval_metric_names
from t2t_torch.optim import OptimConfig
from t2t_torch.run.config_check import explain, first_choice_overrides
from t2t_torch.sweeps.search_space import ParamRange, parse_search_space, split_command_line

# How a composed config names our sweeper: the plugin's T2TOptunaSweeperConf._target_ (tests/sweeps/test_sweeps.py
# checks they agree). Not imported from there: the plugin imports this package, and the library stays below its plugin.
SWEEPER_TARGET = "hydra_plugins.t2t_optuna_sweeper.t2t_optuna_sweeper.T2TOptunaSweeper"
DIRECTIONS = ("maximize", "minimize")
SAMPLERS = ("tpe", "random")


@dataclass(frozen=True)
class SweepPlan:
    """A checked sweep: the study it writes, the ranges it searches and the overrides every trial keeps."""

    study_name: str
    objective: str
    direction: str
    space: dict[str, ParamRange]
    fixed: tuple[str, ...]  # command-line task overrides, applied to every trial as typed

    def fingerprint(self) -> dict[str, Any]:
        """What must stay the same for a rerun to resume this study (n_trials, n_jobs, launcher may change)."""
        return {"objective": self.objective, "direction": self.direction, "fixed": list(self.fixed),
                "space": {k: r.as_dict() for k, r in sorted(self.space.items())}}


def make_plan(config: DictConfig, arguments: Sequence[str]) -> SweepPlan:
    """Check the multirun `config` (hydra node included) and task overrides `arguments`; see module docstring."""
    sweeper = config.hydra.sweeper
    check_sweeper_settings(sweeper)
    fixed, command_line_space = split_command_line(arguments)
    space = parse_search_space(OmegaConf.to_container(sweeper.params, resolve=True) if sweeper.params else {})
    for key in list(space):  # a value fixed on the command line wins over the configured range
        if any(OverridesParser.create().parse_override(f).key_or_group == key for f in fixed):
            del space[key]
    space.update(command_line_space)
    if not space:
        raise T2TUserError("the sweep searches nothing: pick a search with hparams_search=<name> or list ranges under"
                           " hydra.sweeper.params")
    check_keys(space, config)
    objective = check_objective(config, sweeper.direction)
    choices = config.hydra.runtime.get("choices", {})
    name = sweeper.get("study_name") or choices.get("hparams_search") or "sweep"
    return SweepPlan(str(name), objective, str(sweeper.direction), space, tuple(fixed))


def check_sweeper_settings(sweeper: DictConfig) -> None:
    if sweeper.direction not in DIRECTIONS:
        raise T2TUserError(f"hydra.sweeper.direction must be maximize or minimize, got '{sweeper.direction}'")
    if sweeper.sampler not in SAMPLERS:
        raise T2TUserError(f"unknown hydra.sweeper.sampler '{sweeper.sampler}'."
                           f"{did_you_mean(sweeper.sampler, SAMPLERS)} Samplers: {', '.join(SAMPLERS)}")
    for name, least in (("n_trials", 1), ("n_jobs", 1), ("max_failures", 0)):
        if int(sweeper[name]) < least:
            raise T2TUserError(f"hydra.sweeper.{name} must be at least {least}, got {sweeper[name]}")


def check_keys(space: Mapping[str, ParamRange], config: DictConfig) -> None:
    """Every searched config key exists in a run (see module docstring); command-line sweeps Hydra checks itself."""
    for key, param in space.items():
        if param.from_command_line:
            continue
        parts = key.split(".")
        fields = section_fields(config, parts[1]) if parts[0] == "hparams" and len(parts) == 3 else None
        if fields is not None:
            if parts[2] not in fields:
                close = did_you_mean(key, [f"hparams.{parts[1]}.{f}" for f in fields])
                raise T2TUserError(f"unknown hparams key '{key}' in the search space."
                                   + (close or f" Known hparams.{parts[1]} keys: {', '.join(fields)}"))
        elif OmegaConf.select(config, key, default=_MISSING) is _MISSING or key.startswith("hydra"):
            hint = did_you_mean(key, [f"hparams.{s}.{parts[-1]}" for s in ("model", "optim", "batching")
                                      if parts[-1] in (section_fields(config, s) or ())])
            raise T2TUserError(f"unknown config key '{key}' in the search space.{hint}"
                               " Search keys are hparams.model.*, hparams.modality.*, hparams.optim.*,"
                               " hparams.batching.* or keys of the config")


_MISSING = object()


def section_fields(config: DictConfig, section: str) -> list[str] | None:
    """The hparams names section `section` accepts (None: a section without a dataclass, checked as config keys)."""
    if section == "optim":
        return list(OptimConfig.field_names())
    if section == "batching":
        return [f.name for f in dataclasses.fields(BatchingConfig)]
    if section == "model":
        config_class = model_config_class(str(config.model.name))
        return [f.name for f in dataclasses.fields(config_class)] if config_class else None
    return None


def model_config_class(model_name: str) -> type | None:
    """The dataclass a model builds itself from: its `config_class`, else its constructor's `config` annotation."""
    cls = registry.model_class(model_name)
    found = getattr(cls, "config_class", None)
    if found is None:
        hints = typing.get_type_hints(cls.__init__)
        first = next(iter(list(inspect.signature(cls.__init__).parameters)[1:]), None)
        found = hints.get("config", hints.get(first)) if first else None
    return found if dataclasses.is_dataclass(found) else None


def known_objectives(config: DictConfig) -> list[str]:
    """The final metrics a run of `config` returns, known before it runs (eval/bleu: with decode_eval.every=1)."""
    problem_cls = registry.problem_class(str(config.problem.name))
    return eval_metric_names(problem_cls.eval_metrics, OmegaConf.select(config, "decode_eval.every") or 0)


def check_objective(config: DictConfig, direction: str) -> str:
    objective = config.get("objective")
    known = known_objectives(config)
    if not objective:
        raise T2TUserError(f"a sweep needs objective=<metric> (one of: {', '.join(known)})")
    if objective == "eval/bleu" and "eval/bleu" not in known:
        raise T2TUserError("objective 'eval/bleu' is logged by the final evaluation only when every evaluation"
                           " decodes: add decode_eval.every=1")
    if objective not in known:
        raise T2TUserError(f"objective '{objective}' is not a metric this run logs.{did_you_mean(objective, known)}"
                           f" It logs: {', '.join(known)}")
    if not config.get("eval_at_end", True) or config.trainer.get("limit_val_batches") == 0 \
            or config.trainer.get("fast_dev_run"):
        raise T2TUserError(f"objective '{objective}' needs an evaluation at the end of each trial: keep"
                           " eval_at_end=true, trainer.limit_val_batches > 0 and trainer.fast_dev_run=false")
    better = {"min": "lower", "max": "higher"}.get(better_mode(objective) or "")
    if better and direction != ("minimize" if better == "lower" else "maximize"):
        fix = "minimize" if better == "lower" else "maximize"
        raise T2TUserError(f"objective '{objective}' is better when {better}: set hydra.sweeper.direction={fix}")
    return str(objective)


def objective_value(metrics: Mapping[str, float], objective: str) -> float | None:
    """The objective from a run's final metrics; None when the run stopped before its final evaluation (SIGTERM)."""
    if not metrics:
        return None
    if objective not in metrics:
        raise T2TUserError(f"objective '{objective}' is not among this run's final metrics"
                           f" ({', '.join(sorted(metrics))}): set objective= to one of them")
    return float(metrics[objective])


def in_optuna_trial() -> bool:
    """True inside a trial launched by the t2t_optuna sweeper (read from Hydra's config of the running job)."""
    if not HydraConfig.initialized():
        return False
    hydra_cfg = HydraConfig.get()
    return hydra_cfg.mode == RunMode.MULTIRUN and hydra_cfg.sweeper.get("_target_") == SWEEPER_TARGET


def check_sweep_command(overrides: list[str], config_name: str = "train", search_path: Sequence[Path] = ()) -> None:
    """Pre-flight for `t2t-train -m ...`: when the sweeper is ours, run `make_plan` on the composed config."""
    parser = OverridesParser.create()
    try:
        parsed = parser.parse_overrides(overrides)
    except HydraException:
        return  # compose_config has reported this already
    task = [o.input_line for o in parsed if not o.is_hydra_override()]
    hydra_overrides = [o.input_line for o in parsed if o.is_hydra_override()]
    extra = [f"hydra.searchpath=[{','.join(f'file://{p}' for p in search_path)}]"] if search_path else []
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(str(registry.PACKAGE_CONF_DIR), version_base="1.3"):
            config = compose(config_name, overrides=[*first_choice_overrides(task), *hydra_overrides, *extra],
                             return_hydra_config=True)
    except (HydraException, OmegaConfBaseException) as error:
        raise T2TUserError(explain(error)[0]) from None
    finally:
        GlobalHydra.instance().clear()
    if config.hydra.sweeper.get("_target_") == SWEEPER_TARGET:
        make_plan(config, task)
