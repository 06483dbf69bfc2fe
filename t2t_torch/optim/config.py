"""Optimization hyperparameters: the optimizer's and the learning-rate schedule's share of T2T's hparams.

Ports the optimization fields of T2T's `layers/common_hparams.py` (`basic_params1`) with the values of
`transformer_base_v3` (`models/transformer.py`) as defaults, under T2T's own names, so an hparams YAML written
for T2T reads the same here. Only this dataclass owns them: models and problems never read it.

`OptimConfig.from_mapping(d)` builds one from a plain mapping (a Hydra/OmegaConf node works) and refuses an
unknown key with one line naming the closest valid key.

Fields that are not T2T hparams (additions of this port):
- `optimizer_adafactor_relative_step`: multiply the scheduled lr by Adafactor's relative step size
  min((t+1)^-0.5, 1e-2) -- T2T's behaviour when `AdafactorOptimizer(learning_rate=None)`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from t2t_torch.errors import T2TUserError, did_you_mean


class OptimConfigError(T2TUserError, ValueError):
    """A bad optimization hparam (unknown name, wrong type or out-of-range value); the message is one line."""


@dataclass(frozen=True)
class OptimConfig:
    """T2T's optimization hparams; defaults are `transformer_base_v3`'s."""

    # --- optimizer (utils/optimize.py) ---
    optimizer: str = "adam"
    optimizer_adam_beta1: float = 0.9
    optimizer_adam_beta2: float = 0.997
    optimizer_adam_epsilon: float = 1e-9
    optimizer_momentum_momentum: float = 0.9
    optimizer_momentum_nesterov: bool = False
    optimizer_adafactor_beta1: float = 0.0
    optimizer_adafactor_beta2: float = 0.999
    optimizer_adafactor_factored: bool = True
    optimizer_adafactor_decay_type: str = "pow"
    optimizer_adafactor_memory_exponent: float = 0.8
    optimizer_adafactor_clipping_threshold: float = 1.0
    optimizer_adafactor_multiply_by_parameter_scale: bool = True
    optimizer_adafactor_relative_step: bool = False
    optimizer_multistep_accumulate_steps: int = 0
    weight_decay: float = 0.0
    clip_grad_norm: float = 0.0
    # --- learning-rate schedule (utils/learning_rate.py) ---
    learning_rate_schedule: str = "constant*linear_warmup*rsqrt_decay*rsqrt_hidden_size"
    learning_rate_constant: float = 2.0
    learning_rate_warmup_steps: int = 8000
    learning_rate_decay_steps: int = 5000
    learning_rate_decay_rate: float = 1.0
    learning_rate_decay_staircase: bool = False
    learning_rate_cosine_cycle_steps: int = 250000
    # --- `legacy` schedule only ---
    learning_rate: float = 0.2
    learning_rate_decay_scheme: str = "noam"
    learning_rate_boundaries: tuple[int, ...] = ()
    learning_rate_multiples: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            object.__setattr__(self, field.name, _coerce(field.name, field.type, getattr(self, field.name)))
        self._check_ranges()

    def _check_ranges(self) -> None:
        if self.optimizer_adafactor_decay_type not in ("adam", "pow"):
            raise OptimConfigError(
                f"optimizer_adafactor_decay_type must be 'adam' or 'pow', got {self.optimizer_adafactor_decay_type!r}"
            )
        non_negative = ("learning_rate_warmup_steps", "optimizer_multistep_accumulate_steps", "weight_decay",
                        "clip_grad_norm", "optimizer_adam_epsilon", "optimizer_adafactor_clipping_threshold")
        for name in non_negative:
            if getattr(self, name) < 0:
                raise OptimConfigError(f"optim hparam {name} must be >= 0, got {getattr(self, name)}")
        for name in ("optimizer_adam_beta1", "optimizer_adam_beta2", "optimizer_adafactor_beta1",
                     "optimizer_adafactor_beta2", "optimizer_momentum_momentum"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise OptimConfigError(f"optim hparam {name} must be in [0, 1), got {getattr(self, name)}")
        if len(self.learning_rate_boundaries) != len(self.learning_rate_multiples):
            raise OptimConfigError(
                "learning_rate_boundaries and learning_rate_multiples must have the same length, got "
                f"{len(self.learning_rate_boundaries)} and {len(self.learning_rate_multiples)}"
            )

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> OptimConfig:
        """Build from a plain mapping of T2T hparam names; unknown keys raise with the closest valid key."""
        valid = cls.field_names()
        for key in values:
            if key not in valid:
                raise OptimConfigError(_unknown_key_message(str(key), valid))
        return cls(**{str(k): v for k, v in values.items()})

    def replace(self, **changes: Any) -> OptimConfig:
        """A copy with some fields changed (unknown names raise like `from_mapping`)."""
        merged = dataclasses.asdict(self)
        merged.update(changes)
        return type(self).from_mapping(merged)


def _unknown_key_message(key: str, valid: Sequence[str]) -> str:
    hint = did_you_mean(key, valid)
    return f"unknown optim hparam {key!r}.{hint or ' Valid names: ' + ', '.join(sorted(valid))}"


def _coerce(name: str, type_name: Any, value: Any) -> Any:
    """Coerce YAML/OmegaConf values to the field's type; refuse values that cannot mean that type."""
    kind = str(type_name)
    if kind.startswith("tuple["):
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            raise OptimConfigError(f"optim hparam {name} must be a list, got {value!r}")
        elem = int if "int" in kind else float
        return tuple(_coerce_scalar(name, elem, v) for v in value)
    scalar = {"str": str, "float": float, "int": int, "bool": bool}[kind]
    return _coerce_scalar(name, scalar, value)


def _coerce_scalar(name: str, scalar: type, value: Any) -> Any:
    if scalar is bool:
        if isinstance(value, bool):
            return value
    elif scalar is str:
        if isinstance(value, str):
            return value
    elif scalar is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise OptimConfigError(f"optim hparam {name} must be {scalar.__name__}, got {value!r}")
