"""The Transformer body (ports T2T's `models/transformer.py`, pre-norm "n"/"da"), serving two families.

`encoder_decoder` (translation, summarization): an encoder stack over the inputs' bottom and a decoder stack with
cross-attention; `decoder` (language models, T2T's `has_inputs=False`): the decoder stack alone, no cross-attention.
Embeddings, the softmax and the label-smoothed loss belong to the symbol modality; this body adds T2T's sinusoidal
timing signal and runs the layers (attention is PyTorch's `scaled_dot_product_attention`). `init_cache` / `step`
serve the incremental decoders: each step attends over cached keys/values instead of re-running the prefix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from t2t_torch.decoding.cache import BeamInvariant
from t2t_torch.errors import T2TUserError
from t2t_torch.models.body import Body
from t2t_torch.models.family import Family
from t2t_torch.registry import register_model


@dataclass
class TransformerConfig:
    """Architecture hparams, T2T names (transformer_base values)."""

    hidden_size: int = 512
    num_hidden_layers: int = 6
    num_encoder_layers: int = 0  # 0: num_hidden_layers
    num_decoder_layers: int = 0  # 0: num_hidden_layers
    num_heads: int = 8
    filter_size: int = 2048
    layer_prepostprocess_dropout: float = 0.1
    attention_dropout: float = 0.1
    relu_dropout: float = 0.1
    initializer_gain: float = 1.0
    norm_epsilon: float = 1e-6
    ctc_weight: float = 0.0  # ours, not T2T's: > 0 adds a CTC loss on the encoder's output (models/ctc.py)

    def __post_init__(self) -> None:
        """Refuse what the layers cannot be built with; checked when a config is composed, before data is made."""
        if isinstance(self.ctc_weight, bool) or not isinstance(self.ctc_weight, (int, float)) or not (
                0 <= self.ctc_weight < 1):
            raise T2TUserError(f"hparams.model.ctc_weight must be a number in [0, 1) (the CTC share of the loss),"
                               f" got {self.ctc_weight!r}")
        if not isinstance(self.num_heads, int) or self.num_heads < 1 or self.hidden_size % self.num_heads:
            divisors = [d for d in range(1, min(self.hidden_size, 64) + 1) if self.hidden_size % d == 0]
            raise T2TUserError(f"hparams.model.num_heads={self.num_heads} does not divide hparams.model.hidden_size="
                               f"{self.hidden_size}: pass num_heads among {divisors} or another hidden_size")


def timing_signal(length: int, channels: int, start: int = 0, device: torch.device | None = None) -> torch.Tensor:
    """T2T's `add_timing_signal_1d`: sin on the first half of channels, cos on the second. (length, channels)"""
    positions = torch.arange(start, start + length, dtype=torch.float32, device=device)
    num_timescales = channels // 2
    log_increment = math.log(1.0e4) / max(num_timescales - 1, 1)
    inv_timescales = torch.exp(torch.arange(num_timescales, dtype=torch.float32, device=device) * -log_increment)
    scaled = positions[:, None] * inv_timescales[None, :]  # (T, C/2)
    signal = torch.cat([scaled.sin(), scaled.cos()], dim=1)
    return F.pad(signal, (0, channels % 2))


class Attention(nn.Module):
    def __init__(self, hidden_size: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        if hidden_size % num_heads:
            raise ValueError(f"hidden_size {hidden_size} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.dropout = dropout
        self.q = nn.Linear(hidden_size, hidden_size, bias=False)
        self.kv = nn.Linear(hidden_size, 2 * hidden_size, bias=False)
        self.out = nn.Linear(hidden_size, hidden_size, bias=False)

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, _ = x.shape
        return x.view(batch, length, self.num_heads, -1).transpose(1, 2)  # (B, H, T, D/H)

    def keys_values(self, source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        k, v = self.kv(source).chunk(2, dim=-1)
        return self.split_heads(k), self.split_heads(v)

    def attend(self, x: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None,
               causal: bool = False) -> torch.Tensor:
        q = self.split_heads(self.q(x))
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0, is_causal=causal
        )  # (B, H, T, D/H)
        batch, _, length, _ = y.shape
        return self.out(y.transpose(1, 2).reshape(batch, length, -1))

    def forward(self, x: torch.Tensor, source: torch.Tensor, mask: torch.Tensor | None = None,
                causal: bool = False) -> torch.Tensor:
        k, v = self.keys_values(source)
        return self.attend(x, k, v, mask, causal)


class FeedForward(nn.Module):
    def __init__(self, hidden_size: int, filter_size: int, relu_dropout: float) -> None:
        super().__init__()
        self.up = nn.Linear(hidden_size, filter_size)
        self.down = nn.Linear(filter_size, hidden_size)
        self.dropout = nn.Dropout(relu_dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(self.dropout(F.relu(self.up(x))))


class EncoderLayer(nn.Module):
    def __init__(self, c: TransformerConfig) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(c.hidden_size, eps=c.norm_epsilon)
        self.attn = Attention(c.hidden_size, c.num_heads, c.attention_dropout)
        self.norm2 = nn.LayerNorm(c.hidden_size, eps=c.norm_epsilon)
        self.ffn = FeedForward(c.hidden_size, c.filter_size, c.relu_dropout)
        self.dropout = nn.Dropout(c.layer_prepostprocess_dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        x = x + self.dropout(self.attn(h, h, mask))
        return x + self.dropout(self.ffn(self.norm2(x)))


class DecoderLayer(nn.Module):
    def __init__(self, c: TransformerConfig, cross_attention: bool = True) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(c.hidden_size, eps=c.norm_epsilon)
        self.self_attn = Attention(c.hidden_size, c.num_heads, c.attention_dropout)
        self.cross_attention = cross_attention
        if cross_attention:
            self.norm2 = nn.LayerNorm(c.hidden_size, eps=c.norm_epsilon)
            self.cross_attn = Attention(c.hidden_size, c.num_heads, c.attention_dropout)
        self.norm3 = nn.LayerNorm(c.hidden_size, eps=c.norm_epsilon)
        self.ffn = FeedForward(c.hidden_size, c.filter_size, c.relu_dropout)
        self.dropout = nn.Dropout(c.layer_prepostprocess_dropout)

    def forward(self, x: torch.Tensor, memory: torch.Tensor | None, memory_mask: torch.Tensor | None) -> torch.Tensor:
        h = self.norm1(x)
        x = x + self.dropout(self.self_attn(h, h, causal=True))
        if self.cross_attention:
            x = x + self.dropout(self.cross_attn(self.norm2(x), memory, memory_mask))
        return x + self.dropout(self.ffn(self.norm3(x)))

    def step(self, x: torch.Tensor, cache: dict[str, torch.Tensor],
             memory: dict[str, torch.Tensor] | None) -> torch.Tensor:
        """One decoding position of N = B * beams rows; appends its keys/values to `cache`. x (N, 1, D)

        `cache` holds this layer's self-attention keys/values (N, H, t, D/H); `memory` the encoder's projected
        keys/values (B, H, S, D/H) and mask, shared by the beams of an item: they attend as B x beams queries.
        """
        h = self.norm1(x)
        k, v = self.self_attn.keys_values(h)  # (N, H, 1, D/H)
        cache["k"] = torch.cat([cache["k"], k], dim=2)  # (N, H, t + 1, D/H): reordering copies t, not max_length
        cache["v"] = torch.cat([cache["v"], v], dim=2)
        x = x + self.self_attn.attend(h, cache["k"], cache["v"], None)
        if memory is None:
            return x + self.ffn(self.norm3(x))
        batch = memory["k"].size(0)
        queries = self.norm2(x).view(batch, -1, x.size(-1))  # (B, beams, D)
        x = x + self.cross_attn.attend(queries, memory["k"], memory["v"], memory["mask"]).view_as(x)
        return x + self.ffn(self.norm3(x))


def attention_mask(mask: torch.Tensor | None) -> torch.Tensor | None:
    """(B, S) True = a real position -> the (B, 1, 1, S) mask scaled_dot_product_attention takes."""
    return None if mask is None else mask[:, None, None, :]


@register_model("transformer")
class Transformer(Body):
    """Transformer (Vaswani et al. 2017), pre-norm as in T2T v1.x: encoder-decoder, or decoder-only for LMs."""

    families = ("encoder_decoder", "decoder")
    config_class = TransformerConfig  # hparams.model, built (and so checked) when a config is composed

    @classmethod
    def auxiliary_losses(cls, config: TransformerConfig) -> dict[str, float]:
        return {"ctc": float(config.ctc_weight)} if config.ctc_weight > 0 else {}

    def __init__(self, config: TransformerConfig, family: str, input_shape: tuple[int | None, ...] = ()) -> None:
        super().__init__(config, family, input_shape)
        c = config
        cross = family == Family.ENCODER_DECODER
        layers = c.num_encoder_layers or c.num_hidden_layers
        self.encoder = nn.ModuleList(EncoderLayer(c) for _ in range(layers if cross else 0))
        self.encoder_norm = nn.LayerNorm(c.hidden_size, eps=c.norm_epsilon) if cross else None
        self.decoder = nn.ModuleList(DecoderLayer(c, cross) for _ in range(c.num_decoder_layers or c.num_hidden_layers))
        self.decoder_norm = nn.LayerNorm(c.hidden_size, eps=c.norm_epsilon)
        self.dropout = nn.Dropout(c.layer_prepostprocess_dropout)
        reset_linear_layers(self, c.initializer_gain)

    def with_timing(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        return x + timing_signal(x.size(1), x.size(-1), start, x.device).to(x.dtype)

    def encode(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """x (B, S, D) the inputs' bottom, mask (B, S) -> memory (B, S, D)."""
        attn_mask = attention_mask(mask)
        x = self.dropout(self.with_timing(x))
        for layer in self.encoder:
            x = layer(x, attn_mask)
        return self.encoder_norm(x)

    def decode(self, y: torch.Tensor, memory: torch.Tensor | None, memory_mask: torch.Tensor | None) -> torch.Tensor:
        """Teacher-forced decoder: y (B, T, D) the targets' bottom (shifted right) -> (B, T, D); position t sees
        positions < t of the targets (and all of memory)."""
        attn_mask = attention_mask(memory_mask)
        x = self.dropout(self.with_timing(y))
        for layer in self.decoder:
            x = layer(x, memory, attn_mask)
        return self.decoder_norm(x)

    # Incremental decoding -------------------------------------------------------------------------------
    def init_cache(self, memory: torch.Tensor | None, memory_mask: torch.Tensor | None,
                   batch_size: int) -> dict[str, Any]:
        """Per-layer self-attention keys/values (empty, grown by each step) and the projected encoder memory.

        The encoder part is a `BeamInvariant` (first dim B, never expanded to beams nor reordered: beams of one
        item share it)."""
        heads = self.config.num_heads
        reference = memory if memory is not None else self.decoder_norm.weight
        empty = reference.new_zeros(batch_size, heads, 0, self.config.hidden_size // heads)  # (B, H, 0, D/H)
        cache: dict[str, Any] = {}
        for i, layer in enumerate(self.decoder):
            cache[f"layer_{i}"] = {"k": empty, "v": empty}
            if layer.cross_attention:
                static_k, static_v = layer.cross_attn.keys_values(memory)  # (B, H, S, D/H)
                mask = attention_mask(memory_mask)
                cache[f"encoder_{i}"] = BeamInvariant({"k": static_k, "v": static_v, "mask": mask})
        return cache

    def step(self, x: torch.Tensor, position: int, cache: dict[str, Any]) -> torch.Tensor:
        """x (N, 1, D) the bottom of the last token at `position` -> (N, 1, D); appends to the cache."""
        x = self.with_timing(x, start=position)
        for i, layer in enumerate(self.decoder):
            memory = cache[f"encoder_{i}"].value if layer.cross_attention else None
            x = layer.step(x, cache[f"layer_{i}"], memory)
        return self.decoder_norm(x)


def reset_linear_layers(module: nn.Module, gain: float) -> None:
    """T2T's uniform unit scaling for dense layers (here: Xavier uniform x gain), zero biases."""
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.xavier_uniform_(layer.weight, gain=gain)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
