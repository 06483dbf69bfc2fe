"""Build the optimizer named by `OptimConfig.optimizer` (ports the registry of T2T's `utils/optimize.py`).

Contract: every optimizer is created with lr=1.0. The learning rate actually used is set each update by a
`LambdaLR` over `build_lr_lambda(cfg, hidden_size)` (see `schedule.py`), which returns the ABSOLUTE lr, so
`group["lr"]` always equals the scheduled lr. Do not build these optimizers with another lr.

Names (case-insensitive; CamelCase as in T2T hparams, e.g. "Adafactor", is accepted):
  adam            torch Adam with T2T's betas/epsilon (T2T uses LazyAdam: the same update for dense gradients).
                  Alias: true_adam. T2T's epsilon is added to sqrt(v) *before* bias correction, torch's after;
                  with eps = 1e-9 the difference is below fp32 resolution.
  multistep_adam  the same Adam; the accumulation of T2T's MultistepAdamOptimizer (mean of
                  `optimizer_multistep_accumulate_steps` micro-batch gradients, one Adam step) is Lightning's
                  `Trainer(accumulate_grad_batches=accumulate_grad_batches(cfg))`, which averages the same way.
  adamw           torch AdamW (decoupled decay, scaled by the scheduled lr as torch does; TF-contrib's AdamW
                  did not scale it). fused=True when every parameter is on CUDA, else torch's default (foreach).
                  Alias: adam_w.
  adafactor       `t2t_torch.optim.adafactor.Adafactor` with the `optimizer_adafactor_*` hparams.
  sgd_momentum    torch SGD with momentum/nesterov. Alias: momentum (T2T's name).

Weight decay (`weight_decay`): T2T adds weight_decay * sum(||w||^2 / 2) to the loss for every variable except
1-D ones named "...bias" -- so LayerNorm scales *are* decayed. adam, multistep_adam, sgd_momentum and adafactor
do exactly that (L2 gradient wd*w, in a param group excluding 1-D "bias" parameters); the one difference is
that T2T's L2 gradient passed through `clip_grad_norm`, while here it is added inside the optimizer after
Lightning clipped. adamw uses decoupled decay on parameters with >= 2 dims only (biases, norm scales and other
1-D parameters excluded), the usual AdamW practice; T2T would also have added the L2 loss, which we don't.

`clip_grad_norm` is Lightning's `gradient_clip_val` (global norm): see `gradient_clip_val(cfg)`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from t2t_torch.errors import did_you_mean
from t2t_torch.optim.adafactor import Adafactor
from t2t_torch.optim.config import OptimConfig, OptimConfigError

NamedParams = Iterable[tuple[str, nn.Parameter]]
ParamGroups = list[dict[str, Any]]


def _l2_decayed(name: str, p: nn.Parameter) -> bool:
    """T2T's `weight_decay(skip_biases=True)`: everything except 1-D variables whose name ends in 'bias'."""
    return not (p.dim() == 1 and name.endswith("bias"))


def _decoupled_decayed(name: str, p: nn.Parameter) -> bool:
    return p.dim() >= 2


def param_groups(
    named_parameters: NamedParams, weight_decay: float, decayed: Callable[[str, nn.Parameter], bool]
) -> ParamGroups:
    """Trainable parameters split into a decayed and a non-decayed group (empty groups left out)."""
    named = [(n, p) for n, p in named_parameters if p.requires_grad]
    if not named:
        raise OptimConfigError("the model has no trainable parameters to optimize")
    if not weight_decay:
        return [{"params": [p for _, p in named], "weight_decay": 0.0}]
    decay = [p for n, p in named if decayed(n, p)]
    no_decay = [p for n, p in named if not decayed(n, p)]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def _all_cuda(groups: ParamGroups) -> bool:
    return all(p.is_cuda and p.is_floating_point() for g in groups for p in g["params"])


def _adam(named: NamedParams, cfg: OptimConfig) -> torch.optim.Optimizer:
    groups = param_groups(named, cfg.weight_decay, _l2_decayed)
    betas = (cfg.optimizer_adam_beta1, cfg.optimizer_adam_beta2)
    return torch.optim.Adam(groups, lr=1.0, betas=betas, eps=cfg.optimizer_adam_epsilon)


def _adamw(named: NamedParams, cfg: OptimConfig) -> torch.optim.Optimizer:
    groups = param_groups(named, cfg.weight_decay, _decoupled_decayed)
    betas = (cfg.optimizer_adam_beta1, cfg.optimizer_adam_beta2)
    fused = True if _all_cuda(groups) else None
    return torch.optim.AdamW(groups, lr=1.0, betas=betas, eps=cfg.optimizer_adam_epsilon, fused=fused)


def _sgd_momentum(named: NamedParams, cfg: OptimConfig) -> torch.optim.Optimizer:
    groups = param_groups(named, cfg.weight_decay, _l2_decayed)
    return torch.optim.SGD(
        groups, lr=1.0, momentum=cfg.optimizer_momentum_momentum, nesterov=cfg.optimizer_momentum_nesterov
    )


def _adafactor(named: NamedParams, cfg: OptimConfig) -> torch.optim.Optimizer:
    groups = param_groups(named, cfg.weight_decay, _l2_decayed)
    return Adafactor(
        groups,
        lr=1.0,
        beta1=cfg.optimizer_adafactor_beta1,
        beta2=cfg.optimizer_adafactor_beta2,
        decay_type=cfg.optimizer_adafactor_decay_type,
        memory_exponent=cfg.optimizer_adafactor_memory_exponent,
        clipping_threshold=cfg.optimizer_adafactor_clipping_threshold or None,
        factored=cfg.optimizer_adafactor_factored,
        multiply_by_parameter_scale=cfg.optimizer_adafactor_multiply_by_parameter_scale,
        relative_step=cfg.optimizer_adafactor_relative_step,
    )


_BUILDERS: dict[str, Callable[[NamedParams, OptimConfig], torch.optim.Optimizer]] = {
    "adam": _adam,
    "multistep_adam": _adam,
    "adamw": _adamw,
    "adafactor": _adafactor,
    "sgd_momentum": _sgd_momentum,
}
_ALIASES = {"true_adam": "adam", "adam_w": "adamw", "momentum": "sgd_momentum"}
OPTIMIZER_NAMES: tuple[str, ...] = tuple(_BUILDERS)


def canonical_optimizer_name(name: str) -> str:
    """'Adafactor' -> 'adafactor', 'MultistepAdam' -> 'multistep_adam', aliases resolved; unknown raises."""
    key = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name.strip()).lower()
    key = _ALIASES.get(key, key)
    if key not in _BUILDERS:
        known = (*OPTIMIZER_NAMES, *_ALIASES)
        raise OptimConfigError(f"unknown optimizer {name!r}.{did_you_mean(key, known)} Known: {', '.join(known)}")
    return key


def build_optimizer(named_parameters: NamedParams, cfg: OptimConfig) -> torch.optim.Optimizer:
    """The optimizer `cfg.optimizer` over the trainable `named_parameters` (e.g. `model.named_parameters()`),
    built with lr=1.0 for a `LambdaLR` over `build_lr_lambda` (see the module docstring)."""
    return _BUILDERS[canonical_optimizer_name(cfg.optimizer)](named_parameters, cfg)


def accumulate_grad_batches(cfg: OptimConfig) -> int:
    """Lightning's `accumulate_grad_batches` for T2T's `optimizer_multistep_accumulate_steps` (0 = off)."""
    return max(1, cfg.optimizer_multistep_accumulate_steps)


def gradient_clip_val(cfg: OptimConfig) -> float | None:
    """Lightning's `gradient_clip_val` (global-norm clipping) for T2T's `clip_grad_norm` (0 = off)."""
    return cfg.clip_grad_norm or None
