"""Adafactor with Tensor2Tensor's semantics (ports `utils/adafactor.py`, Shazeer & Stern 2018).

Per parameter p with gradient g at 0-based step t (state and arithmetic in fp32 -- fp64 for fp64 params):

    decay   = 1 - (t+1)^-memory_exponent                          ("pow", default 0.8)
            | beta2 * (1 - beta2^t) / (1 - beta2^(t+1))           ("adam": Adam's bias correction folded in)
    g2      = g*g + eps1                                          (eps1 = 1e-30)
    factored (p.dim() >= 2, over the last two dims):
        vr  = decay*vr + (1-decay) * mean(g2, -1)                 # (..., rows)
        vc  = decay*vc + (1-decay) * mean(g2, -2)                 # (..., cols)
        u   = g / sqrt(vr / mean(vr, -1) outer vc)
    else:
        v   = decay*v + (1-decay) * g2;   u = g / sqrt(v)
    u      /= max(1, rms(u) / clipping_threshold)                 (update clipping, threshold 1.0)
    scale   = lr * [min((t+1)^-0.5, 1e-2) * (1 if param-scaled else 0.05)]   (only if relative_step)
            * [max(rms(p), eps2)]                                 (only if multiply_by_parameter_scale; eps2 = 1e-3)
    m       = beta1*m + (1-beta1) * scale*u;  p -= m              (p -= scale*u when beta1 == 0: no m state)

`lr` is the scheduled learning rate: with `build_optimizer` the optimizer holds lr=1.0 and a `LambdaLR` sets
the absolute value each update. `relative_step=True` with a constant schedule of 1.0 reproduces T2T's
`AdafactorOptimizer(learning_rate=None)`. `weight_decay` is T2T's: an L2 term whose gradient wd*p is added to g
before anything else (T2T adds wd * l2_loss to the loss; `build_optimizer` leaves biases out, as T2T does).

Differences from T2T: bf16 (or fp16) parameters are updated in fp32 and rounded to nearest on write-back; T2T
stores bf16 weights with `EighthPowerEncoding` and stochastic rounding noise. Momentum m is kept in fp32 (T2T
casts it to the variable's dtype), and `load_state_dict` keeps it fp32 (torch's default casts optimizer state
to the parameter dtype). No simulated quantization.

Differences from `torch.optim.Adafactor` (torch 2.11), which implements only the paper's default variant:
- torch's `lr` is a cap on the relative step, rho_t = min(lr, t^-0.5) (t 1-based), always multiplied by the
  parameter scale: a scheduled lr is the step size only while lr <= t^-0.5. There is no
  `multiply_by_parameter_scale` switch, no beta1 momentum, no "adam" decay type, no unfactored mode for matrices.
- torch clamps the variance estimate at eps1^2 (eps1 = dtype eps by default) instead of adding eps1 to g^2.
- torch's weight decay is decoupled (p *= 1 - lr*wd); T2T's is L2 on the loss.
- Where they coincide -- beta1 0, "pow" decay with memory_exponent 0.8 (torch beta2_decay=-0.8), clipping 1.0,
  parameter scaling on, relative step (this class with lr=1.0 and relative_step=True vs torch with lr=1e-2),
  eps1 chosen so eps1 (here) = eps1^2 (torch), no weight decay -- the two give the same updates up to fp32
  rounding (tested in tests/optim/test_optim_adafactor.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor


def _compute_dtype(p: Tensor) -> torch.dtype:
    """fp32 for bf16/fp16/fp32 parameters (state and arithmetic), fp64 for fp64 ones."""
    return torch.promote_types(p.dtype, torch.float32)


def _rms(x: Tensor) -> Tensor:
    return torch.linalg.vector_norm(x) / math.sqrt(x.numel())


class Adafactor(torch.optim.Optimizer):
    """T2T's AdafactorOptimizer as a `torch.optim.Optimizer`; see the module docstring for the update."""

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1.0,
        *,
        beta1: float = 0.0,
        beta2: float = 0.999,
        decay_type: str = "pow",
        memory_exponent: float = 0.8,
        clipping_threshold: float | None = 1.0,
        factored: bool = True,
        multiply_by_parameter_scale: bool = True,
        relative_step: bool = False,
        epsilon1: float = 1e-30,
        epsilon2: float = 1e-3,
        weight_decay: float = 0.0,
    ) -> None:
        if decay_type not in ("pow", "adam"):
            raise ValueError(f"Adafactor decay_type must be 'pow' or 'adam', got {decay_type!r}")
        if lr < 0 or not 0.0 <= beta1 < 1.0 or not 0.0 <= beta2 < 1.0 or weight_decay < 0:
            raise ValueError(f"Adafactor needs lr >= 0, 0 <= beta1, beta2 < 1, weight_decay >= 0; got {lr=}, "
                             f"{beta1=}, {beta2=}, {weight_decay=}")
        if clipping_threshold is not None and clipping_threshold <= 0:
            raise ValueError(f"Adafactor clipping_threshold must be > 0 or None, got {clipping_threshold}")
        defaults = dict(
            lr=lr, beta1=beta1, beta2=beta2, decay_type=decay_type, memory_exponent=memory_exponent,
            clipping_threshold=clipping_threshold, factored=factored,
            multiply_by_parameter_scale=multiply_by_parameter_scale, relative_step=relative_step,
            epsilon1=epsilon1, epsilon2=epsilon2, weight_decay=weight_decay,
        )
        super().__init__(params, defaults)

    @staticmethod
    def _decay_rate(group: dict[str, Any], t: int) -> float:
        """Second-moment decay at 0-based step t; 0 at t == 0 for both types (the first g2 is taken whole)."""
        if group["decay_type"] == "pow":
            return 1.0 - (t + 1.0) ** -group["memory_exponent"]
        beta2 = group["beta2"]
        return beta2 * (1.0 - beta2**t) / (1.0 - beta2 ** (t + 1))

    @staticmethod
    def _step_size(group: dict[str, Any], t: int) -> float:
        size = group["lr"]
        if group["relative_step"]:
            size *= min((t + 1.0) ** -0.5, 1e-2) * (1.0 if group["multiply_by_parameter_scale"] else 0.05)
        return size

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        state = self.state[p]
        if not state:
            kw = dict(dtype=_compute_dtype(p), device=p.device)
            state["step"] = 0
            if group["factored"] and p.dim() >= 2:
                state["vr"] = torch.zeros(p.shape[:-1], **kw)
                state["vc"] = torch.zeros(p.shape[:-2] + p.shape[-1:], **kw)
            else:
                state["v"] = torch.zeros(p.shape, **kw)
            if group["beta1"] > 0:
                state["m"] = torch.zeros(p.shape, **kw)
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """As torch's, but state stays fp32 for bf16/fp16 params (torch would cast it to the param dtype)."""
        saved_state = state_dict["state"]
        saved_ids = [pid for group in state_dict["param_groups"] for pid in group["params"]]
        super().load_state_dict(state_dict)
        params = [p for group in self.param_groups for p in group["params"]]
        for pid, p in zip(saved_ids, params, strict=True):
            for key, value in saved_state.get(pid, {}).items():
                if isinstance(value, Tensor):
                    self.state[p][key] = value.to(device=p.device, dtype=_compute_dtype(p))

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None or p.numel() == 0:
                    continue
                if p.grad.is_sparse or p.is_complex():
                    raise RuntimeError("Adafactor supports dense real parameters and gradients only")
                self._update(p, group)
        return loss

    def _update(self, p: Tensor, group: dict[str, Any]) -> None:
        state = self._init_state(p, group)
        t = state["step"]
        dtype = _compute_dtype(p)
        param = p.to(dtype)  # a copy when p is bf16/fp16, p itself otherwise
        grad = p.grad.to(dtype)  # never written to: it may be p.grad itself
        if group["weight_decay"]:
            grad = grad.add(param, alpha=group["weight_decay"])
        mixing, eps1 = 1.0 - self._decay_rate(group, t), group["epsilon1"]
        # Means of g^2 + eps1 via norms, so no full-size g^2 is materialized: the only full-size temporary is
        # `update` (plus fp32 copies of p and its grad when p is bf16/fp16).
        if "vr" in state:
            vr, vc = state["vr"], state["vc"]
            row_mean = torch.linalg.vector_norm(grad, dim=-1).square_().div_(grad.shape[-1]).add_(eps1)
            col_mean = torch.linalg.vector_norm(grad, dim=-2).square_().div_(grad.shape[-2]).add_(eps1)
            vr.lerp_(row_mean, mixing)  # (..., rows)
            vc.lerp_(col_mean, mixing)  # (..., cols)
            row_factor = (vr / vr.mean(dim=-1, keepdim=True)).rsqrt_()
            update = (grad * row_factor.unsqueeze(-1)).mul_(vc.rsqrt().unsqueeze(-2))
        else:
            v = state["v"]
            v.mul_(1.0 - mixing).addcmul_(grad, grad, value=mixing).add_(mixing * eps1)
            update = v.rsqrt().mul_(grad)
        if group["clipping_threshold"] is not None:
            update.div_((_rms(update) / group["clipping_threshold"]).clamp_(min=1.0))
        update.mul_(self._step_size(group, t))
        if group["multiply_by_parameter_scale"]:  # a 0-d tensor: no host-device sync
            update.mul_(_rms(param).clamp_(min=group["epsilon2"]))
        if "m" in state:
            update = state["m"].mul_(group["beta1"]).add_(update, alpha=1.0 - group["beta1"])
        if param is p:
            p.sub_(update)
        else:
            p.copy_(param.sub_(update))
        state["step"] = t + 1
