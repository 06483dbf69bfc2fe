"""Single-path decoding: greedy search and temperature / top-k sampling.

Ports the `_greedy_infer` / `sample` paths of tensor2tensor (`utils/t2t_model.py`, and the fast-decode loop in
`models/transformer.py`), where T2T picks them with `sampling_method=argmax|random`, `sampling_temp` and
`sampling_keep_top_k`. Same model contract as `beam_search.py` with N = batch_size (no beam expansion):

    symbols_to_logits_fn(ids: LongTensor[N, t], step: int, cache: dict) -> (logits: FloatTensor[N, V], cache: dict)

Each sequence stops at its first eos (pad after it); the loop ends when every sequence has emitted eos or after
`decode_length` steps. The result is a `BeamResult` with a beam dim of 1, so callers treat every decoder alike;
`scores` is the summed log-probability of the emitted tokens under the model's own (untempered, unfiltered)
distribution, eos included, which is what `beam_search` reports with `alpha=0` — greedy search returns exactly the
ids of `beam_search(..., beam_size=1, alpha=0)`. `max_lengths` (B,) bounds each item's tokens before eos, as in
`beam_search` (a sequence that reaches it ends there, eos scored as the model scores it).

    greedy = greedy_search(fn, batch_size=B, decode_length=50, vocab_size=V, cache=cache)
    drawn = sample(fn, B, 50, V, cache, temperature=0.7, top_k=40, generator=torch.Generator().manual_seed(0))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from t2t_torch.decoding.beam_search import (
    EOS_ID,
    PAD_ID,
    BeamResult,
    SymbolsToLogitsFn,
    bounded_length,
    check_logits,
    force_eos,
    sequence_lengths,
    trim_to_longest,
)
from t2t_torch.decoding.cache import first_device

ChooseFn = Callable[[torch.Tensor], torch.Tensor]  # log-probs (N, V) -> chosen ids (N,)


def greedy_search(
    symbols_to_logits_fn: SymbolsToLogitsFn,
    batch_size: int,
    decode_length: int,
    vocab_size: int,
    cache: Any = None,
    eos_id: int = EOS_ID,
    start_id: int = PAD_ID,
    *,
    device: torch.device | str | None = None,
    max_lengths: torch.Tensor | None = None,
) -> BeamResult:
    """Take the most likely next token at every step (T2T `sampling_method=argmax`)."""
    return _decode_single_path(
        symbols_to_logits_fn, batch_size, decode_length, vocab_size, cache, eos_id, start_id, device, _argmax,
        max_lengths,
    )


def sample(
    symbols_to_logits_fn: SymbolsToLogitsFn,
    batch_size: int,
    decode_length: int,
    vocab_size: int,
    cache: Any = None,
    temperature: float = 1.0,
    top_k: int = 0,
    eos_id: int = EOS_ID,
    start_id: int = PAD_ID,
    generator: torch.Generator | None = None,
    *,
    device: torch.device | str | None = None,
    top_p: float = 1.0,
    max_lengths: torch.Tensor | None = None,
) -> BeamResult:
    """Draw each next token from softmax(logits / temperature), restricted to the `top_k` most likely when > 0 and
    to the smallest set of most likely tokens whose probability reaches `top_p` when < 1 (nucleus sampling).

    `temperature=0` means argmax (greedy), as T2T's `sampling_temp=0.0`. Pass a seeded `generator` (on the
    decoding device) for reproducible draws.
    """
    if temperature < 0:
        raise ValueError(f"sample needs temperature >= 0 (0 means greedy), got {temperature}.")
    if not 0.0 < top_p <= 1.0:
        raise ValueError(f"sample needs 0 < top_p <= 1, got {top_p}.")
    choose = _argmax if temperature == 0 else _sampler(temperature, top_k, generator, top_p)
    return _decode_single_path(
        symbols_to_logits_fn, batch_size, decode_length, vocab_size, cache, eos_id, start_id, device, choose,
        max_lengths,
    )


def _argmax(log_probs: torch.Tensor) -> torch.Tensor:
    return log_probs.argmax(dim=-1)  # (N,)


def _sampler(temperature: float, top_k: int, generator: torch.Generator | None, top_p: float = 1.0) -> ChooseFn:
    def choose(log_probs: torch.Tensor) -> torch.Tensor:
        scaled = log_probs / temperature  # (N, V)
        if 0 < top_k < scaled.shape[-1]:
            kth_best = scaled.topk(top_k, dim=-1).values[:, -1:]  # (N, 1)
            scaled = scaled.masked_fill(scaled < kth_best, float("-inf"))
        probs = torch.softmax(scaled, dim=-1)  # (N, V)
        if top_p < 1.0:
            ordered, order = probs.sort(dim=-1, descending=True)  # (N, V)
            before = ordered.cumsum(-1) - ordered  # probability of the more likely tokens
            ordered = ordered.masked_fill(before >= top_p, 0.0)  # the most likely token always stays
            probs = torch.zeros_like(probs).scatter(-1, order, ordered)
        return torch.multinomial(probs, 1, generator=generator).squeeze(1)  # (N,)

    return choose


def _decode_single_path(
    symbols_to_logits_fn: SymbolsToLogitsFn,
    batch_size: int,
    decode_length: int,
    vocab_size: int,
    cache: Any,
    eos_id: int,
    start_id: int,
    device: torch.device | str | None,
    choose: ChooseFn,
    max_lengths: torch.Tensor | None = None,
) -> BeamResult:
    """Extend every sequence by `choose(log_probs)` until all have emitted eos or `decode_length` is reached."""
    if batch_size < 1 or decode_length < 0:
        raise ValueError(f"decoding needs batch_size >= 1 and decode_length >= 0, got {batch_size}, {decode_length}.")
    device = torch.device(device) if device is not None else first_device(cache) or torch.device("cpu")
    cache = cache if cache is not None else {}
    decode_length = bounded_length(decode_length, max_lengths)
    limits = None if max_lengths is None else max_lengths.to(device)  # (B,)
    ids = torch.full((batch_size, 1), start_id, dtype=torch.long, device=device)  # (B, 1)
    scores = torch.zeros(batch_size, device=device)  # (B,)
    done = torch.zeros(batch_size, dtype=torch.bool, device=device)  # (B,)
    for step in range(decode_length):
        logits, cache = symbols_to_logits_fn(ids, step, cache)
        check_logits(logits, batch_size, vocab_size)
        log_probs = torch.log_softmax(logits.float(), dim=-1)  # (B, V)
        if limits is not None:
            log_probs = force_eos(log_probs, limits <= step, eos_id)
        next_ids = choose(log_probs).masked_fill(done, PAD_ID)  # (B,)
        token_log_probs = log_probs.gather(1, next_ids.unsqueeze(1)).squeeze(1)  # (B,)
        scores = scores + token_log_probs.masked_fill(done, 0.0)
        ids = torch.cat([ids, next_ids.unsqueeze(1)], dim=1)  # (B, t + 1)
        done = done | (next_ids == eos_id)
        if bool(done.all()):
            break
    out = ids[:, 1:].unsqueeze(1)  # (B, 1, L)
    lengths = sequence_lengths(out, eos_id)  # (B, 1)
    return BeamResult(trim_to_longest(out, lengths), scores.unsqueeze(1), lengths)
