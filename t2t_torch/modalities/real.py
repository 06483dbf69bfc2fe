"""The real modality (T2T's `RealModality` / `RealL2LossModality`): vectors of floats, in and out.

A feature of shape (T, F) or (F,): bottom is a linear layer F -> hidden_size; top a linear layer hidden_size -> F
(per position for sequence outputs; pooled over positions for a fixed-shape target); loss the squared error summed
over the entries that are not padding rows, weighted by their count (T2T's L2 loss).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from t2t_torch.modalities.base import Modality
from t2t_torch.spec import FeatureSpec


class RealModality(Modality):
    name = "real"

    def __init__(self, feature: FeatureSpec, hidden_size: int, config: object, body_input: str = "sequence") -> None:
        super().__init__(feature, hidden_size, config, body_input)
        self.size = feature.inner_shape[-1] if feature.inner_shape else 1
        self.bottom_projection = nn.Linear(self.size, hidden_size)
        self.top_projection = nn.Linear(hidden_size, self.size)

    def _rows(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(-1) if not self.feature.inner_shape else x

    def bottom(self, x: torch.Tensor) -> torch.Tensor:
        rows = self._rows(x.float())
        return self.bottom_projection(rows if rows.dim() == 3 else rows.unsqueeze(1))  # (B, T, D)

    def mask(self, x: torch.Tensor) -> torch.Tensor | None:
        if not self.feature.is_variable_length:
            return None
        return (self._rows(x) != self.feature.pad_value).any(-1)  # (B, T): a padding row is all pad_value

    def top(self, h: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if not self.feature.is_variable_length and h.dim() == 3:  # one vector per example from a sequence body
            h = h.mean(1) if mask is None else (h * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
        out = self.top_projection(h)
        return out if self.feature.inner_shape else out.squeeze(-1)

    def loss(self, predictions: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        targets = targets.to(predictions.dtype)
        if self.feature.is_variable_length:
            weights = self.weights(targets).to(predictions.dtype)
            if self.feature.inner_shape:
                weights = weights.unsqueeze(-1).expand_as(targets)
        else:
            weights = torch.ones_like(targets)
        return ((predictions - targets) ** 2 * weights).sum(), weights.sum()

    def weights(self, targets: torch.Tensor) -> torch.Tensor:
        if not self.feature.is_variable_length:
            return torch.ones(targets.shape[:1], dtype=torch.bool, device=targets.device)
        rows = self._rows(targets)
        return (rows != self.feature.pad_value).any(-1)
