"""CTC-only decoding of an encoder's CTC head (ESPnet's `ctc_weight=1.0`; T2T had no CTC): no decoder runs.

- `ctc_greedy_search`: the most likely label of every frame, repeats merged and blanks dropped (best-path decoding,
  Graves et al. 2006); its score is that path's log-probability.
- `ctc_prefix_beam_search`: beam search over output prefixes ranked by their CTC prefix probability
  (`ctc_prefix_score.py`), every alignment of a prefix counted, ended by its full-sequence probability; it is
  `beam_search` with the CTC scorer at weight 1 and a decoder that scores nothing, so T2T's length penalty
  (`alpha`) and the finished/alive bookkeeping are the same as for attention decoding. It scores every token at
  every step (no decoder to pre-select by): cheap for characters, slow for large subword vocabularies.

Both return a `BeamResult` (ids end in eos, as the attention decoders' do), and neither outputs more symbols than an
utterance has frames. The blank is the pad id and eos is no CTC label (models/ctc.py), so neither is ever output as a
symbol. `log_probs` (B, T, V) are the CTC head's frame log-posteriors and `lengths` (B,) each utterance's frames.

    best = ctc_greedy_search(log_probs, lengths)                        # ids (B, 1, L)
    beams = ctc_prefix_beam_search(log_probs, lengths, beam_size=4, alpha=0.0)
"""

from __future__ import annotations

from typing import Any

import torch

from t2t_torch.decoding.beam_search import BeamResult, beam_search, sequence_lengths, trim_to_longest
from t2t_torch.decoding.ctc_prefix_score import CtcPrefixScorer
from t2t_torch.spec import EOS_ID, PAD_ID


def ctc_greedy_search(log_probs: torch.Tensor, lengths: torch.Tensor, blank_id: int = PAD_ID,
                      eos_id: int = EOS_ID) -> BeamResult:
    """Best-path decoding: per frame the argmax, repeats merged, blanks (and eos) dropped, eos appended."""
    batch, frames, _ = log_probs.shape
    best_log_probs, best = log_probs.max(dim=-1)  # (B, T)
    real = torch.arange(frames, device=best.device) < lengths.to(best.device).unsqueeze(1)  # (B, T)
    repeats = torch.zeros_like(real)
    repeats[:, 1:] = best[:, 1:] == best[:, :-1]
    keep = real & ~repeats & (best != blank_id) & (best != eos_id)  # (B, T)
    rows = [best[item][keep[item]].tolist() + [eos_id] for item in range(batch)]
    width = max(len(row) for row in rows)
    ids = torch.tensor([row + [PAD_ID] * (width - len(row)) for row in rows], device=best.device).unsqueeze(1)
    scores = best_log_probs.float().masked_fill(~real, 0.0).sum(dim=1, keepdim=True)  # (B, 1)
    lengths_out = sequence_lengths(ids, eos_id)  # (B, 1)
    return BeamResult(trim_to_longest(ids, lengths_out), scores, lengths_out)


def ctc_prefix_beam_search(log_probs: torch.Tensor, lengths: torch.Tensor, beam_size: int, alpha: float,
                           blank_id: int = PAD_ID, eos_id: int = EOS_ID) -> BeamResult:
    """The `beam_size` most likely output sequences under CTC alone, best first (see the module docstring)."""
    batch, frames, vocab = log_probs.shape
    scorer = CtcPrefixScorer(log_probs, lengths, weight=1.0, blank_id=blank_id, eos_id=eos_id)

    def no_decoder(ids: torch.Tensor, step: int, cache: Any) -> tuple[torch.Tensor, Any]:
        return log_probs.new_zeros(ids.size(0), vocab), cache  # every next token alike: CTC alone ranks them

    return beam_search(no_decoder, batch, beam_size, frames + 1, vocab, alpha, eos_id=eos_id,
                       device=log_probs.device, scorer=scorer, max_lengths=lengths)
