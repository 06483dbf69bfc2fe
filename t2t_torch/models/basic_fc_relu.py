"""A stack of fully connected ReLU layers over the flattened image (ports T2T's `basic_fc_relu`, `models/basic.py`).

Serves the `spatial` family: reads (B, H, W, C) floats from the image modality, flattens them and applies
`num_hidden_layers` x (dense hidden_size, ReLU, dropout); the class-label modality's top maps (B, hidden_size) to
the classes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn

from t2t_torch.models.spatial_body import SpatialBody
from t2t_torch.registry import register_model


@dataclass
class BasicFcReluConfig:
    """hparams.model of basic_fc_relu (T2T's basic_fc_small values)."""

    hidden_size: int = 256
    num_hidden_layers: int = 2
    dropout: float = 0.0


@register_model("basic_fc_relu")
class BasicFcRelu(SpatialBody):
    """Fully connected ReLU layers over flattened images (T2T's basic_fc_relu)."""

    config_class = BasicFcReluConfig

    def __init__(self, config: BasicFcReluConfig, family: str, input_shape: tuple[int, ...] = ()) -> None:
        super().__init__(config, family, input_shape)
        layers: list[nn.Module] = [nn.Linear(math.prod(input_shape), config.hidden_size)]
        for index in range(config.num_hidden_layers):
            if index:
                layers.append(nn.Linear(config.hidden_size, config.hidden_size))
            layers += [nn.ReLU(), nn.Dropout(config.dropout)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, H, W, C) -> (B, hidden_size)."""
        return self.layers(x.flatten(1))
