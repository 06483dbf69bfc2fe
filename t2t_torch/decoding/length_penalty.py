"""GNMT length penalty used to rank finished beam-search hypotheses.

Port of the penalty inside tensor2tensor `utils/beam_search.py` (Wu et al. 2016, https://arxiv.org/abs/1609.08144):
a hypothesis of `length` tokens (eos included) with summed log-probability `lp` scores `lp / length_penalty(length,
alpha)`. `alpha=0` disables it (penalty 1); larger `alpha` favours longer outputs, since log-probs are negative.

    >>> length_penalty(7, 0.6)  # ((5 + 7) / 6) ** 0.6
    1.515716566510398
"""

from __future__ import annotations

import torch


def length_penalty(length: int | float | torch.Tensor, alpha: float) -> float | torch.Tensor:
    """((5 + length) / 6) ** alpha; a float for a number, an elementwise float tensor for a tensor."""
    if isinstance(length, torch.Tensor):
        return ((5.0 + length.to(torch.float32)) / 6.0) ** alpha
    return ((5.0 + float(length)) / 6.0) ** alpha
