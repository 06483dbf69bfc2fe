"""RevNet, the reversible residual network (ports T2T's `revnet`, `models/revnet.py`; Gomez et al. 2017).

Architecture (2-D, T2T's `revnet`):
- init block: conv `init_kernel_size` x `init_kernel_size` (stride `init_stride`) to `num_channels_init_block`
  channels, batch norm, ReLU, and with `init_maxpool` a 3x3 max pool of stride `init_stride` (no padding, as
  TF's "valid"); the channels are split into the two halves (x1, x2).
- one stage per entry of `num_channels`: a non-reversible downsampling unit, y1 = h(x1) + f(x2) (f with the
  stage's stride and `first_batch_norm`), y2 = h(x2) + f'(y1), then `num_layers_per_block` reversible blocks
  (y1 = x1 + f(x2), y2 = x2 + g(y1); `t2t_torch.models.reversible`) that recompute their activations in the
  backward instead of storing them (with `reversible=False` they store them: same network, ordinary autograd).
- f and g (T2T's `f`): [batch norm, ReLU] (the stage's `first_batch_norm` in the downsampling unit's first f,
  always otherwise), then with `bottleneck` conv1x1(depth, stride)-BN-ReLU-conv3x3(depth)-BN-ReLU-conv1x1(4 depth),
  else conv3x3(depth, stride)-BN-ReLU-conv3x3(depth). (T2T's non-bottleneck f overwrites its first conv's output
  with a batch norm of its input, leaving one conv; this port builds the two-conv block the paper and the
  authors' code describe.)
- h (T2T's `downsample_bottleneck` / `downsample_residual`): with `bottleneck` a 1x1 conv (stride) to 4 depth
  channels; else average pooling (stride) and zero channels padded equally on both sides.
- final block: the halves concatenated, batch norm, ReLU; returns (B, H', W', 2 x last width) (the class-label top
  averages over H' x W', as T2T's final pool).

No conv has a bias: in T2T's sets every conv's output reaches the loss only through a batch norm (each f that
reads a residual stream and the final block start with one), which cancels a per-channel constant, so T2T's
TF-default biases get exactly zero gradient. Conv weights: T2T's variance_scaling(2.0, fan_out), a normal
truncated at two standard deviations (TF scales it so that the truncated variance is 2 / fan_out). Stride-2 convs
pad symmetrically (TF's "SAME" pads the bottom/right); average pools round up (TF: down), so an odd or 1-pixel
side never shrinks to 0. 3-D RevNet (`dim: 3d`) is not ported.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from t2t_torch.errors import T2TUserError
from t2t_torch.models.reversible import ReversibleBlock, ReversibleSequence
from t2t_torch.models.spatial_body import SpatialBody
from t2t_torch.registry import register_model

TRUNCATED_NORMAL_STD = 0.87962566103423978  # std of a unit normal truncated at +-2 (TF's variance scaling divides)


@dataclass
class RevnetConfig:
    """hparams.model of revnet (T2T's revnet_104 values)."""

    num_channels: list[int] = field(default_factory=lambda: [64, 128, 256, 416])
    num_layers_per_block: list[int] = field(default_factory=lambda: [1, 1, 10, 1])
    bottleneck: bool = True
    first_batch_norm: list[bool] = field(default_factory=lambda: [False, True, True, True])
    init_stride: int = 2
    init_kernel_size: int = 7
    init_maxpool: bool = True
    strides: list[int] = field(default_factory=lambda: [1, 2, 2, 2])
    num_channels_init_block: int = 64
    reversible: bool = True  # False: the same network under ordinary autograd (stores every activation)
    channels_last: bool = True

    def __post_init__(self) -> None:
        stages = len(self.num_channels)
        lengths = {len(v) for v in (self.num_layers_per_block, self.first_batch_norm, self.strides)}
        if stages == 0 or lengths != {stages}:
            raise ValueError("model.num_channels, num_layers_per_block, first_batch_norm and strides must be"
                             f" non-empty lists of one length (one entry per stage), got {self.num_channels},"
                             f" {self.num_layers_per_block}, {self.first_batch_norm}, {self.strides}")
        if min(self.num_channels) < 1 or min(self.num_layers_per_block) < 0 or min(self.strides) < 1:
            raise ValueError("model.num_channels and strides must be >= 1 and num_layers_per_block >= 0")
        if self.init_stride < 1 or self.init_kernel_size < 1 or self.init_kernel_size % 2 == 0:
            raise ValueError(f"model.init_stride must be >= 1 and init_kernel_size odd, got {self.init_stride},"
                             f" {self.init_kernel_size}")
        if self.num_channels_init_block < 2 or self.num_channels_init_block % 2:
            raise ValueError("model.num_channels_init_block must be even (it is split into two halves), got"
                             f" {self.num_channels_init_block}")
        widths = [self.num_channels_init_block // 2, *self.num_channels]
        if not self.bottleneck and any(b < a or (b - a) % 2 for a, b in zip(widths, widths[1:], strict=False)):
            raise ValueError("model.num_channels: with bottleneck=false each stage's width must exceed the previous"
                             " one (num_channels_init_block/2 first) by an even number >= 0 (the shortcut pads"
                             f" channels equally on both sides), got {widths[0]} then {self.num_channels}")


def _conv(in_channels: int, out_channels: int, kernel: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel, stride, padding=kernel // 2, bias=False)


def residual_function(in_channels: int, depth: int, bottleneck: bool, stride: int = 1,
                      first_batch_norm: bool = True) -> nn.Sequential:
    """T2T's `f`: the residual branch of a RevNet unit (out: 4 x depth channels with `bottleneck`, else depth)."""
    layers: list[nn.Module] = [nn.BatchNorm2d(in_channels), nn.ReLU(inplace=True)] if first_batch_norm else []
    if bottleneck:
        layers += [_conv(in_channels, depth, 1, stride), nn.BatchNorm2d(depth), nn.ReLU(inplace=True),
                   _conv(depth, depth, 3), nn.BatchNorm2d(depth), nn.ReLU(inplace=True),
                   _conv(depth, 4 * depth, 1)]
    else:
        layers += [_conv(in_channels, depth, 3, stride), nn.BatchNorm2d(depth), nn.ReLU(inplace=True),
                   _conv(depth, depth, 3)]
    return nn.Sequential(*layers)


class PoolAndPadShortcut(nn.Module):
    """T2T's `downsample_residual`: average pool by `stride`, then zero channels added equally on both sides."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.pad = (out_channels - in_channels) // 2
        self.pool = nn.AvgPool2d(stride, stride, ceil_mode=True) if stride > 1 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(x)
        return F.pad(x, (0, 0, 0, 0, self.pad, self.pad)) if self.pad else x


class DownsamplingUnit(nn.Module):
    """The non-reversible first unit of a stage: (x1, x2) -> (h(x1) + f(x2), h'(x2) + f'(h(x1) + f(x2)))."""

    def __init__(self, in_channels: int, depth: int, bottleneck: bool, stride: int, first_batch_norm: bool) -> None:
        super().__init__()
        out_channels = 4 * depth if bottleneck else depth

        def shortcut() -> nn.Module:
            if bottleneck:
                return _conv(in_channels, out_channels, 1, stride)
            return PoolAndPadShortcut(in_channels, out_channels, stride)

        self.h1, self.h2 = shortcut(), shortcut()
        self.f1 = residual_function(in_channels, depth, bottleneck, stride, first_batch_norm)
        self.f2 = residual_function(out_channels, depth, bottleneck)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y1 = self.h1(x1) + self.f1(x2)
        return y1, self.h2(x2) + self.f2(y1)


class RevnetStage(nn.Module):
    """T2T's `unit`: a downsampling unit, then `num_layers` reversible blocks."""

    def __init__(self, in_channels: int, depth: int, num_layers: int, bottleneck: bool, stride: int,
                 first_batch_norm: bool, reversible: bool) -> None:
        super().__init__()
        width = 4 * depth if bottleneck else depth
        self.downsampling = DownsamplingUnit(in_channels, depth, bottleneck, stride, first_batch_norm)
        self.blocks = ReversibleSequence(
            [ReversibleBlock(residual_function(width, depth, bottleneck), residual_function(width, depth, bottleneck))
             for _ in range(num_layers)], reversible)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.blocks(*self.downsampling(x1, x2))


def _variance_scaling_fan_out(weight: torch.Tensor, scale: float = 2.0) -> None:
    """TF's variance_scaling(scale, mode="fan_out") (truncated normal) in place."""
    std = math.sqrt(scale / (weight.size(0) * weight[0, 0].numel())) / TRUNCATED_NORMAL_STD
    nn.init.trunc_normal_(weight, std=std, a=-2 * std, b=2 * std)


def _stage_width(config: RevnetConfig, depth: int) -> int:
    return 4 * depth if config.bottleneck else depth


@register_model("revnet")
class Revnet(SpatialBody):
    """RevNet over images (T2T's revnet): init block, reversible stages, final batch norm and ReLU."""

    config_class = RevnetConfig

    def __init__(self, config: RevnetConfig, family: str, input_shape: tuple[int, ...] = ()) -> None:
        super().__init__(config, family, input_shape)
        height, width, channels = input_shape
        self._check_image_size(height, width)
        init: list[nn.Module] = [_conv(channels, config.num_channels_init_block, config.init_kernel_size,
                                       config.init_stride),
                                 nn.BatchNorm2d(config.num_channels_init_block), nn.ReLU(inplace=True)]
        if config.init_maxpool:
            init.append(nn.MaxPool2d(3, config.init_stride))
        self.init_block = nn.Sequential(*init)
        stages, in_channels = [], config.num_channels_init_block // 2
        for depth, layers, stride, first_norm in zip(config.num_channels, config.num_layers_per_block,
                                                     config.strides, config.first_batch_norm, strict=True):
            stages.append(RevnetStage(in_channels, depth, layers, config.bottleneck, stride, first_norm,
                                      config.reversible))
            in_channels = _stage_width(config, depth)
        self.stages = nn.ModuleList(stages)
        self.final_norm = nn.BatchNorm2d(self.output_width(config))
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                _variance_scaling_fan_out(module.weight)
        if config.channels_last:
            self.to(memory_format=torch.channels_last)

    def _check_image_size(self, height: int, width: int) -> None:
        """The init block's valid max pool needs a 3x3 window: refuse images too small for it in one line."""
        config = self.config
        side = min(math.ceil(height / config.init_stride), math.ceil(width / config.init_stride))
        if config.init_maxpool and side < 3:
            raise T2TUserError(f"revnet: {height}x{width} images are {side} pixels wide after the init conv, too"
                               " small for the 3x3 init max pool: set hparams.model.init_maxpool=false")

    @classmethod
    def output_width(cls, config: RevnetConfig) -> int:
        return 2 * _stage_width(config, config.num_channels[-1])

    @classmethod
    def shrink(cls, values: Mapping[str, Any]) -> dict[str, Any]:
        """Same stages, strides, bottleneck and init block; widths 4, 8, 12, ... and one reversible block each."""
        stages = len(values.get("num_channels", RevnetConfig().num_channels))
        return {**values, "num_channels_init_block": 8, "num_channels": [4 * (i + 1) for i in range(stages)],
                "num_layers_per_block": [1] * stages}

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, 2 x last stage width, H', W')."""
        x1, x2 = self.init_block(x).chunk(2, dim=1)
        for stage in self.stages:
            x1, x2 = stage(x1, x2)
        return F.relu(self.final_norm(torch.cat([x1, x2], dim=1)))
