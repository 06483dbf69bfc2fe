"""Lightning callbacks and loggers from config: the `callbacks` and `logger` config groups (Hydra `_target_`
entries, `conf/callbacks/`, `conf/logger/`), so that a user adds EMA or SWA, a deeper model summary, or Weights &
Biases / MLflow without code; and early stopping on any metric the run logs (T2T's
`--eval_early_stopping_metric`).

A `_target_` that does not import, or an early-stopping monitor the run does not log, is a one-line error when
the config is composed (`check_entries`, `check_early_stopping`), before any data is prepared.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import get_object, instantiate
from lightning.pytorch.callbacks import EarlyStopping
from omegaconf import DictConfig, OmegaConf

from t2t_torch.errors import T2TUserError, did_you_mean
from t2t_torch.metrics.logged_metrics import better


def _entries(node: Any, group: str) -> dict[str, Mapping[str, Any]]:
    if node is None:
        return {}
    if not isinstance(node, Mapping | DictConfig):
        raise T2TUserError(f"{group} must map names to {{_target_: ...}} entries, not {node!r}")
    entries = {}
    for name, entry in node.items():
        if not isinstance(entry, Mapping | DictConfig) or "_target_" not in entry:
            raise T2TUserError(f"{group}.{name} has no _target_:"
                               f" pass +{group}.{name}._target_=<import path of a class>")
        entries[str(name)] = entry
    return entries


def check_entries(node: Any, group: str) -> None:
    """One line for an entry without `_target_` or whose `_target_` does not import."""
    for name, entry in _entries(node, group).items():
        target = str(entry["_target_"])
        try:
            get_object(target)
        except Exception as error:  # ImportError, AttributeError, ValueError: all mean "not importable"
            raise T2TUserError(f"{group}.{name}._target_ '{target}' does not import ({type(error).__name__}):"
                               " fix the import path, or install the package that provides it") from None


def instantiate_entries(node: Any, group: str) -> list[Any]:
    """The objects of every entry, in order; a one-line error naming the entry when one cannot be built."""
    objects = []
    for name, entry in _entries(node, group).items():
        try:
            objects.append(instantiate(entry))
        except InstantiationException as error:
            reason = str(error).strip().splitlines()[-1]
            raise T2TUserError(f"cannot build {group}.{name} ({entry['_target_']}): {reason}") from None
    return objects


def early_stopping_mode(config: Mapping[str, Any]) -> str:
    monitor = str(config["monitor"])
    mode = config.get("mode") or better(monitor)
    if mode not in ("min", "max"):
        raise T2TUserError(f"early_stopping.mode for '{monitor}' is unknown: pass early_stopping.mode=min or max")
    return mode


def check_early_stopping(config: Mapping[str, Any] | None, logged: Iterable[str]) -> None:
    """One line when `early_stopping.monitor` is not a metric every evaluation logs, or its mode is unknown."""
    if not config or not config.get("monitor"):
        return
    monitor, logged = str(config["monitor"]), list(logged)
    if monitor not in logged:
        bleu = " (eval/bleu needs decode_eval.every=1)" if monitor == "eval/bleu" else ""
        raise T2TUserError(f"early_stopping.monitor '{monitor}' is not a metric every evaluation logs{bleu}."
                           f"{did_you_mean(monitor, logged)} It logs: {', '.join(logged)}")
    patience = config.get("patience")
    if not isinstance(patience, int) or isinstance(patience, bool) or patience < 1:
        raise T2TUserError("early_stopping.patience must be >= 1 (evaluations without improvement)")
    early_stopping_mode(config)


def early_stopping_callback(config: Mapping[str, Any] | DictConfig | None) -> list[EarlyStopping]:
    """[EarlyStopping] when `early_stopping.monitor` is set, else []."""
    if isinstance(config, DictConfig):
        config = OmegaConf.to_container(config, resolve=True)
    if not config or not config.get("monitor"):
        return []
    return [EarlyStopping(monitor=str(config["monitor"]), patience=int(config["patience"]),
                          min_delta=float(config.get("min_delta") or 0.0), mode=early_stopping_mode(config),
                          strict=True, check_finite=True)]
