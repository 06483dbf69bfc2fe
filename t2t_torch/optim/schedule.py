"""Learning-rate schedules: T2T's `*`-separated product of named factors (ports `utils/learning_rate.py`).

`learning_rate_schedule = "constant*linear_warmup*rsqrt_decay*rsqrt_hidden_size"` means lr(n) is the product of
those factors at update number n. The string is parsed and checked once, when the schedule is built; the
returned function only multiplies numbers.

Contract with the optimizer: every optimizer from `build_optimizer` is created with lr=1.0, and
`torch.optim.lr_scheduler.LambdaLR(optimizer, build_lr_lambda(cfg, hidden_size))` stepped once per optimizer
update (Lightning: `"interval": "step"`) makes the group lr equal to `lr_lambda(step)`, the ABSOLUTE learning
rate of the 0-based update `step`.

Step convention (the one deliberate difference from T2T): every factor is evaluated at n = step + 1, the
1-based number of the update being made. T2T evaluates its factors at the global step *before* the increment
(0 on the first update), so under `linear_warmup` T2T's first update has lr 0; here it gets the T2T value of
global step 1, and update k gets T2T's lr of global step k + 1. T2T's `legacy`/`noam` formula itself uses
(global_step + 1), so with n = step + 1 `legacy` noam is *exactly* T2T's, and the T2T identity
noam(learning_rate=0.2) == constant(2.0)*linear_warmup*rsqrt_decay*rsqrt_hidden_size holds at every step.

Gradient accumulation: T2T divides the global step by `optimizer_multistep_accumulate_steps` because its
global step counts micro-batches. Lightning steps the scheduler once per optimizer update, which is already
that quotient, so no division happens here.

Factors (w = learning_rate_warmup_steps, d = learning_rate_decay_steps, T = train_steps, h = hidden_size):
  constant                learning_rate_constant
  linear_warmup           min(1, n / w)                         (1 when w == 0; T2T divides by zero)
  linear_decay            clip((T - n) / d, 0, 1)
  rsqrt_decay             1 / sqrt(max(n, w))
  rsqrt_normalized_decay  sqrt(w) / sqrt(max(n, w))
  rsqrt_hidden_size       h ** -0.5
  exp_decay               learning_rate_decay_rate ** max(0, (n - w) / d)   (floored if staircase)
  cosdecay                1 while n <= w, then 0.5 * (1 + cos(pi * n / d))  (OpenAI GPT)
  single_cycle_cos_decay  0.5 + 0.5 * cos(pi * (max(n, w) - w) / (T - w))
  multi_cycle_cos_decay   0.5 + 0.5 * cos(pi * (max(n, w) - w) / d)
  legacy                  `learning_rate_decay_scheme` (noam, exp, piecewise, cosine, cyclelinear10x, sqrt,
                          none) times learning_rate, times 0.002 when the optimizer name contains "adam"
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.optim.lr_scheduler import LambdaLR

from t2t_torch.errors import did_you_mean
from t2t_torch.optim.config import OptimConfig, OptimConfigError

Factor = Callable[[float], float]  # n (1-based update number) -> multiplier


class ScheduleError(OptimConfigError):
    """A learning-rate schedule that cannot be built (unknown factor, missing or invalid setting)."""


@dataclass(frozen=True)
class _Context:
    cfg: OptimConfig
    hidden_size: int
    train_steps: int | None

    def need_train_steps(self, factor: str) -> int:
        if self.train_steps is None or self.train_steps <= 0:
            raise ScheduleError(
                f"schedule factor {factor!r} needs the total number of updates; "
                "pass build_lr_lambda(..., train_steps=trainer.max_steps)"
            )
        return self.train_steps

    def need_positive(self, factor: str, name: str) -> float:
        value = getattr(self.cfg, name)
        if value <= 0:
            raise ScheduleError(f"schedule factor {factor!r} needs {name} > 0, got {value}")
        return value


# ---------------------------------------------------------------- factors


def _linear_warmup(ctx: _Context) -> Factor:
    warmup = ctx.cfg.learning_rate_warmup_steps
    if warmup == 0:
        return lambda n: 1.0
    return lambda n: min(1.0, n / warmup)


def _linear_decay(ctx: _Context) -> Factor:
    total = ctx.need_train_steps("linear_decay")
    decay = ctx.need_positive("linear_decay", "learning_rate_decay_steps")
    return lambda n: min(1.0, max(0.0, (total - n) / decay))


def _rsqrt_decay(ctx: _Context) -> Factor:
    warmup = ctx.cfg.learning_rate_warmup_steps
    return lambda n: max(n, warmup) ** -0.5


def _rsqrt_normalized_decay(ctx: _Context) -> Factor:
    warmup = ctx.cfg.learning_rate_warmup_steps
    return lambda n: math.sqrt(warmup) * max(n, warmup) ** -0.5


def _exp_decay(ctx: _Context) -> Factor:
    decay = ctx.need_positive("exp_decay", "learning_rate_decay_steps")
    warmup, rate = ctx.cfg.learning_rate_warmup_steps, ctx.cfg.learning_rate_decay_rate
    staircase = ctx.cfg.learning_rate_decay_staircase

    def factor(n: float) -> float:
        p = max(0.0, (n - warmup) / decay)
        return rate ** (math.floor(p) if staircase else p)

    return factor


def _cosdecay(ctx: _Context) -> Factor:
    decay = ctx.need_positive("cosdecay", "learning_rate_decay_steps")
    warmup = ctx.cfg.learning_rate_warmup_steps
    return lambda n: 1.0 if n <= warmup else 0.5 * (1.0 + math.cos(math.pi * n / decay))


def _single_cycle_cos_decay(ctx: _Context) -> Factor:
    total, warmup = ctx.need_train_steps("single_cycle_cos_decay"), ctx.cfg.learning_rate_warmup_steps
    if total <= warmup:
        raise ScheduleError(
            f"single_cycle_cos_decay needs train_steps > learning_rate_warmup_steps, got {total} <= {warmup}"
        )
    return lambda n: 0.5 + 0.5 * math.cos(math.pi * (max(n, warmup) - warmup) / (total - warmup))


def _multi_cycle_cos_decay(ctx: _Context) -> Factor:
    decay = ctx.need_positive("multi_cycle_cos_decay", "learning_rate_decay_steps")
    warmup = ctx.cfg.learning_rate_warmup_steps
    return lambda n: 0.5 + 0.5 * math.cos(math.pi * (max(n, warmup) - warmup) / decay)


def _constant_factor(value_of: Callable[[_Context], float]) -> Callable[[_Context], Factor]:
    def make(ctx: _Context) -> Factor:
        value = value_of(ctx)
        return lambda n: value

    return make


def _hidden_size_rsqrt(ctx: _Context) -> float:
    if ctx.hidden_size <= 0:
        raise ScheduleError(f"schedule factor 'rsqrt_hidden_size' needs hidden_size > 0, got {ctx.hidden_size}")
    return ctx.hidden_size**-0.5


# ---------------------------------------------------------------- legacy (learning_rate_decay_scheme)


def _legacy(ctx: _Context) -> Factor:
    cfg = ctx.cfg
    scale = (0.002 if "adam" in cfg.optimizer.lower() else 1.0) * cfg.learning_rate
    scheme = cfg.learning_rate_decay_scheme
    if scheme == "noam":
        rsqrt_h, noam_warmup = _hidden_size_rsqrt(ctx), max(cfg.learning_rate_warmup_steps, 1)
        return lambda n: scale * 5000.0 * rsqrt_h * min(n * noam_warmup**-1.5, n**-0.5)
    if scheme not in _LEGACY_DECAYS:
        raise ScheduleError(
            f"unknown learning_rate_decay_scheme {scheme!r}.{did_you_mean(scheme, LEGACY_DECAY_SCHEMES)} "
            f"Known: {', '.join(LEGACY_DECAY_SCHEMES)}"
        )
    warmup_steps = cfg.learning_rate_warmup_steps
    decay = _LEGACY_DECAYS[scheme](ctx)

    def exp_warmup(n: float) -> float:  # exponential warmup from 1% (T2T `_learning_rate_warmup("exp")`)
        return 0.01 ** ((warmup_steps - n) / warmup_steps) if warmup_steps else 1.0

    return lambda n: scale * (exp_warmup(n) if n < warmup_steps else decay(n))


def _legacy_exp(ctx: _Context) -> Factor:
    decay = ctx.need_positive("legacy", "learning_rate_decay_steps")
    warmup, rate = ctx.cfg.learning_rate_warmup_steps, ctx.cfg.learning_rate_decay_rate
    staircase = ctx.cfg.learning_rate_decay_staircase

    def factor(n: float) -> float:
        p = (n - warmup) / decay
        return rate ** (math.floor(p) if staircase else p)

    return factor


def _legacy_piecewise(ctx: _Context) -> Factor:
    boundaries = list(ctx.cfg.learning_rate_boundaries)
    if boundaries != sorted(boundaries):
        raise ScheduleError(f"learning_rate_boundaries must be increasing, got {boundaries}")
    values = [1.0, *ctx.cfg.learning_rate_multiples]
    return lambda n: values[bisect.bisect_left(boundaries, n)]  # tf.train.piecewise_constant: x <= b[i] -> v[i]


def _legacy_cosine(ctx: _Context) -> Factor:
    cycle = ctx.need_positive("legacy", "learning_rate_cosine_cycle_steps")

    def factor(n: float) -> float:
        position = cycle - abs(cycle - n % (2 * cycle))
        return 0.5 * (1.0 + math.cos(math.pi * position / cycle))

    return factor


def _legacy_cyclelinear10x(ctx: _Context) -> Factor:
    cycle = ctx.need_positive("legacy", "learning_rate_warmup_steps")
    return lambda n: (1.0 - abs((n % (2 * cycle) - cycle) / cycle) + 0.1) * 3.0


def _legacy_sqrt(ctx: _Context) -> Factor:
    warmup = ctx.cfg.learning_rate_warmup_steps
    return lambda n: 500.0 / math.sqrt(max(n - warmup, 1.0))


_LEGACY_DECAYS: dict[str, Callable[[_Context], Factor]] = {
    "none": lambda ctx: (lambda n: 1.0),
    "": lambda ctx: (lambda n: 1.0),
    "exp": _legacy_exp,
    "piecewise": _legacy_piecewise,
    "cosine": _legacy_cosine,
    "cyclelinear10x": _legacy_cyclelinear10x,
    "sqrt": _legacy_sqrt,
}
LEGACY_DECAY_SCHEMES: tuple[str, ...] = ("noam", *(k for k in _LEGACY_DECAYS if k))

# ---------------------------------------------------------------- grammar

_STEP_FACTORS: dict[str, Callable[[_Context], Factor]] = {
    "linear_warmup": _linear_warmup,
    "linear_decay": _linear_decay,
    "rsqrt_decay": _rsqrt_decay,
    "rsqrt_normalized_decay": _rsqrt_normalized_decay,
    "exp_decay": _exp_decay,
    "cosdecay": _cosdecay,
    "single_cycle_cos_decay": _single_cycle_cos_decay,
    "multi_cycle_cos_decay": _multi_cycle_cos_decay,
    "legacy": _legacy,
}
_CONSTANT_FACTORS: dict[str, Callable[[_Context], float]] = {
    "constant": lambda ctx: ctx.cfg.learning_rate_constant,
    "rsqrt_hidden_size": _hidden_size_rsqrt,
}
SCHEDULE_FACTORS: tuple[str, ...] = (*_CONSTANT_FACTORS, *_STEP_FACTORS)


def parse_schedule(schedule: str) -> tuple[str, ...]:
    """Split a schedule string into its factor names, refusing unknown ones (one-line error)."""
    names = tuple(part.strip() for part in schedule.split("*") if part.strip())
    for name in names:
        if name not in SCHEDULE_FACTORS:
            raise ScheduleError(
                f"unknown learning_rate_schedule factor {name!r} in {schedule!r}.{did_you_mean(name, SCHEDULE_FACTORS)}"
                f" Known factors: {', '.join(SCHEDULE_FACTORS)}"
            )
    return names


def build_lr_lambda(cfg: OptimConfig, hidden_size: int, *, train_steps: int | None = None) -> Callable[[int], float]:
    """The absolute learning rate of the 0-based optimizer update `step` (see the module docstring).

    `train_steps` (the run's total number of updates) is needed only by `linear_decay` and
    `single_cycle_cos_decay`. The result is a plain function, so `LambdaLR.state_dict()` stays picklable.
    """
    ctx = _Context(cfg, hidden_size, train_steps)
    names = parse_schedule(cfg.learning_rate_schedule)
    constant = math.prod(_CONSTANT_FACTORS[name](ctx) for name in names if name in _CONSTANT_FACTORS)
    factors = tuple(_STEP_FACTORS[name](ctx) for name in names if name in _STEP_FACTORS)

    def lr_at(step: int) -> float:
        if step < 0:
            raise ValueError(f"optimizer step must be >= 0, got {step}")
        n = float(step + 1)
        value = constant
        for factor in factors:
            value *= factor(n)
        return value

    return lr_at


def build_lr_scheduler(
    optimizer: torch.optim.Optimizer, cfg: OptimConfig, hidden_size: int, *, train_steps: int | None = None
) -> LambdaLR:
    """`LambdaLR` over an optimizer built with lr=1.0; step it once per optimizer update."""
    for group in optimizer.param_groups:
        if group.get("initial_lr", group["lr"]) != 1.0:
            raise ScheduleError(
                f"the schedule gives absolute learning rates, so the optimizer must be built with lr=1.0, "
                f"got lr={group['lr']}; use t2t_torch.optim.build_optimizer"
            )
    return LambdaLR(optimizer, build_lr_lambda(cfg, hidden_size, train_steps=train_steps))
