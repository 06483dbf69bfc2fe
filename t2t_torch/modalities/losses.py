"""Padded softmax cross-entropy with T2T's label smoothing, the loss of the symbol and class_label modalities
(ports `layers/common_layers.py` `padded_cross_entropy` / `smoothing_cross_entropy`).

T2T smooths towards the other V-1 classes (confidence 1-eps on the target, eps/(V-1) on each other class) and
subtracts the entropy of that smoothed distribution, so a perfect model has loss 0. Padding (id 0) is not counted.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def padded_cross_entropy(
    logits: torch.Tensor, targets: torch.Tensor, label_smoothing: float = 0.0, pad_id: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """(sum of per-token losses over non-pad tokens, number of non-pad tokens). logits (B, T, V), targets (B, T)."""
    vocab_size = logits.size(-1)
    log_probs = F.log_softmax(logits.float(), dim=-1)  # (B, T, V)
    target_log_probs = log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (B, T)
    weights = (targets != pad_id).to(log_probs.dtype)
    if label_smoothing > 0.0:
        confidence = 1.0 - label_smoothing
        low_confidence = label_smoothing / (vocab_size - 1)
        others = log_probs.sum(-1) - target_log_probs
        losses = -confidence * target_log_probs - low_confidence * others
        normalizer = -(
            confidence * math.log(confidence) + (vocab_size - 1) * low_confidence * math.log(low_confidence + 1e-20)
        )
        losses = losses - normalizer
    else:
        losses = -target_log_probs
    return (losses * weights).sum(), weights.sum()
