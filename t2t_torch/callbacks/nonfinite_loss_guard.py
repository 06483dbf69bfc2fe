"""Stop training at the first NaN/inf loss or gradient, and never write a checkpoint with non-finite weights.

The loss is checked before backward, so the weights are still those that produced it (no NaN has reached them
through an optimizer step); the error names the step and the first module whose output was not finite (finding
it costs one extra forward pass with hooks, on the failing batch only). A finite loss can still have non-finite
gradients (an overflow in backward): they are checked before the optimizer step (and before clipping, which
would spread a NaN to every gradient), and the error names the first parameter. Under fp16 mixed precision the
gradient scaler already skips such steps (and lowers its scale), so the gradient check leaves them to it. Last,
every checkpoint's weights are checked as it is written: a non-finite state is refused, not saved.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import lightning as L
import torch

from t2t_torch.errors import T2TUserError


class NonFiniteLossError(T2TUserError):
    pass


def first_nonfinite_module(model: torch.nn.Module, batch: Mapping[str, torch.Tensor]) -> str | None:
    """Re-run `model(batch)` and return the name of the first module (in call order) with a non-finite output."""
    found: list[str] = []
    names = {module: name for name, module in model.named_modules()}

    def hook(module: torch.nn.Module, args: Any, output: Any) -> None:
        tensors = output if isinstance(output, (tuple, list)) else (output,)
        if not found and any(isinstance(t, torch.Tensor) and t.is_floating_point() and not torch.isfinite(t).all()
                             for t in tensors):
            found.append(names[module] or type(module).__name__)

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    try:
        with torch.no_grad():
            model(batch)
    finally:
        for handle in handles:
            handle.remove()
    return found[0] if found else None


def first_nonfinite(named_tensors: Iterable[tuple[str, Any]]) -> str | None:
    """The name of the first floating-point tensor with a NaN/inf element, else None (one device sync when all
    are finite, the common case)."""
    named = [(n, t) for n, t in named_tensors if isinstance(t, torch.Tensor) and t.is_floating_point()]
    if not named or bool(torch.stack([torch.isfinite(t).all() for _, t in named]).all()):
        return None
    return next(n for n, t in named if not torch.isfinite(t).all())


class NonFiniteLossGuard(L.Callback):
    def __init__(self) -> None:
        self._batch: Any = None

    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module: L.LightningModule,
                                 optimizer: torch.optim.Optimizer) -> None:
        if getattr(trainer.precision_plugin, "scaler", None) is not None:
            return  # fp16: the GradScaler skips steps with inf/NaN gradients itself
        name = first_nonfinite([(n, p.grad) for n, p in pl_module.named_parameters() if p.grad is not None])
        if name is not None:
            raise NonFiniteLossError(
                f"the gradient of '{name}' became non-finite at step {trainer.global_step} (the loss was finite):"
                " lower the learning rate, raise warmup or enable gradient clipping (hparams.optim.clip_grad_norm)"
            )

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        name = first_nonfinite(checkpoint.get("state_dict", {}).items())
        if name is not None:
            raise NonFiniteLossError(
                f"refusing to write a checkpoint at step {checkpoint.get('global_step')}: weight '{name}' is not"
                " finite (the previous checkpoints are kept): lower the learning rate or enable gradient clipping"
            )

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self._batch = batch

    def on_before_backward(self, trainer: L.Trainer, pl_module: L.LightningModule, loss: torch.Tensor) -> None:
        if torch.isfinite(loss).all():
            return
        model = getattr(pl_module, "model", None)
        culprit = first_nonfinite_module(model, self._batch) if model is not None and self._batch is not None else None
        where = f"; first non-finite output from module '{culprit}'" if culprit else ""
        raise NonFiniteLossError(
            f"loss became {loss.item()} at step {trainer.global_step}{where}:"
            " lower the learning rate, raise warmup or enable gradient clipping (hparams.optim.clip_grad_norm)"
        )
