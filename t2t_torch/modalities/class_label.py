"""The class-label modality (T2T's `ClassLabelModality`): one class per example.

Top: the body's output averaged over its positions (a sequence body's padding left out; a spatial body's height and
width), then a linear layer to the classes (T2T: `reduce_mean` over positions, then dense). Loss: cross-entropy,
optionally label-smoothed as T2T's, weighted by examples. As a target only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from t2t_torch.modalities.base import Modality
from t2t_torch.modalities.losses import padded_cross_entropy
from t2t_torch.spec import FeatureSpec


@dataclass
class ClassLabelConfig:
    """hparams.modality.class_label."""

    label_smoothing: float = 0.0
    pooling: str = "mean"  # mean | first (a sequence body's first position, as BERT's [CLS])

    def __post_init__(self) -> None:
        if self.pooling not in ("mean", "first"):
            raise ValueError(f"modality.class_label.pooling must be mean or first, got {self.pooling!r}")


class ClassLabelModality(Modality):
    name = "class_label"
    eval_metrics = "class"
    config_class = ClassLabelConfig
    can_be_input = False
    labels = True

    def __init__(self, feature: FeatureSpec, hidden_size: int, config: ClassLabelConfig,
                 body_input: str = "sequence") -> None:
        super().__init__(feature, hidden_size, config, body_input)
        self.classifier = nn.Linear(hidden_size, feature.vocab_size)
        nn.init.xavier_uniform_(self.classifier.weight)
        nn.init.zeros_(self.classifier.bias)

    def pool(self, h: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """(B, ..., D) -> (B, D)."""
        if h.dim() == 2:
            return h
        if h.dim() == 3 and self.config.pooling == "first":
            return h[:, 0]
        if h.dim() == 3 and mask is not None:
            weights = mask.to(h.dtype).unsqueeze(-1)  # (B, T, 1)
            return (h * weights).sum(1) / weights.sum(1).clamp(min=1)
        return h.flatten(1, -2).mean(1)

    def top(self, h: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.classifier(self.pool(h, mask))  # (B, C)

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """logits (B, C), targets (B,): every example counts (class 0 is a class, not padding)."""
        ones = torch.ones_like(targets)
        total, _ = padded_cross_entropy(logits.unsqueeze(1), targets.unsqueeze(1), self.config.label_smoothing,
                                        pad_id=-1)
        return total, ones.sum().to(total.dtype)

    def weights(self, targets: torch.Tensor) -> torch.Tensor:
        return torch.ones_like(targets, dtype=torch.bool)
