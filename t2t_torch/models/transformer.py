"""The Transformer encoder-decoder as a plain nn.Module (ports T2T's `models/transformer.py`, pre-norm "n"/"da").

Embeddings are scaled by sqrt(hidden_size) and shared between inputs, targets and the softmax when the vocabularies
agree; positions are T2T's sinusoidal timing signal; attention is PyTorch's `scaled_dot_product_attention`.
`forward(batch)` returns logits and the label-smoothed loss; `encode` / `init_cache` / `decode_step` serve the
incremental decoders in `t2t_torch.decoding` (each step attends over cached keys/values instead of re-running the
prefix).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from t2t_torch.problems.problem import ProblemInfo
from t2t_torch.decoding.cache import BeamInvariant
from t2t_torch.errors import T2TUserError
from t2t_torch.hparams import dataclass_from_mapping
from t2t_torch.models.losses import padded_cross_entropy
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
    label_smoothing: float = 0.1
    shared_embedding_and_softmax_weights: bool = True
    shared_embedding: bool = True  # share input and target embeddings when the vocabularies are equal
    initializer_gain: float = 1.0
    norm_epsilon: float = 1e-6

    def __post_init__(self) -> None:
        """Refuse what the layers cannot be built with; checked when a config is composed, before data is made."""
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
    def __init__(self, c: TransformerConfig) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(c.hidden_size, eps=c.norm_epsilon)
        self.self_attn = Attention(c.hidden_size, c.num_heads, c.attention_dropout)
        self.norm2 = nn.LayerNorm(c.hidden_size, eps=c.norm_epsilon)
        self.cross_attn = Attention(c.hidden_size, c.num_heads, c.attention_dropout)
        self.norm3 = nn.LayerNorm(c.hidden_size, eps=c.norm_epsilon)
        self.ffn = FeedForward(c.hidden_size, c.filter_size, c.relu_dropout)
        self.dropout = nn.Dropout(c.layer_prepostprocess_dropout)

    def forward(self, x: torch.Tensor, memory: torch.Tensor, memory_mask: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        x = x + self.dropout(self.self_attn(h, h, causal=True))
        x = x + self.dropout(self.cross_attn(self.norm2(x), memory, memory_mask))
        return x + self.dropout(self.ffn(self.norm3(x)))

    def step(self, x: torch.Tensor, cache: dict[str, torch.Tensor], memory: dict[str, torch.Tensor]) -> torch.Tensor:
        """One decoding position of N = B * beams rows; appends its keys/values to `cache`. x (N, 1, D)

        `cache` holds this layer's self-attention keys/values (N, H, t, D/H); `memory` the encoder's projected
        keys/values (B, H, S, D/H) and mask, shared by the beams of an item: they attend as B x beams queries.
        """
        h = self.norm1(x)
        k, v = self.self_attn.keys_values(h)  # (N, H, 1, D/H)
        cache["k"] = torch.cat([cache["k"], k], dim=2)  # (N, H, t + 1, D/H): reordering copies t, not max_length
        cache["v"] = torch.cat([cache["v"], v], dim=2)
        x = x + self.self_attn.attend(h, cache["k"], cache["v"], None)
        batch = memory["k"].size(0)
        queries = self.norm2(x).view(batch, -1, x.size(-1))  # (B, beams, D)
        x = x + self.cross_attn.attend(queries, memory["k"], memory["v"], memory["mask"]).view_as(x)
        return x + self.ffn(self.norm3(x))


@register_model("transformer")
class Transformer(nn.Module):
    """Transformer encoder-decoder (Vaswani et al. 2017), pre-norm as in T2T v1.x."""

    config_class = TransformerConfig  # hparams.model, built (and so checked) when a config is composed

    def __init__(self, config: TransformerConfig, input_vocab_size: int, target_vocab_size: int) -> None:
        super().__init__()
        c = self.config = config
        self.target_embedding = nn.Embedding(target_vocab_size, c.hidden_size)
        share_inputs = c.shared_embedding and input_vocab_size == target_vocab_size
        self.input_embedding = self.target_embedding if share_inputs else nn.Embedding(input_vocab_size, c.hidden_size)
        self.encoder = nn.ModuleList(EncoderLayer(c) for _ in range(c.num_encoder_layers or c.num_hidden_layers))
        self.decoder = nn.ModuleList(DecoderLayer(c) for _ in range(c.num_decoder_layers or c.num_hidden_layers))
        self.encoder_norm = nn.LayerNorm(c.hidden_size, eps=c.norm_epsilon)
        self.decoder_norm = nn.LayerNorm(c.hidden_size, eps=c.norm_epsilon)
        self.dropout = nn.Dropout(c.layer_prepostprocess_dropout)
        self.softmax = (
            None if c.shared_embedding_and_softmax_weights
            else nn.Linear(c.hidden_size, target_vocab_size, bias=False)
        )
        self.reset_parameters()

    @classmethod
    def from_hparams(cls, hparams: Mapping[str, Any], problem_info: ProblemInfo) -> Transformer:
        config = dataclass_from_mapping(TransformerConfig, hparams, "model")
        inputs = problem_info.input_vocab_size or problem_info.target_vocab_size
        return cls(config, inputs, problem_info.target_vocab_size)

    def reset_parameters(self) -> None:
        """T2T: embeddings ~ N(0, hidden^-0.5), dense layers uniform unit scaling (here: Xavier uniform x gain)."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight, gain=self.config.initializer_gain)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, std=self.config.hidden_size**-0.5)

    def embed(self, table: nn.Embedding, ids: torch.Tensor, start: int = 0) -> torch.Tensor:
        x = table(ids) * self.config.hidden_size**0.5  # (B, T, D)
        return x + timing_signal(ids.size(1), x.size(-1), start, x.device).to(x.dtype)

    def encode(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """inputs (B, S) -> memory (B, S, D) and the attention mask over it (B, 1, 1, S), True = attend."""
        mask = (inputs != 0)[:, None, None, :]
        x = self.dropout(self.embed(self.input_embedding, inputs))
        for layer in self.encoder:
            x = layer(x, mask)
        return self.encoder_norm(x), mask

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        x = self.decoder_norm(x)
        return F.linear(x, self.target_embedding.weight) if self.softmax is None else self.softmax(x)

    def decode(self, targets: torch.Tensor, memory: torch.Tensor, memory_mask: torch.Tensor) -> torch.Tensor:
        """Teacher-forced decoder: targets (B, T) -> logits (B, T, V); position t sees targets[:, :t]."""
        shifted = F.pad(targets[:, :-1], (1, 0), value=0)  # T2T's shift_right: 0 is the "go" symbol
        x = self.dropout(self.embed(self.target_embedding, shifted))
        for layer in self.decoder:
            x = layer(x, memory, memory_mask)
        return self.logits(x)

    def forward(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """batch {"inputs": (B, S), "targets": (B, T)} -> {"logits": (B, T, V), "loss": (), "num_tokens": ()}."""
        memory, mask = self.encode(batch["inputs"])
        logits = self.decode(batch["targets"], memory, mask)
        loss_sum, num_tokens = padded_cross_entropy(logits, batch["targets"], self.config.label_smoothing)
        return {"logits": logits, "loss": loss_sum / num_tokens.clamp(min=1), "num_tokens": num_tokens}

    # Incremental decoding -------------------------------------------------------------------------------
    def init_cache(self, memory: torch.Tensor, memory_mask: torch.Tensor, max_length: int = 0) -> dict[str, Any]:
        """Per-layer self-attention keys/values (empty, grown by each step) and the projected encoder memory.

        The encoder part is a `BeamInvariant` (first dim B, never expanded to beams nor reordered: beams of one
        item share it). `max_length` is accepted for the decoders' call signature; the cache grows as needed.
        """
        batch, heads = memory.size(0), self.config.num_heads
        empty = memory.new_zeros(batch, heads, 0, self.config.hidden_size // heads)  # (B, H, 0, D/H)
        cache: dict[str, Any] = {}
        for i, layer in enumerate(self.decoder):
            static_k, static_v = layer.cross_attn.keys_values(memory)  # (B, H, S, D/H)
            cache[f"layer_{i}"] = {"k": empty, "v": empty}
            cache[f"encoder_{i}"] = BeamInvariant({"k": static_k, "v": static_v, "mask": memory_mask})
        return cache

    def decode_step(self, ids: torch.Tensor, step: int, cache: dict[str, Any]) -> tuple[torch.Tensor, dict[str, Any]]:
        """ids (N, t) decoded so far (only ids[:, -1] is read) -> next-token logits (N, V) and the updated cache."""
        x = self.embed(self.target_embedding, ids[:, -1:], start=step)  # (N, 1, D)
        for i, layer in enumerate(self.decoder):
            x = layer.step(x, cache[f"layer_{i}"], cache[f"encoder_{i}"].value)
        return self.logits(x)[:, -1], cache
