"""Scoring given targets: the log-probability a model gives each (input, target) pair under teacher forcing (T2T's
`t2t-decoder --score_file`, used for reranking n-best lists and filtering corpora). Model-agnostic like the searches:
it needs only `model(batch)["logits"]`, (B, T, V) aligned with `batch["targets"]`."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def pad(sequences: Sequence[Sequence[int]], pad_id: int, device: torch.device | str) -> torch.Tensor:
    longest = max(len(s) for s in sequences)
    out = torch.full((len(sequences), longest), pad_id, dtype=torch.long)
    for row, ids in enumerate(sequences):
        out[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    return out.to(device)


@torch.no_grad()
def sequence_log_probs(model: nn.Module, inputs: Sequence[Sequence[int]], targets: Sequence[Sequence[int]],
                       pad_id: int = 0, batch_size: int = 32, device: torch.device | str = "cpu") -> list[float]:
    """Per pair, the sum over the target's tokens (its eos included) of log p(token | input, previous tokens), in
    float32, natural log; the model is put in eval mode (no dropout)."""
    model.eval()
    scores: list[float] = []
    for start in range(0, len(inputs), batch_size):
        batch = {"inputs": pad(inputs[start:start + batch_size], pad_id, device),
                 "targets": pad(targets[start:start + batch_size], pad_id, device)}
        log_probs = F.log_softmax(model(batch)["logits"].float(), dim=-1)
        token = log_probs.gather(-1, batch["targets"].unsqueeze(-1)).squeeze(-1)
        scores += (token * (batch["targets"] != pad_id)).sum(-1).tolist()
    return scores
