"""Residual networks for image classification (ports T2T's `Resnet`, `models/resnet.py`, and its hparams sets).

Architecture, as T2T builds it (which is neither a pure v1 nor a pure v2 ResNet):
- stem: a 7x7 convolution (no bias) to `filter_sizes[0]` channels, stride 2 (stride 1 when `is_cifar`: T2T keeps the
  7x7 kernel on CIFAR), batch norm, ReLU; then, unless `is_cifar`, a 3x3 stride-2 max-pool with TF's "SAME" padding
  (on an even side it pads only after the end, unlike torchvision's symmetric padding).
- stages: 4 (3 when `is_cifar`) of `layer_sizes[i]` blocks with `filter_sizes[i + 1]` filters, strides 1, 2, 2, 2.
  The first block of every stage has a projection shortcut (1x1 convolution with the stage's stride, batch norm),
  even where the widths already match (stage 1 of the residual sets).
- `block_fn: residual`: T2T's pre-activation (v2) block, BN-ReLU -> 3x3 conv (stride) -> BN-ReLU -> 3x3 conv, plus the
  shortcut (the projection reads the pre-activated input); nothing after the sum, and no final BN-ReLU after the last
  stage as a full v2 network would have.
- `block_fn: bottleneck`: T2T's post-activation (v1) bottleneck, 1x1 conv -> BN-ReLU -> 3x3 conv (stride) -> BN-ReLU
  -> 1x1 conv to `bottleneck_ratios[i] x` filters -> BN, then ReLU of the sum (the stride sits on the 3x3 convolution,
  as torchvision's "v1.5"). The last block of a stage (never its first) starts its final BN's scale at zero.
- init: convolutions get T2T's explicit `variance_scaling_initializer()` (truncated normal, fan_in, scale 1), batch
  norms scale 1 / shift 0 (TF momentum 0.9 = torch 0.1, epsilon 1e-5, torch's defaults).

The body returns (B, H', W', C_out), C_out = the last stage's filters (times its bottleneck ratio): the class-label
top averages over the positions and applies the dense layer, as T2T's class-label top (and its CIFAR branch) does.
T2T's targeted dropout (`use_td`) is not ported. `channels_last` (not a T2T hparam; T2T's `use_nchw` chose a layout
for the same reason) keeps weights and activations in torch's channels_last memory format.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from t2t_torch.models.spatial_body import SpatialBody
from t2t_torch.registry import register_model

BLOCK_FNS = ("residual", "bottleneck")
TRUNCATED_NORMAL_STD = 0.87962566103423978  # std of a unit normal truncated at +-2, as TF's variance scaling divides


def pad_same(x: torch.Tensor, kernel_size: int | tuple[int, int], stride: int, value: float = 0.0) -> torch.Tensor:
    """x (B, C, H, W) padded as TF's "SAME" does before a `kernel_size` (k or (k_h, k_w)) window with `stride`: the
    output side is ceil(side / stride), and an odd amount of padding puts the extra row/column after the end."""
    kernels = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    pads: list[int] = []
    for size, kernel in ((x.size(3), kernels[1]), (x.size(2), kernels[0])):  # F.pad lists the last dimension first
        total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads, value=value)


def max_pool_same(x: torch.Tensor, kernel_size: int = 3, stride: int = 2) -> torch.Tensor:
    """TF's max-pool with "SAME" padding (padded positions never win), without copying x into a padded tensor:
    a side whose SAME padding is even is padded symmetrically, an odd one (p before, p + 1 after) gets p and torch's
    ceil_mode adds the last window, which TF's extra padding would have made (for an even amount the output sizes
    of floor and ceil mode coincide, so one ceil_mode serves both sides)."""
    totals = [(math.ceil(size / stride) - 1) * stride + kernel_size - size for size in x.shape[-2:]]
    if kernel_size < stride or min(totals) < 0:  # windows that skip pixels: pad explicitly
        return F.max_pool2d(pad_same(x, kernel_size, stride, float("-inf")), kernel_size, stride)
    return F.max_pool2d(x, kernel_size, stride, padding=tuple(t // 2 for t in totals),
                        ceil_mode=any(t % 2 for t in totals))


def conv(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> nn.Conv2d:
    """T2T's `conv2d_fixed_padding`: no bias, symmetric padding (kernel - 1) / 2 whatever the stride and input size."""
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding=(kernel_size - 1) // 2, bias=False)


@dataclass
class ResnetConfig:
    """hparams.model of resnet (T2T's resnet_base = resnet_50 values)."""

    layer_sizes: list[int] = field(default_factory=lambda: [3, 4, 6, 3])  # blocks per stage
    bottleneck_ratios: list[int] = field(default_factory=lambda: [4, 4, 4, 4])  # per stage, bottleneck blocks only
    filter_sizes: list[int] = field(default_factory=lambda: [64, 64, 128, 256, 512])  # stem, then one per stage
    block_fn: str = "bottleneck"  # residual | bottleneck
    is_cifar: bool = False  # 3 stages, stride-1 stem and no max-pool
    channels_last: bool = True  # weights and activations in channels_last memory (the GPU-friendly layout)

    @property
    def num_stages(self) -> int:
        return 3 if self.is_cifar else 4

    def __post_init__(self) -> None:
        if self.block_fn not in BLOCK_FNS:
            raise ValueError(f"model.block_fn must be one of {', '.join(BLOCK_FNS)}, got {self.block_fn!r}")
        stages = self.num_stages
        wanted = {"layer_sizes": (self.layer_sizes, stages), "filter_sizes": (self.filter_sizes, stages + 1)}
        for name, (values, length) in wanted.items():
            if len(values) != length:
                raise ValueError(f"model.{name} needs {length} entries with is_cifar={self.is_cifar}, got {values}")
        if len(self.bottleneck_ratios) < stages:
            raise ValueError(f"model.bottleneck_ratios needs {stages} entries, got {self.bottleneck_ratios}")
        for name in ("layer_sizes", "filter_sizes", "bottleneck_ratios"):
            if any(int(v) != v or v < 1 for v in getattr(self, name)):
                raise ValueError(f"model.{name} must be positive integers, got {getattr(self, name)}")

    def stage_out_channels(self, stage: int) -> int:
        ratio = self.bottleneck_ratios[stage] if self.block_fn == "bottleneck" else 1
        return self.filter_sizes[stage + 1] * ratio


class Projection(nn.Sequential):
    """T2T's `projection_shortcut`: 1x1 convolution with the stage's stride, batch norm (no ReLU)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__(conv(in_channels, out_channels, 1, stride), nn.BatchNorm2d(out_channels))


class ResidualBlock(nn.Module):
    """T2T's `residual_block`: pre-activation, two 3x3 convolutions."""

    def __init__(self, in_channels: int, filters: int, stride: int, project: bool) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = conv(in_channels, filters, 3, stride)
        self.bn2 = nn.BatchNorm2d(filters)
        self.conv2 = conv(filters, filters, 3)
        self.projection = Projection(in_channels, filters, stride) if project else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        activated = F.relu(self.bn1(x))
        shortcut = x if self.projection is None else self.projection(activated)
        return self.conv2(F.relu(self.bn2(self.conv1(activated)))) + shortcut


class BottleneckBlock(nn.Module):
    """T2T's `bottleneck_block`: post-activation 1x1 -> 3x3 -> 1x1 to `ratio x filters` channels."""

    def __init__(self, in_channels: int, filters: int, stride: int, project: bool, ratio: int,
                 zero_init_last_norm: bool) -> None:
        super().__init__()
        self.conv1 = conv(in_channels, filters, 1)
        self.bn1 = nn.BatchNorm2d(filters)
        self.conv2 = conv(filters, filters, 3, stride)
        self.bn2 = nn.BatchNorm2d(filters)
        self.conv3 = conv(filters, ratio * filters, 1)
        self.bn3 = nn.BatchNorm2d(ratio * filters)
        if zero_init_last_norm:
            nn.init.zeros_(self.bn3.weight)
        self.projection = Projection(in_channels, ratio * filters, stride) if project else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.projection is None else self.projection(x)
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        return F.relu(self.bn3(self.conv3(y)) + shortcut)


def stage(config: ResnetConfig, index: int, in_channels: int, stride: int) -> nn.Sequential:
    """T2T's `block_layer`: the first block projects and strides; the last of several zero-inits its final BN."""
    filters, blocks = config.filter_sizes[index + 1], config.layer_sizes[index]
    layers: list[nn.Module] = []
    for number in range(blocks):
        first = number == 0
        block_in = in_channels if first else config.stage_out_channels(index)
        block_stride = stride if first else 1
        if config.block_fn == "residual":
            layers.append(ResidualBlock(block_in, filters, block_stride, project=first))
        else:
            layers.append(BottleneckBlock(block_in, filters, block_stride, project=first,
                                          ratio=config.bottleneck_ratios[index],
                                          zero_init_last_norm=not first and number == blocks - 1))
    return nn.Sequential(*layers)


class Stem(nn.Module):
    """The initial 7x7 convolution, BN-ReLU and (ImageNet only) the SAME-padded 3x3 stride-2 max-pool."""

    def __init__(self, in_channels: int, out_channels: int, is_cifar: bool) -> None:
        super().__init__()
        self.conv = conv(in_channels, out_channels, 7, 1 if is_cifar else 2)
        self.bn = nn.BatchNorm2d(out_channels)
        self.max_pool = not is_cifar

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn(self.conv(x)))
        return max_pool_same(x) if self.max_pool else x


def init_conv_(weight: torch.Tensor) -> None:
    """TF's `variance_scaling_initializer()`: truncated normal (at 2 std) with variance 1 / fan_in."""
    fan_in = weight[0].numel()
    std = math.sqrt(1.0 / fan_in) / TRUNCATED_NORMAL_STD
    nn.init.trunc_normal_(weight, 0.0, std, -2 * std, 2 * std)


@register_model("resnet")
class Resnet(SpatialBody):
    """T2T's ResNet as a spatial body: (B, H, W, C) images -> (B, H', W', C_out) features."""

    config_class = ResnetConfig

    def __init__(self, config: ResnetConfig, family: str, input_shape: tuple[int, ...] = ()) -> None:
        super().__init__(config, family, input_shape)
        in_channels = input_shape[-1]
        self.stem = Stem(in_channels, config.filter_sizes[0], config.is_cifar)
        stages, width = [], config.filter_sizes[0]
        for index in range(config.num_stages):
            stages.append(stage(config, index, width, 1 if index == 0 else 2))
            width = config.stage_out_channels(index)
        self.stages = nn.Sequential(*stages)
        self.finish_init(lambda conv: init_conv_(conv.weight))

    @classmethod
    def output_width(cls, config: ResnetConfig) -> int:
        return config.stage_out_channels(config.num_stages - 1)

    @classmethod
    def shrink(cls, values: dict) -> dict:
        """One block per stage and 8 filters everywhere; block kind, stem kind and bottleneck ratios kept."""
        stages = ResnetConfig(**values).num_stages
        return {**values, "layer_sizes": [1] * stages, "filter_sizes": [8] * (stages + 1)}

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x))
