"""Search spaces as plain data: T2T's `RangedHParams` (`layers/common_hparams.py`) for the Optuna sweeper.

An `hparams_search/` config lists ranges under `hydra.sweeper.params`, one config key each:

    hparams.optim.learning_rate_constant: {type: float, low: 0.3, high: 3.0, log: true}  # rhp.set_float(.., LOG_SCALE)
    hparams.model.num_hidden_layers: {type: int, low: 1, high: 4}                         # rhp.set_int
    hparams.optim.learning_rate_warmup_steps: {type: categorical, choices: [1000, 4000]}  # rhp.set_discrete
    hparams.optim.optimizer: {type: categorical, choices: [adam, adafactor]}              # rhp.set_categorical

`step` (float/int) samples a grid from `low`; T2T's reverse-log scale has no Optuna counterpart and is not offered.
A choice sweep on the command line (`hparams=transformer_tiny,transformer_small`) joins the space as a categorical
over the strings written there. Everything here is checked when parsed, so a bad range is one line before any trial.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import HydraException

from t2t_torch.errors import T2TUserError, did_you_mean

KINDS = ("float", "int", "categorical")
SPEC_KEYS = ("type", "low", "high", "log", "step", "choices")
WHERE = "hydra.sweeper.params"


@dataclass(frozen=True)
class ParamRange:
    """One hyperparameter's range. `from_command_line`: a choice sweep typed on the command line (values are the
    override strings, applied as `key=value`); otherwise a config key set with `++key=value`."""

    key: str
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()
    from_command_line: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    def override(self, value: Any) -> str:
        """The override that sets this key to `value` in a trial."""
        if self.from_command_line:
            return f"{self.key}={value}"
        return f"++{self.key}={override_value(value)}"


def parse_range(key: str, spec: Any) -> ParamRange:
    """A `ParamRange` from one `hydra.sweeper.params` entry; T2TUserError (one line) when it is malformed."""
    where = f"{WHERE}.{key}"
    if not isinstance(spec, Mapping):
        raise T2TUserError(f"{where}: expected a mapping like {{type: float, low: 0.1, high: 1.0}}, got {spec!r}")
    unknown = [k for k in spec if k not in SPEC_KEYS]
    if unknown:
        raise T2TUserError(f"{where}: unknown field '{unknown[0]}'.{did_you_mean(str(unknown[0]), SPEC_KEYS)}"
                           f" Fields: {', '.join(SPEC_KEYS)}")
    kind = spec.get("type", "categorical" if "choices" in spec else "float")
    if kind not in KINDS:
        raise T2TUserError(f"{where}: unknown type '{kind}'.{did_you_mean(str(kind), KINDS)} Types: {', '.join(KINDS)}")
    if kind == "categorical":
        return _categorical(key, where, spec)
    return _numeric(key, where, kind, spec)


def _categorical(key: str, where: str, spec: Mapping[str, Any]) -> ParamRange:
    extra = [k for k in ("low", "high", "log", "step") if k in spec]
    if extra:
        raise T2TUserError(f"{where}: a categorical range takes 'choices', not '{extra[0]}'")
    choices = spec.get("choices")
    if isinstance(choices, (str, bytes)) or not isinstance(choices, Sequence) or len(choices) == 0:
        raise T2TUserError(f"{where}: 'choices' must be a non-empty list, got {choices!r}")
    for choice in choices:
        if choice is not None and not isinstance(choice, (bool, int, float, str)):
            raise T2TUserError(f"{where}: choices must be numbers, strings, booleans or null, got {choice!r}")
    if len(set(map(repr, choices))) != len(choices):
        raise T2TUserError(f"{where}: 'choices' lists a value twice: {list(choices)}")
    return ParamRange(key, "categorical", choices=tuple(choices))


def _numeric(key: str, where: str, kind: str, spec: Mapping[str, Any]) -> ParamRange:
    if "choices" in spec:
        raise T2TUserError(f"{where}: a {kind} range takes 'low' and 'high', not 'choices' (or set type: categorical)")
    number = int if kind == "int" else float
    bounds = {}
    for name in ("low", "high"):
        value = spec.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise T2TUserError(f"{where}: '{name}' must be a finite number, got {value!r}")
        if kind == "int" and value != int(value):
            raise T2TUserError(f"{where}: an int range needs whole-number bounds, got {name}={value!r}")
        bounds[name] = number(value)
    low, high = bounds["low"], bounds["high"]
    if low >= high:
        raise T2TUserError(f"{where}: low ({low}) must be below high ({high})")
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise T2TUserError(f"{where}: 'log' must be true or false, got {log!r}")
    if log and low <= 0:
        raise T2TUserError(f"{where}: a log range needs low > 0 (got low={low}); use a linear range to include {low}")
    step = spec.get("step")
    if step is not None:
        if log:
            raise T2TUserError(f"{where}: 'step' and 'log: true' cannot be combined")
        if isinstance(step, bool) or not isinstance(step, (int, float)) or step <= 0:
            raise T2TUserError(f"{where}: 'step' must be a positive number, got {step!r}")
        step = number(step)
        spans = (high - low) / step
        if abs(spans - round(spans)) > 1e-9 * max(1.0, spans):
            raise T2TUserError(f"{where}: high - low ({high - low}) must be a multiple of step ({step})")
    return ParamRange(key, kind, low=low, high=high, log=log, step=step)


def parse_search_space(params: Mapping[str, Any] | None) -> dict[str, ParamRange]:
    """All ranges of `hydra.sweeper.params`, keyed by config key."""
    space: dict[str, ParamRange] = {}
    for key, spec in (params or {}).items():
        key = str(key)
        if key.startswith(("hydra.", "+", "~")) or not key:
            raise T2TUserError(
                f"{WHERE}: '{key}' is not a config key of a training run (e.g. hparams.optim.weight_decay)"
            )
        space[key] = parse_range(key, spec)
    return space


def split_command_line(arguments: Sequence[str]) -> tuple[list[str], dict[str, ParamRange]]:
    """Command-line task overrides -> (fixed overrides kept for every trial, choice sweeps as categorical ranges)."""
    try:
        parsed: list[Override] = OverridesParser.create().parse_overrides(list(arguments))
    except HydraException as error:
        raise T2TUserError(str(error).strip().splitlines()[0]) from None
    fixed: list[str] = []
    sweeps: dict[str, ParamRange] = {}
    for override in parsed:
        if not override.is_sweep_override():
            fixed.append(override.input_line)
            continue
        if not (override.is_choice_sweep() or override.is_range_sweep()):
            raise T2TUserError(f"'{override.input_line}': only choice (a=1,2) and range() sweeps work on the command"
                               " line; put other ranges in an hparams_search config")
        key = override.get_key_element()
        sweeps[key] = ParamRange(key, "categorical", choices=tuple(override.sweep_string_iterator()),
                                 from_command_line=True)
    return fixed, sweeps


def override_value(value: Any) -> str:
    """`value` written in Hydra's override grammar (strings quoted, so `*` in a schedule name stays literal)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"
