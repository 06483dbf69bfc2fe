"""Stop training at the first NaN/inf loss, naming the step and the first module whose output was not finite.

The loss is checked before backward, so the weights are still those that produced it (no NaN has reached them
through an optimizer step) and no checkpoint of the broken state is written. Finding the module costs one extra
forward pass with hooks, on the failing batch only.
"""

from __future__ import annotations

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


class NonFiniteLossGuard(L.Callback):
    def __init__(self) -> None:
        self._batch: Any = None

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int) -> None:
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
