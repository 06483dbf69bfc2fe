"""Reversible residual blocks whose backward recomputes activations instead of storing them (ports the memory
saving of T2T's `rev_block`, `tf.contrib.layers.rev_block`, as RevNet uses it; Gomez et al. 2017).

A `ReversibleBlock` maps (x1, x2) to (y1, y2) = (x1 + f(x2), x2 + g(y1)) and back: x2 = y2 - g(y1),
x1 = y1 - f(x2). A `ReversibleSequence` runs blocks one after another; with `reversible=True` it runs them inside
one autograd Function that keeps only the sequence's outputs, and its backward walks the blocks in reverse,
rebuilding each block's inputs from its outputs and recomputing f and g under autograd one block at a time, so
the activations kept for backward do not grow with the number of blocks. With `reversible=False` the same blocks
run under ordinary autograd (every activation stored): the baseline it is tested and benchmarked against.

Recomputation and batch norm: the backward recomputes f and g in the mode the forward ran in. In training mode
each batch norm normalizes with the batch statistics of the rebuilt input (the forward's input to rounding) and
its running statistics are not updated a second time (`_batch_statistics_only`). f and g must be deterministic
(a block with dropout is refused: T2T's RevNet has none); the autocast state of the forward is replayed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn as nn
from torch.autograd.function import once_differentiable


class ReversibleBlock(nn.Module):
    """(x1, x2) -> (x1 + f(x2), x2 + g(x1 + f(x2))), invertible whatever f and g are."""

    def __init__(self, f: nn.Module, g: nn.Module) -> None:
        super().__init__()
        self.f = f
        self.g = g

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y1 = x1 + self.f(x2)
        return y1, x2 + self.g(y1)

    def inverse(self, y1: torch.Tensor, y2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The inputs (x1, x2) that `forward` maps to (y1, y2)."""
        x2 = y2 - self.g(y1)
        return y1 - self.f(x2), x2


@contextmanager
def _batch_statistics_only(module: nn.Module) -> Iterator[None]:
    """While active, batch norms in training mode normalize with batch statistics without updating their running
    statistics (or `num_batches_tracked`): a recomputation must not count a batch twice."""
    norms = [m for m in module.modules()
             if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training and m.track_running_stats]
    for norm in norms:
        norm.track_running_stats = False
    try:
        yield
    finally:
        for norm in norms:
            norm.track_running_stats = True


class ReversibleSequence(nn.Module):
    """Reversible blocks applied in order to a pair of tensors; see the module docstring for `reversible`."""

    def __init__(self, blocks: Sequence[ReversibleBlock], reversible: bool = True) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.reversible = reversible
        if reversible and any(isinstance(m, nn.modules.dropout._DropoutNd) for m in self.blocks.modules()):
            raise ValueError("a reversible sequence cannot recompute dropout (its masks are not replayed)")

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.blocks:
            return x1, x2
        if self.reversible and torch.is_grad_enabled():
            parameters = [p for p in self.parameters() if p.requires_grad]
            return _ReversibleFunction.apply(x1, x2, self, *parameters)
        for block in self.blocks:
            x1, x2 = block(x1, x2)
        return x1, x2

    def inverse(self, y1: torch.Tensor, y2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The inputs that `forward` maps to (y1, y2), rebuilt block by block as the reversible backward does
        (running statistics untouched)."""
        with torch.no_grad(), _batch_statistics_only(self):
            for block in reversed(self.blocks):
                y1, y2 = block.inverse(y1, y2)
        return y1, y2


class _ReversibleFunction(torch.autograd.Function):
    """A `ReversibleSequence` as one autograd node that saves only its outputs."""

    @staticmethod
    def forward(ctx: Any, x1: torch.Tensor, x2: torch.Tensor, sequence: ReversibleSequence,
                *parameters: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ctx.sequence = sequence
        ctx.training = sequence.training
        ctx.device_type = x1.device.type
        ctx.autocast = (torch.is_autocast_enabled(ctx.device_type), torch.get_autocast_dtype(ctx.device_type))
        for block in sequence.blocks:
            x1, x2 = block(x1, x2)
        ctx.save_for_backward(x1, x2)
        return x1, x2

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_y1: torch.Tensor, grad_y2: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        sequence: ReversibleSequence = ctx.sequence
        if sequence.training != ctx.training:
            raise RuntimeError("a reversible sequence changed train/eval mode between its forward and backward")
        y1, y2 = ctx.saved_tensors
        enabled, dtype = ctx.autocast
        grads: dict[nn.Parameter, torch.Tensor] = {}
        with torch.autocast(ctx.device_type, dtype=dtype, enabled=enabled), _batch_statistics_only(sequence):
            for block in reversed(sequence.blocks):
                y1, y2, grad_y1, grad_y2 = _block_backward(block, y1, y2, grad_y1, grad_y2, grads)
        parameters = [p for p in sequence.parameters() if p.requires_grad]
        return grad_y1, grad_y2, None, *(grads.get(p) for p in parameters)


def _block_backward(block: ReversibleBlock, y1: torch.Tensor, y2: torch.Tensor, grad_y1: torch.Tensor,
                    grad_y2: torch.Tensor, grads: dict[nn.Parameter, torch.Tensor]
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rebuild one block's inputs from its outputs, recomputing g then f under autograd; store its parameters'
    gradients in `grads`; return (x1, x2, grad_x1, grad_x2)."""
    with torch.enable_grad():
        y1 = y1.detach().requires_grad_()
        g_out = block.g(y1)
        g_params = [p for p in block.g.parameters() if p.requires_grad]
        grad_from_g, *g_grads = torch.autograd.grad(g_out, (y1, *g_params), grad_y2, allow_unused=True)
    x2 = y2 - g_out.detach()
    grad_y1 = grad_y1 + grad_from_g  # y1 feeds the output directly and through g
    with torch.enable_grad():
        x2 = x2.requires_grad_()
        f_out = block.f(x2)
        f_params = [p for p in block.f.parameters() if p.requires_grad]
        grad_from_f, *f_grads = torch.autograd.grad(f_out, (x2, *f_params), grad_y1, allow_unused=True)
    x1 = y1.detach() - f_out.detach()
    for parameter, grad in zip((*g_params, *f_params), (*g_grads, *f_grads), strict=True):
        if grad is not None:
            grads[parameter] = grads[parameter] + grad if parameter in grads else grad
    return x1, x2.detach(), grad_y1, grad_y2 + grad_from_f


def saved_activation_bytes(model: nn.Module, images: torch.Tensor) -> int:
    """Bytes of the distinct storages autograd keeps for backward after one forward (parameters left out)."""
    parameters = {p.untyped_storage().data_ptr() for p in model.parameters()}
    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in parameters:
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        out = model(images)
    del out
    return sum(storages.values())
