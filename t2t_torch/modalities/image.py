"""The image modality (T2T's `ImageModality`): uint8 pixels (H, W, C) in.

For spatial bodies (CNNs, `basic_fc_relu`) the bottom is the image as floats in [-1, 1] (T2T's
`convert_rgb_to_symmetric_real`), (B, H, W, C). For sequence bodies it is a sequence of non-overlapping
`patch_size` x `patch_size` patches, each flattened and projected to hidden_size (B, H/p * W/p, D), with a learned
position embedding per patch. As an input only (image generation targets are not ported).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from t2t_torch.modalities.base import Modality
from t2t_torch.spec import FeatureSpec


@dataclass
class ImageConfig:
    """hparams.modality.image."""

    patch_size: int = 4  # for sequence bodies: pixels per patch side (must divide height and width)

    def __post_init__(self) -> None:
        if not isinstance(self.patch_size, int) or self.patch_size < 1:
            raise ValueError(f"modality.image.patch_size must be a positive integer, got {self.patch_size!r}")


class ImageModality(Modality):
    name = "image"
    config_class = ImageConfig
    can_be_target = False

    def __init__(self, feature: FeatureSpec, hidden_size: int, config: ImageConfig,
                 body_input: str = "sequence") -> None:
        super().__init__(feature, hidden_size, config, body_input)
        if len(feature.shape) != 3 or feature.is_variable_length:
            raise ValueError(f"the image modality takes fixed (H, W, C) images, not shape {feature.shape}")
        height, width, channels = feature.shape
        if body_input == "sequence":
            p = config.patch_size
            if height % p or width % p:
                raise ValueError(f"modality.image.patch_size={p} does not divide the {height}x{width} images")
            self.patches = (height // p) * (width // p)
            self.projection = nn.Linear(p * p * channels, hidden_size)
            self.positions = nn.Parameter(torch.randn(self.patches, hidden_size) * hidden_size**-0.5)

    @classmethod
    def takes(cls, body_input: str) -> bool:
        return True

    def bottom(self, x: torch.Tensor) -> torch.Tensor:
        images = x.float() / 127.5 - 1.0  # (B, H, W, C) in [-1, 1]
        if self.body_input == "spatial":
            return images
        p = self.config.patch_size
        batch, height, width, channels = images.shape
        patches = images.view(batch, height // p, p, width // p, p, channels).permute(0, 1, 3, 2, 4, 5)
        return self.projection(patches.reshape(batch, self.patches, -1)) + self.positions  # (B, T, D)
