"""The symbol modality (T2T's `SymbolModality`): token ids in, a distribution over the vocabulary out.

Bottom: an embedding scaled by sqrt(hidden_size), initialised N(0, hidden_size^-0.5); targets_bottom: the same
embedding of the targets shifted right (0, the pad id, is the "go" symbol); top: the transposed embedding
(`shared_embedding_and_softmax_weights`) or a linear layer of its own; loss: T2T's label-smoothed padded
cross-entropy, padding not counted. `shared_embedding`: a model whose inputs and targets are symbols of one
vocabulary uses one embedding for both (the model wrapper decides, since it builds both modalities).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from t2t_torch.modalities.base import Modality
from t2t_torch.modalities.losses import padded_cross_entropy
from t2t_torch.spec import FeatureSpec


@dataclass
class SymbolConfig:
    """hparams.modality.symbol (T2T names and transformer_base values)."""

    label_smoothing: float = 0.1
    shared_embedding_and_softmax_weights: bool = True
    shared_embedding: bool = True  # inputs and targets of one vocabulary share their embedding


class SymbolModality(Modality):
    name = "symbol"
    eval_metrics = "sequence"
    config_class = SymbolConfig
    sequence_top = True
    token_ids = True
    length_unit = "ids"

    def __init__(self, feature: FeatureSpec, hidden_size: int, config: SymbolConfig,
                 body_input: str = "sequence") -> None:
        super().__init__(feature, hidden_size, config, body_input)
        self.embedding = nn.Embedding(feature.vocab_size, hidden_size)
        nn.init.normal_(self.embedding.weight, std=hidden_size**-0.5)
        self.softmax = None
        if not config.shared_embedding_and_softmax_weights:
            self.softmax = nn.Linear(hidden_size, feature.vocab_size, bias=False)
            nn.init.xavier_uniform_(self.softmax.weight)

    def bottom(self, x: torch.Tensor) -> torch.Tensor:
        return self.embedding(x) * self.hidden_size**0.5  # (B, T, D)

    def mask(self, x: torch.Tensor) -> torch.Tensor:
        return x != self.feature.pad_value  # (B, T)

    def targets_bottom(self, y: torch.Tensor) -> torch.Tensor:
        shifted = F.pad(y[:, :-1], (1, 0), value=self.feature.pad_value)  # T2T's shift_right
        return self.bottom(shifted)

    def step_bottom(self, ids: torch.Tensor) -> torch.Tensor:
        return self.bottom(ids)

    def top(self, h: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return F.linear(h, self.embedding.weight) if self.softmax is None else self.softmax(h)  # (B, T, V)

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return padded_cross_entropy(logits, targets, self.config.label_smoothing, int(self.feature.pad_value))
