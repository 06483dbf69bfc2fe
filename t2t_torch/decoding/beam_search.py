"""Beam search with length penalty, vectorised over batch and beam; a port of tensor2tensor `utils/beam_search.py`.

The search talks to a model only through

    symbols_to_logits_fn(ids: LongTensor[N, t], step: int, cache: dict) -> (logits: FloatTensor[N, V], cache: dict)

with N = batch_size * beam_size (batch-major, see `cache.py`). `ids` is the whole prefix, starting with the start id
(0 = pad, T2T's "go" symbol); a model with an incremental cache reads only `ids[:, -1]`. `cache` is passed in with
first dim batch_size, expanded to beams here, and reordered after every step, so the model never tracks beams.

T2T semantics, kept on purpose:
- scores are summed log-probs; a finished hypothesis (one that emitted eos) is ranked by
  `log_prob / length_penalty(len, alpha)` with `len` counting the eos;
- each step grows the alive beams into their 2 * beam best one-token extensions over the flattened beam * vocab,
  so that at least `beam` of them do not end in eos: the best `beam` non-eos ones stay alive, and the ones ending in
  eos compete with the finished set for its `beam` slots;
- with `stop_early`, a batch item is settled once its worst finished score beats the best score any alive beam could
  still reach (`alive_log_prob / length_penalty(decode_length, alpha)`, T2T's `_is_finished` bound), and the loop
  ends when every item is settled or after `decode_length` steps;
- a batch item that never finished a hypothesis returns its alive beams with their raw (unpenalised) log-probs.

Deliberate differences from T2T:
- only eos candidates ranked within the step's top `beam` (of the 2 * beam) may finish, as in fairseq and HF
  `generate`; T2T admitted all of them, so with beam_size=1 it could return a second-best eos seen along the way.
  With this rule `beam_search(beam_size=1, alpha=0)` returns exactly the ids of `greedy_search`;
- a settled item's finished set is frozen, so decoding a batch returns exactly what decoding each item alone
  returns (in T2T the steps run for other items kept refilling it);
- an empty finished slot (the bound settled an item before `beam` hypotheses finished; `stop_early=False` fills
  them) is returned as score -inf, length 0 and all pad ids, not as T2T's zero sequence with score -1e7.

Two optional extras, both off by default (the search is then exactly the above):
- `scorer`, a `PrefixScorer` (e.g. `ctc_prefix_score.CtcPrefixScorer`, joint CTC/attention decoding): a second
  scorer of whole prefixes that rewrites each step's log-probs (N, V) into the joint scores the search ranks by;
  it keeps its own per-hypothesis state, which the search reorders with the beams through `select`;
- `max_lengths` (B,): per batch item, the most tokens a hypothesis may hold before eos (e.g. the encoder length of
  an utterance); a hypothesis that reaches it can only end, and the loop runs at most max(max_lengths) + 1 steps.

    result = beam_search(fn, batch_size=B, beam_size=4, decode_length=50, vocab_size=V, alpha=0.6, cache=cache)
    best = result.ids[:, 0]          # (B, L); T2T's return_beams=True would use all of result.ids
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import torch

from t2t_torch.decoding.cache import expand_to_beams, first_device, reorder_cache
from t2t_torch.decoding.length_penalty import length_penalty
from t2t_torch.spec import EOS_ID, PAD_ID

NEG_INF = float("-inf")

SymbolsToLogitsFn = Callable[[torch.Tensor, int, Any], tuple[torch.Tensor, Any]]


class BeamResult(NamedTuple):
    """What every decoder returns; greedy search and sampling return one beam (beam dim 1)."""

    ids: torch.Tensor  # (B, beam, L) start id excluded, pad after eos, L = longest returned hypothesis
    scores: torch.Tensor  # (B, beam) float32, best first; -inf marks an empty slot
    lengths: torch.Tensor  # (B, beam) tokens up to and including eos (L if no eos, 0 for an empty slot)


class PrefixScorer(Protocol):
    """A second scorer of whole prefixes that `beam_search` mixes into the decoder's scores (see the module
    docstring); its state covers the N = batch_size * beam_size hypotheses, batch-major as the search lays them out."""

    def init(self, beam_size: int) -> Any:
        """The state of the empty hypotheses (the start id only)."""

    def score(self, state: Any, ids: torch.Tensor, log_probs: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """ids (N, t) the hypotheses, log_probs (N, V) the decoder's next-token log-probs -> the scores (N, V) the
        search ranks the extensions by (-inf rules one out) and the state of every extension, for `select`."""

    def select(self, extensions: Any, parent_rows: torch.Tensor, tokens: torch.Tensor) -> Any:
        """The state of the kept hypotheses: row n extends row `parent_rows[n]` (N,) by `tokens[n]` (N,)."""


@dataclass
class _Beams:
    """Search state for B batch items with K beams after t - 1 steps (t ids including the start id)."""

    alive_seq: torch.Tensor  # (B, K, t)
    alive_log_probs: torch.Tensor  # (B, K) sorted descending
    finished_seq: torch.Tensor  # (B, K, t) pad after eos
    finished_scores: torch.Tensor  # (B, K) length-penalised, sorted descending, -inf = empty slot
    settled: torch.Tensor  # (B,) bool: the best hypothesis can no longer change
    row_offset: torch.Tensor  # (B, 1) b * K: the flat row of beam 0 of each batch item


def beam_search(
    symbols_to_logits_fn: SymbolsToLogitsFn,
    batch_size: int,
    beam_size: int,
    decode_length: int,
    vocab_size: int,
    alpha: float,
    cache: Any = None,
    eos_id: int = EOS_ID,
    start_id: int = PAD_ID,
    stop_early: bool = True,
    *,
    device: torch.device | str | None = None,
    scorer: PrefixScorer | None = None,
    max_lengths: torch.Tensor | None = None,
) -> BeamResult:
    """Decode up to `decode_length` tokens per hypothesis; see the module docstring for the semantics.

    `device` is where ids live; by default the device of the first tensor in `cache`, else CPU. `scorer` and
    `max_lengths` (B,) are the optional extras of the module docstring.
    """
    _check_sizes(batch_size, beam_size, decode_length, vocab_size)
    device = torch.device(device) if device is not None else first_device(cache) or torch.device("cpu")
    B, K, V = batch_size, beam_size, vocab_size
    cache = expand_to_beams(cache if cache is not None else {}, K)
    beams = _initial_beams(B, K, start_id, device)
    decode_length = bounded_length(decode_length, max_lengths)
    row_limits = None if max_lengths is None else max_lengths.to(device).repeat_interleave(K)  # (N,)
    scorer_state = scorer.init(K) if scorer is not None else None
    max_penalty = length_penalty(decode_length, alpha)
    for step in range(decode_length):
        flat_ids = beams.alive_seq.view(B * K, step + 1)  # (N, t)
        logits, cache = symbols_to_logits_fn(flat_ids, step, cache)
        check_logits(logits, B * K, V)
        # log_softmax is one fused kernel; logsumexp + subtract took ~1.7x as long on CPU (the (N, V) passes are
        # most of a step's search cost).
        log_probs = torch.log_softmax(logits.float(), dim=-1)  # (N, V)
        if scorer is not None:
            log_probs, extensions = scorer.score(scorer_state, flat_ids, log_probs)
        if row_limits is not None:
            log_probs = force_eos(log_probs, row_limits <= step, eos_id)
        log_probs = log_probs.add_(beams.alive_log_probs.view(B * K, 1)).view(B, K, V)  # (B, K, V)
        # 2K candidates: at most K of them (one per beam) end in eos, so at least K stay alive.
        topk_log_probs, topk_flat = log_probs.view(B, K * V).topk(2 * K, dim=1)  # (B, 2K)
        topk_beam, topk_ids = topk_flat // V, topk_flat % V  # (B, 2K)
        candidate_is_eos = topk_ids == eos_id  # (B, 2K)
        _grow_finished(beams, topk_log_probs, topk_beam, candidate_is_eos, length_penalty(step + 1, alpha), eos_id)
        parent_rows = _grow_alive(beams, topk_log_probs, topk_beam, topk_ids, candidate_is_eos)
        if step + 1 == decode_length:
            break
        if stop_early:
            beams.settled |= _bound_is_met(beams, max_penalty)
            if bool(beams.settled.all()):
                break
        cache = reorder_cache(cache, parent_rows)
        if scorer is not None:
            scorer_state = scorer.select(extensions, parent_rows, beams.alive_seq[:, :, -1].reshape(B * K))
    return _final_hypotheses(beams, eos_id)


def check_logits(logits: torch.Tensor, rows: int, vocab_size: int) -> None:
    """Fail with a clear message when a model returns logits of the wrong shape."""
    if logits.shape != (rows, vocab_size):
        raise ValueError(
            f"symbols_to_logits_fn returned logits of shape {tuple(logits.shape)}, expected ({rows}, {vocab_size}): "
            "one row per hypothesis (batch_size * beam_size) holding the logits of the last position only."
        )


def bounded_length(decode_length: int, max_lengths: torch.Tensor | None) -> int:
    """The steps a search runs: `decode_length`, or fewer when every item's hypotheses must end sooner."""
    if max_lengths is None or max_lengths.numel() == 0:
        return decode_length
    return min(decode_length, int(max_lengths.max()) + 1)


def force_eos(log_probs: torch.Tensor, at_limit: torch.Tensor, eos_id: int) -> torch.Tensor:
    """log_probs (N, V) with every token but eos ruled out (-inf) on the rows `at_limit` (N,); eos keeps its own."""
    not_eos = torch.arange(log_probs.size(1), device=log_probs.device) != eos_id  # (V,)
    return log_probs.masked_fill(at_limit.unsqueeze(1) & not_eos, NEG_INF)


def sequence_lengths(ids: torch.Tensor, eos_id: int) -> torch.Tensor:
    """Tokens up to and including the first eos along the last dim, or the full width where there is none."""
    is_eos = ids == eos_id  # (..., L)
    before_first_eos = (is_eos.cumsum(dim=-1) == 0).sum(dim=-1)  # (...)
    return before_first_eos + is_eos.any(dim=-1).long()


def trim_to_longest(ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Drop the all-pad columns after the longest hypothesis (one host sync, at the end of decoding)."""
    longest = int(lengths.max()) if lengths.numel() else 0
    return ids[..., :longest]


def _check_sizes(batch_size: int, beam_size: int, decode_length: int, vocab_size: int) -> None:
    if batch_size < 1 or beam_size < 1 or decode_length < 0:
        raise ValueError(
            f"beam_search needs batch_size >= 1, beam_size >= 1 and decode_length >= 0, "
            f"got {batch_size}, {beam_size} and {decode_length}."
        )
    if vocab_size < 2:
        raise ValueError(f"beam_search needs vocab_size >= 2 (at least eos and one other symbol), got {vocab_size}.")


def _initial_beams(B: int, K: int, start_id: int, device: torch.device) -> _Beams:
    start = torch.full((B, K, 1), start_id, dtype=torch.long, device=device)  # (B, K, 1)
    # Only beam 0 is live at first, so the K copies of the start symbol do not fill the beam with duplicates.
    alive_log_probs = torch.full((B, K), NEG_INF, device=device)  # (B, K)
    alive_log_probs[:, 0] = 0.0
    return _Beams(
        alive_seq=start,
        alive_log_probs=alive_log_probs,
        finished_seq=torch.full_like(start, PAD_ID),
        finished_scores=torch.full((B, K), NEG_INF, device=device),
        settled=torch.zeros(B, dtype=torch.bool, device=device),
        row_offset=torch.arange(B, device=device).unsqueeze(1) * K,
    )


def _grow_alive(
    beams: _Beams,
    topk_log_probs: torch.Tensor,
    topk_beam: torch.Tensor,
    topk_ids: torch.Tensor,
    candidate_is_eos: torch.Tensor,
) -> torch.Tensor:
    """Keep the K best candidates that did not end in eos; return the flat parent row of each (for the cache)."""
    B, K, t = beams.alive_seq.shape
    alive_candidates = topk_log_probs.masked_fill(candidate_is_eos, NEG_INF)  # (B, 2K)
    beams.alive_log_probs, pick = alive_candidates.topk(K, dim=1)  # (B, K)
    parent = topk_beam.gather(1, pick)  # (B, K)
    prefix = beams.alive_seq.gather(1, parent.unsqueeze(2).expand(B, K, t))  # (B, K, t)
    beams.alive_seq = torch.cat([prefix, topk_ids.gather(1, pick).unsqueeze(2)], dim=2)  # (B, K, t + 1)
    return (parent + beams.row_offset).view(B * K)  # (N,)


def _grow_finished(
    beams: _Beams,
    topk_log_probs: torch.Tensor,
    topk_beam: torch.Tensor,
    candidate_is_eos: torch.Tensor,
    penalty: float,
    eos_id: int,
) -> None:
    """Merge the eos candidates ranked within the top K into the finished set, keeping its K best penalised scores."""
    B, K, t = beams.alive_seq.shape
    is_entry = candidate_is_eos[:, :K] & ~beams.settled.unsqueeze(1)  # (B, K) topk is sorted: the K best come first
    candidate_scores = torch.where(is_entry, topk_log_probs[:, :K] / penalty, NEG_INF)  # (B, K)
    merged_scores = torch.cat([beams.finished_scores, candidate_scores], dim=1)  # (B, 2K)
    beams.finished_scores, pick = merged_scores.topk(K, dim=1)  # (B, K)
    # Rows 0..K-1 of `sources` are the old finished sequences, rows K..2K-1 the alive ones extended by eos.
    pad_column = torch.full((B, K, 1), PAD_ID, dtype=torch.long, device=pick.device)
    eos_column = torch.full_like(pad_column, eos_id)
    old_finished = torch.cat([beams.finished_seq, pad_column], dim=2)  # (B, K, t + 1)
    alive_ending = torch.cat([beams.alive_seq, eos_column], dim=2)  # (B, K, t + 1)
    sources = torch.cat([old_finished, alive_ending], dim=1)  # (B, 2K, t + 1)
    candidate_parent = topk_beam.gather(1, (pick - K).clamp(min=0))  # (B, K) parent beam if from a candidate
    source_row = torch.where(pick >= K, K + candidate_parent, pick)  # (B, K)
    beams.finished_seq = sources.gather(1, source_row.unsqueeze(2).expand(B, K, t + 1))  # (B, K, t + 1)


def _bound_is_met(beams: _Beams, max_penalty: float) -> torch.Tensor:
    """(B,) whether the worst finished hypothesis already beats the best score any alive beam can still reach."""
    best_alive_bound = beams.alive_log_probs[:, 0] / max_penalty  # (B,)
    is_filled = beams.finished_scores > NEG_INF  # (B, K)
    worst_finished = beams.finished_scores.masked_fill(~is_filled, float("inf")).amin(dim=1)  # (B,)
    return is_filled.any(dim=1) & (worst_finished > best_alive_bound)


def _final_hypotheses(beams: _Beams, eos_id: int) -> BeamResult:
    """Finished hypotheses where an item has any, else its alive beams; drop the start id and trailing pad."""
    has_finished = (beams.finished_scores > NEG_INF).any(dim=1)  # (B,)
    ids = torch.where(has_finished.view(-1, 1, 1), beams.finished_seq, beams.alive_seq)[:, :, 1:]  # (B, K, L)
    scores = torch.where(has_finished.unsqueeze(1), beams.finished_scores, beams.alive_log_probs)  # (B, K)
    is_empty = scores == NEG_INF  # (B, K)
    ids = ids.masked_fill(is_empty.unsqueeze(2), PAD_ID)
    lengths = sequence_lengths(ids, eos_id).masked_fill(is_empty, 0)  # (B, K)
    return BeamResult(trim_to_longest(ids, lengths), scores, lengths)
