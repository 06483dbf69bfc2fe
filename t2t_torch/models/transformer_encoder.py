"""The Transformer encoder as a classification body (ports T2T's `transformer_encoder` model).

The encoder stack of `transformer.py` over the inputs' bottom; the class-label (or real) modality's top pools its
output over the non-padding positions. Serves the `encoder` family: text classification, sentence pairs.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from t2t_torch.models.body import Body
from t2t_torch.models.transformer import (
    EncoderLayer,
    TransformerConfig,
    attention_mask,
    reset_linear_layers,
    timing_signal,
)
from t2t_torch.registry import register_model


@register_model("transformer_encoder")
class TransformerEncoder(Body):
    """Transformer encoder for classification and regression (T2T's transformer_encoder)."""

    families = ("encoder",)
    config_class = TransformerConfig

    def __init__(self, config: TransformerConfig, family: str, input_shape: tuple[int | None, ...] = ()) -> None:
        super().__init__(config, family, input_shape)
        c = config
        self.layers = nn.ModuleList(EncoderLayer(c) for _ in range(c.num_encoder_layers or c.num_hidden_layers))
        self.norm = nn.LayerNorm(c.hidden_size, eps=c.norm_epsilon)
        self.dropout = nn.Dropout(c.layer_prepostprocess_dropout)
        reset_linear_layers(self, c.initializer_gain)

    def encode(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """x (B, S, D), mask (B, S) -> (B, S, D)."""
        x = self.dropout(x + timing_signal(x.size(1), x.size(-1), 0, x.device).to(x.dtype))
        attn_mask = attention_mask(mask)
        for layer in self.layers:
            x = layer(x, attn_mask)
        return self.norm(x)
