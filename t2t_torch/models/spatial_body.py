"""The base of the spatial bodies (T2T's image models): they read (B, H, W, C) images from the image modality and
write (B, H', W', C') features (or a vector) for the class-label top. `SpatialBody` holds what each image body
repeated: the family and input kind, the move to channels-first for the convolutions (NCHW strides, or
channels_last memory when `hparams.model.channels_last`), the initialisation of every convolution, and the move back.
A convolutional body implements `features(x)` on (B, C, H, W) and calls `finish_init(init_conv)` last in `__init__`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn

from t2t_torch.models.body import Body


class SpatialBody(Body):
    families = ("spatial",)
    body_input = "spatial"

    def finish_init(self, init_conv: Callable[[nn.Conv2d], None]) -> None:
        """Initialise every convolution with `init_conv`, then lay the weights out channels-last if asked."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                init_conv(module)
        if self.channels_last:
            self.to(memory_format=torch.channels_last)

    @property
    def channels_last(self) -> bool:
        return bool(getattr(self.config, "channels_last", False))

    def channels_first(self, x: torch.Tensor) -> torch.Tensor:
        """(B, H, W, C) -> (B, C, H, W): a permuted NHWC tensor is channels_last memory already; otherwise NCHW
        strides, even for 1 channel (where `.contiguous()` would keep the permuted strides)."""
        x = x.permute(0, 3, 1, 2)
        return x if self.channels_last else x.clone(memory_format=torch.contiguous_format)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C', H', W')."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, H, W, C) in [-1, 1] -> (B, H', W', C')."""
        return self.features(self.channels_first(x)).permute(0, 2, 3, 1)
