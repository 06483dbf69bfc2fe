"""Xception for image classification (ports T2T's `Xception`, `models/xception.py` `xception_internal`, with the
convolution blocks of `layers/common_layers.py` it is built from).

Every convolution is one unit of T2T's `conv_block`: an optional ReLU first, the convolution without bias, then a
layer norm over the channels (epsilon 1e-6). A separable convolution is Keras's `SeparableConv2D`: a depthwise
convolution (groups = channels) then a pointwise 1x1. Padding is TF's "SAME" throughout (for a stride-2 window on an
even side the extra row/column is padded after the end).

- entry: images taller than 200 pixels get T2T's Xception entry flow (3x3 stride-2 conv to 32, 3x3 conv to 64, then
  three downsampling blocks of two separable 3x3 convs and a SAME 3x3 stride-2 max-pool, plus a 1x1 stride-2 conv
  shortcut, to min(128, h), min(256, h) and h channels); smaller images one 3x3 conv to `hidden_size` (h).
- `num_hidden_layers` residual blocks: three (ReLU, separable `kernel_height` x `kernel_width` conv, layer norm)
  units, added to the block's input, layer-normed, then dropout (`dropout`).
- exit (T2T's `conv_block_downsample` with a 3x3 kernel and stride 2): two separable units to h and 1.25 h and a SAME
  max-pool, plus a 3x3 stride-2 conv shortcut to 1.25 h; then separable units to 2 h (no ReLU first) and 2.5 h, ReLU.

The body returns (B, ceil(H'/2), ceil(W'/2), int(2.5 h)); the class-label top averages over the positions.
Init: T2T's `initializer="orthogonal"` (xception_base's gain 1.0) on every kernel, flattened as TF flattens it (a
depthwise kernel is one unit vector over all its entries); layer norms scale 1, shift 0. One departure: T2T's exit
reshaped a non-square input to a square of the same area (for non-image inputs); here non-square images stay as
they are. `channels_last` (not a T2T hparam) keeps weights and activations in torch's channels_last memory format.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from t2t_torch.models.resnet import max_pool_same, pad_same
from t2t_torch.models.spatial_body import SpatialBody
from t2t_torch.registry import register_model

LARGE_IMAGE_HEIGHT = 200  # T2T: taller images get the entry flow


@dataclass
class XceptionConfig:
    """hparams.model of xception (T2T's xception_base values)."""

    hidden_size: int = 768
    num_hidden_layers: int = 8
    kernel_height: int = 3  # the residual blocks' separable kernels
    kernel_width: int = 3
    dropout: float = 0.2
    channels_last: bool = True  # weights and activations in channels_last memory (the GPU-friendly layout)

    def __post_init__(self) -> None:
        for name in ("hidden_size", "kernel_height", "kernel_width"):
            if getattr(self, name) < 1:
                raise ValueError(f"model.{name} must be >= 1, got {getattr(self, name)}")
        if self.num_hidden_layers < 0:
            raise ValueError(f"model.num_hidden_layers must be >= 0, got {self.num_hidden_layers}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"model.dropout must be in [0, 1), got {self.dropout}")


class ChannelLayerNorm(nn.LayerNorm):
    """T2T's `layer_norm` over the channels of a (B, C, H, W) tensor (epsilon 1e-6)."""

    def __init__(self, channels: int) -> None:
        super().__init__(channels, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalizes channels-last (a free view of channels_last memory); the result keeps x's memory format."""
        y = super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return y if x.is_contiguous(memory_format=torch.channels_last) else y.contiguous()


class Conv2dSame(nn.Conv2d):
    """A bias-free convolution with TF's "SAME" padding for any kernel, stride and input size."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int], stride: int = 1,
                 groups: int = 1) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding=0, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(pad_same(x, self.kernel_size, self.stride[0]))


class SeparableConv2d(nn.Sequential):
    """Keras's `SeparableConv2D` without bias: depthwise `kernel_size` convolution, then pointwise 1x1."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int] = 3) -> None:
        super().__init__(Conv2dSame(in_channels, in_channels, kernel_size, groups=in_channels),
                         Conv2dSame(in_channels, out_channels, 1))


class ConvUnit(nn.Module):
    """One convolution of T2T's `conv_block`: [ReLU] -> convolution -> layer norm over its output channels."""

    def __init__(self, convolution: nn.Module, out_channels: int, first_relu: bool = True) -> None:
        super().__init__()
        self.first_relu = first_relu
        self.conv = convolution
        self.norm = ChannelLayerNorm(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(F.relu(x) if self.first_relu else x))


class EntryBlock(nn.Module):
    """The entry flow's `xnet_resblock`: two separable 3x3 units and a SAME max-pool, plus a strided 1x1 shortcut."""

    def __init__(self, in_channels: int, filters: int, shortcut_relu: bool) -> None:
        super().__init__()
        self.convs = nn.Sequential(ConvUnit(SeparableConv2d(in_channels, filters), filters),
                                   ConvUnit(SeparableConv2d(filters, filters), filters))
        self.shortcut = ConvUnit(Conv2dSame(in_channels, filters, 1, stride=2), filters, first_relu=shortcut_relu)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return max_pool_same(self.convs(x)) + self.shortcut(x)


def entry_flow(in_channels: int, hidden: int) -> nn.Sequential:
    """T2T's `xception_entry` (images taller than 200 pixels): stride 16 overall."""
    return nn.Sequential(ConvUnit(Conv2dSame(in_channels, 32, 3, stride=2), 32, first_relu=False),
                         ConvUnit(Conv2dSame(32, 64, 3), 64),
                         EntryBlock(64, min(128, hidden), shortcut_relu=True),
                         EntryBlock(min(128, hidden), min(256, hidden), shortcut_relu=False),
                         EntryBlock(min(256, hidden), hidden, shortcut_relu=False))


class ResidualBlock(nn.Module):
    """T2T's xception `residual_block`: three separable units, residual sum, layer norm, dropout."""

    def __init__(self, config: XceptionConfig) -> None:
        super().__init__()
        hidden, kernel = config.hidden_size, (config.kernel_height, config.kernel_width)
        self.convs = nn.Sequential(*(ConvUnit(SeparableConv2d(hidden, hidden, kernel), hidden) for _ in range(3)))
        self.norm = ChannelLayerNorm(hidden)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.norm(x + self.convs(x)))


class ExitFlow(nn.Module):
    """T2T's `xception_exit` (`conv_block_downsample`, 3x3 kernels, stride 2) and its final ReLU."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        wider, double, widest = int(1.25 * hidden), 2 * hidden, int(2.5 * hidden)
        self.shortcut = ConvUnit(Conv2dSame(hidden, wider, 3, stride=2), wider)
        self.convs = nn.Sequential(ConvUnit(SeparableConv2d(hidden, hidden), hidden),
                                   ConvUnit(SeparableConv2d(hidden, wider), wider))
        self.widen = nn.Sequential(ConvUnit(SeparableConv2d(wider, double), double, first_relu=False),
                                   ConvUnit(SeparableConv2d(double, widest), widest))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.widen(max_pool_same(self.convs(x)) + self.shortcut(x)))


def init_orthogonal_(conv: nn.Conv2d) -> None:
    """TF's orthogonal initializer (gain 1) on the kernel flattened to (k_h * k_w * in, out), as TF does: a depthwise
    kernel (one output per group) is a single unit vector."""
    weight = conv.weight
    nn.init.orthogonal_(weight.view(1, -1) if conv.groups > 1 else weight)


@register_model("xception")
class Xception(SpatialBody):
    """T2T's Xception as a spatial body: (B, H, W, C) images -> (B, H', W', int(2.5 hidden_size)) features."""

    config_class = XceptionConfig

    def __init__(self, config: XceptionConfig, family: str, input_shape: tuple[int, ...] = ()) -> None:
        super().__init__(config, family, input_shape)
        height, channels, hidden = input_shape[0], input_shape[-1], config.hidden_size
        if height > LARGE_IMAGE_HEIGHT:
            self.entry = entry_flow(channels, hidden)
        else:
            self.entry = nn.Sequential(ConvUnit(Conv2dSame(channels, hidden, 3), hidden, first_relu=False))
        self.blocks = nn.Sequential(*(ResidualBlock(config) for _ in range(config.num_hidden_layers)))
        self.exit = ExitFlow(hidden)
        self.finish_init(init_orthogonal_)

    @classmethod
    def output_width(cls, config: XceptionConfig) -> int:
        return int(2.5 * config.hidden_size)

    @classmethod
    def shrink(cls, values: dict) -> dict:
        """hidden_size 8 and 2 residual blocks; kernels, dropout and the entry kind (from the image size) kept."""
        return {**values, "hidden_size": 8, "num_hidden_layers": 2}

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, int(2.5 hidden_size), ceil(H'/2), ceil(W'/2))."""
        return self.exit(self.blocks(self.entry(x)))
