"""How a speech model's transcripts are searched: bounded by the encoder's length, with the CTC head mixed in or not.

An encoder-decoder over audio (or any encoder-decoder decoded with `decode.ctc_weight` > 0) never emits more symbols
than its encoder has positions for the utterance: a CTC alignment needs a frame per symbol, and an attention decoder
that loops on real audio would otherwise run to `decode.extra_length`. Greedy search, beam search, sampling and
joint decoding all end a hypothesis there (`max_lengths` of `t2t_torch.decoding`).

`decode.ctc_weight` = w (ESPnet's `ctc_weight`, Watanabe et al. 2017; T2T decoded with the decoder alone) picks the
search of a model trained with a CTC head (`hparams.model.ctc_weight` > 0):
- w = 0 (the default): the attention decoder alone — greedy when `beam_size=1`, else beam search;
- 0 < w < 1: joint CTC/attention beam search, every hypothesis scored (1 - w) x decoder + w x CTC prefix log-prob
  (`CtcPrefixScorer`; with `beam_size=1` a beam of one);
- w = 1: CTC alone, no decoder step — best-path (greedy) decoding when `beam_size=1`, else CTC prefix beam search.
The in-training dev decodes take the same value from `decode_eval.ctc_weight` (callbacks/decode_eval.py).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from t2t_torch.decoding.beam_search import BeamResult, beam_search
from t2t_torch.decoding.ctc_prefix_score import CtcPrefixScorer
from t2t_torch.decoding.ctc_search import ctc_greedy_search, ctc_prefix_beam_search
from t2t_torch.decoding.sampling import greedy_search, sample
from t2t_torch.errors import T2TUserError


def check_ctc_weight(value: Any, key: str = "decode.ctc_weight") -> None:
    """`value` is a number in [0, 1], the CTC share of every decoding score."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise T2TUserError(f"{key} must be a number in [0, 1] (the CTC share of the decoding score; 0: the decoder"
                           f" alone, 1: CTC alone), not {value!r}: pass e.g. {key}=0.3")


def check_ctc_head(model: nn.Module, ctc_weight: float, key: str = "decode.ctc_weight") -> None:
    """A `ctc_weight` > 0 needs a model trained with a CTC head."""
    if ctc_weight > 0 and getattr(model, "ctc", None) is None:
        raise T2TUserError(f"{key}={ctc_weight} scores with the encoder's CTC head, and this model has none: pass"
                           f" {key}=0, or train with hparams.model.ctc_weight > 0 (e.g. 0.3)")


def is_bounded_by_encoder(model: nn.Module, ctc_weight: float) -> bool:
    """Whether the encoder's length bounds the hypotheses: speech inputs, or CTC in the score."""
    return ctc_weight > 0 or getattr(model.inputs_modality, "bounds_output_length", False)


def encoder_lengths(memory: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """(B,) the real positions of each item's encoder output (memory (B, S, D), mask (B, S) True = real)."""
    if mask is None:
        return torch.full((memory.size(0),), memory.size(1), dtype=torch.long, device=memory.device)
    return mask.sum(dim=1)


def search_speech(model: nn.Module, memory: torch.Tensor, mask: torch.Tensor | None, decode_length: int,
                  vocab_size: int, config: Any, generator: torch.Generator | None = None) -> BeamResult:
    """Decode an encoded batch (memory (B, S, D), mask (B, S)) as `config` (a `DecodeConfig`, decode_config.py)
    says, no hypothesis longer than its encoder output (see the module docstring)."""
    lengths = encoder_lengths(memory, mask)  # (B,)
    if config.ctc_weight == 1.0:
        log_probs = model.ctc.log_probs(memory)  # (B, S, V)
        if config.beam_size == 1:
            return ctc_greedy_search(log_probs, lengths)
        return ctc_prefix_beam_search(log_probs, lengths, config.beam_size, config.alpha)
    batch, step = memory.size(0), model.decode_step
    cache = model.init_cache(memory, mask, decode_length)
    if config.sampling_method == "random":
        return sample(step, batch, decode_length, vocab_size, cache, temperature=config.sampling_temp,
                      top_k=config.sampling_keep_top_k, generator=generator, top_p=config.sampling_keep_top_p,
                      max_lengths=lengths)
    if config.ctc_weight > 0:
        scorer = CtcPrefixScorer(model.ctc.log_probs(memory), lengths, config.ctc_weight,
                                 pre_beam=2 * config.beam_size)  # every extension plain beam search could pick
        return beam_search(step, batch, config.beam_size, decode_length, vocab_size, config.alpha, cache,
                           scorer=scorer, max_lengths=lengths)
    if config.beam_size == 1:
        return greedy_search(step, batch, decode_length, vocab_size, cache, max_lengths=lengths)
    return beam_search(step, batch, config.beam_size, decode_length, vocab_size, config.alpha, cache,
                       max_lengths=lengths)
