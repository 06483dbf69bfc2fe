"""Shake-Shake ResNet for CIFAR-size images (ports T2T's `shake_shake`, `models/shake_shake.py`; Gastaldi 2017).

Architecture (T2T's): a 3x3 conv to 16 channels and batch norm, then three stages of (num_hidden_layers - 2) / 6
blocks of widths hidden_size x 1, 2, 4 (strides 1, 2, 2; the first block of a stage downsamples), then ReLU; the
class-label top averages over the remaining H' x W' (T2T: reduce_mean in the top). A block adds
`shake_shake_num_branches` branches of ReLU-conv3x3(stride)-BN-ReLU-conv3x3-BN to a shortcut: the identity when
the width does not change, else T2T's two-path shortcut (a 1x1 conv to half the width on the subsampled input and
another on the input shifted by one pixel, concatenated, batch norm).

Shake-shake regularization ("Shake-Shake-Image" of the paper): in training, the branches are mixed with random
weights drawn per example, and the gradient flows back to them with other, independently drawn weights per example
(`ShakeShakeMix`); each weight vector is uniform on the simplex (for two branches: alpha ~ U[0, 1] and 1 - alpha,
as the paper; T2T normalized independent uniforms instead). The weights come from torch's default generator of the
input's device, so a seeded run draws the same ones. At eval each branch weighs its expectation 1 / num_branches.

Convs have no bias (each is followed by batch norm, which cancels it); conv weights are Glorot-uniform, T2T's
uniform_unit_scaling with gain 1. T2T's `shake_shake_concat` and branch dropout (off in all of its sets) are not
ported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from t2t_torch.models.spatial_body import SpatialBody
from t2t_torch.registry import register_model

STEM_CHANNELS = 16  # T2T's init_conv width, whatever hidden_size is


@dataclass
class ShakeShakeConfig:
    """hparams.model of shake_shake (T2T's shakeshake_small values)."""

    hidden_size: int = 32
    num_hidden_layers: int = 26
    shake_shake_num_branches: int = 2
    channels_last: bool = True

    def __post_init__(self) -> None:
        if self.num_hidden_layers < 8 or (self.num_hidden_layers - 2) % 6:
            raise ValueError(f"model.num_hidden_layers must be 6n + 2 with n >= 1 (n blocks per stage, e.g. 26),"
                             f" got {self.num_hidden_layers}")
        if self.hidden_size < 2 or self.hidden_size % 2:
            raise ValueError(f"model.hidden_size must be even and >= 2 (the shortcut splits it in two halves), got"
                             f" {self.hidden_size}")
        if self.shake_shake_num_branches < 2:
            raise ValueError(f"model.shake_shake_num_branches must be >= 2, got {self.shake_shake_num_branches}")


class ShakeShakeMix(torch.autograd.Function):
    """sum_i forward_weights[:, i] * branch_i, whose gradient to branch_i is backward_weights[:, i] * grad (T2T:
    x * beta + stop_gradient(x * alpha - x * beta)). Weights: (B, num_branches), one row per example."""

    @staticmethod
    def forward(ctx: Any, forward_weights: torch.Tensor, backward_weights: torch.Tensor,
                *branches: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(backward_weights)
        return sum(_per_example(forward_weights[:, i], b) * b for i, b in enumerate(branches))

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        (backward_weights,) = ctx.saved_tensors
        return None, None, *(_per_example(w, grad) * grad for w in backward_weights.unbind(1))


def _per_example(weights: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(B,) -> (B, 1, 1, 1) in `like`'s dtype."""
    return weights.to(like.dtype).view(-1, *([1] * (like.dim() - 1)))


def random_simplex_weights(batch: int, branches: int, device: torch.device) -> torch.Tensor:
    """(batch, branches) rows uniform on the simplex (normalized exponentials: Dirichlet(1, ..., 1))."""
    draws = torch.empty(batch, branches, device=device).exponential_()
    return draws / draws.sum(1, keepdim=True)


def shake_shake(branches: list[torch.Tensor], training: bool) -> torch.Tensor:
    """The branches mixed with fresh random weights per example (others for the gradient) in training, their
    mean at eval."""
    if not training:
        return sum(branches) / len(branches)
    batch, device = branches[0].size(0), branches[0].device
    forward_weights = random_simplex_weights(batch, len(branches), device)
    backward_weights = random_simplex_weights(batch, len(branches), device)
    return ShakeShakeMix.apply(forward_weights, backward_weights, *branches)


def _conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False)


def shake_shake_branch(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.ReLU(), _conv3x3(in_channels, out_channels, stride), nn.BatchNorm2d(out_channels),
                         nn.ReLU(inplace=True), _conv3x3(out_channels, out_channels), nn.BatchNorm2d(out_channels))


class ShakeShakeShortcut(nn.Module):
    """T2T's `shake_shake_skip_connection` when the width changes: two 1x1 convs to half the width each, on the
    input subsampled by `stride` and on the input shifted by one pixel (up and left, zero-filled) and subsampled,
    concatenated, then batch norm."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.path1 = nn.Conv2d(in_channels, out_channels // 2, 1, bias=False)
        self.path2 = nn.Conv2d(in_channels, out_channels // 2, 1, bias=False)
        self.norm = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.stride
        shifted = F.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))
        return self.norm(torch.cat([self.path1(x[:, :, ::s, ::s]), self.path2(shifted[:, :, ::s, ::s])], dim=1))


class ShakeShakeBlock(nn.Module):
    """shortcut(x) + shake_shake(branches(x))."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, num_branches: int) -> None:
        super().__init__()
        self.branches = nn.ModuleList(shake_shake_branch(in_channels, out_channels, stride)
                                      for _ in range(num_branches))
        changes = in_channels != out_channels or stride != 1
        self.shortcut = ShakeShakeShortcut(in_channels, out_channels, stride) if changes else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + shake_shake([branch(x) for branch in self.branches], self.training)


@register_model("shake_shake")
class ShakeShake(SpatialBody):
    """Shake-Shake ResNet over images (T2T's shake_shake, CIFAR layout)."""

    config_class = ShakeShakeConfig

    def __init__(self, config: ShakeShakeConfig, family: str, input_shape: tuple[int, ...] = ()) -> None:
        super().__init__(config, family, input_shape)
        channels = input_shape[-1]
        self.stem = nn.Sequential(_conv3x3(channels, STEM_CHANNELS), nn.BatchNorm2d(STEM_CHANNELS))
        blocks_per_stage = (config.num_hidden_layers - 2) // 6
        blocks, in_channels = [], STEM_CHANNELS
        for multiple, stride in ((1, 1), (2, 2), (4, 2)):
            out_channels = config.hidden_size * multiple
            for index in range(blocks_per_stage):
                blocks.append(ShakeShakeBlock(in_channels, out_channels, stride if index == 0 else 1,
                                              config.shake_shake_num_branches))
                in_channels = out_channels
        self.blocks = nn.Sequential(*blocks)
        self.finish_init(lambda conv: nn.init.xavier_uniform_(conv.weight))

    @classmethod
    def output_width(cls, config: ShakeShakeConfig) -> int:
        return 4 * config.hidden_size

    @classmethod
    def shrink(cls, values: Mapping[str, Any]) -> dict[str, Any]:
        """Hidden 4 and one block per stage (num_hidden_layers 8); the branches as set."""
        return {**values, "hidden_size": 4, "num_hidden_layers": 8}

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, 4 hidden_size, H / 4, W / 4) (sides rounded up)."""
        return F.relu(self.blocks(self.stem(x)))
