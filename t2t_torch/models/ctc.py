"""An auxiliary CTC loss on an encoder's output (joint CTC-attention training, Kim, Hori and Watanabe 2017; T2T had no
such loss), an auxiliary loss (models/auxiliary_loss.py) the Transformer declares: `hparams.model.ctc_weight` =
w > 0 trains an encoder-decoder on (1 - w) x the decoder's loss + w x the
CTC loss of a linear softmax over the encoder's positions, which pushes the encoder towards monotonic alignments
(speech learns to attend much sooner). Decoding may use the head too (`decode.ctc_weight`: joint CTC/attention beam
search, or CTC alone; inference/speech_search.py), through `log_probs`.

The CTC blank is the pad id (0), which no target holds; a target's symbols are its ids before EOS. The loss is
summed over the batch and divided by the number of target symbols, as the decoder's loss is per token. An utterance
whose encoder output is shorter than its transcript (plus repeats) has no alignment: its loss counts as 0
(`zero_infinity`), not as infinity.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from t2t_torch.spec import EOS_ID, PAD_ID, ProblemSpec


class CtcHead(nn.Module):
    def __init__(self, hidden_size: int, spec: ProblemSpec) -> None:
        super().__init__()
        self.projection = nn.Linear(hidden_size, spec.targets.vocab_size)

    def log_probs(self, memory: torch.Tensor) -> torch.Tensor:
        """memory (B, S, D) -> the log-posteriors (B, S, V) of every label (blank = pad) at every position."""
        return F.log_softmax(self.projection(memory).float(), dim=-1)

    def loss(self, memory: torch.Tensor, mask: torch.Tensor | None, targets: torch.Tensor) -> torch.Tensor:
        """memory (B, S, D) with its (B, S) mask (None: all real), targets (B, T) ids ending in EOS, padded ->
        the mean CTC loss per target symbol."""
        log_probs = self.log_probs(memory).transpose(0, 1)  # (S, B, V)
        batch, length = memory.shape[:2]
        input_lengths = mask.sum(1) if mask is not None else torch.full((batch,), length, device=memory.device)
        symbols = (targets != PAD_ID) & (targets != EOS_ID)
        target_lengths = symbols.sum(1)
        total = F.ctc_loss(log_probs, targets, input_lengths.long(), target_lengths, blank=PAD_ID, reduction="sum",
                           zero_infinity=True)
        return total / target_lengths.sum().clamp(min=1)
