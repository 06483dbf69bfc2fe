"""Scoring a language model's continuations: log p(target | prompt) for a decoder-only model, where the target is
read as the continuation of its prompt, as decoding continues a prompt (T2T's `--score_file`, which scored
encoder-decoder pairs only; those are `t2t_torch.decoding.scoring.sequence_log_probs`).

    continuation("the cat", "sleeps")                                   # " sleeps": the text the target adds
    prompted_log_probs(model, [prompt_ids], [target_ids + [EOS_ID]])    # [log p(target | prompt)]
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from t2t_torch.decoding.scoring import pad


def continuation(prompt: str, text: str) -> str:
    """`text` as the continuation of `prompt`: after one space, unless one of them already has whitespace there (a
    prompt is continued as written, so `text`'s tokens are those it has in the joined text)."""
    return text if not prompt or prompt[-1].isspace() or text[:1].isspace() else f" {text}"


@torch.inference_mode()
def prompted_log_probs(model: nn.Module, prompts: Sequence[Sequence[int]], targets: Sequence[Sequence[int]],
                       pad_id: int = 0, batch_size: int = 32, device: torch.device | str = "cpu") -> list[float]:
    """A decoder-only model's log-probability of each target given its prompt: the sum over the target's tokens of
    log p(token | prompt, previous target tokens), from one teacher-forced pass over prompt + target (natural log,
    float32, eval mode)."""
    model.eval()
    scores: list[float] = []
    for start in range(0, len(prompts), batch_size):
        rows = list(zip(prompts[start:start + batch_size], targets[start:start + batch_size], strict=True))
        sequences = pad([[*prompt, *target] for prompt, target in rows], pad_id, device)
        log_probs = F.log_softmax(model.decode(sequences).float(), dim=-1)
        token = log_probs.gather(-1, sequences.unsqueeze(-1)).squeeze(-1)
        scored = torch.zeros_like(sequences, dtype=torch.bool)
        for row, (prompt, target) in enumerate(rows):
            scored[row, len(prompt):len(prompt) + len(target)] = True
        scores += torch.where(scored, token, torch.zeros_like(token)).sum(-1).tolist()
    return scores
