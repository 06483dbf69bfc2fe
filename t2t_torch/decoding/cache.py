"""Decoding-state helpers: expand a model's incremental cache to beams and reorder it after each search step.

Ports `_expand_to_beam_size` and the state gathers of tensor2tensor `utils/beam_search.py`. A cache is a (possibly
nested) dict — lists and tuples are walked too — whose tensor leaves have the flattened batch as dim 0, laid out
batch-major: row `b * beam_size + k` is beam `k` of batch item `b`. Every tensor leaf with at least one dimension is
expanded and reordered, including "static_" entries such as encoder memory; 0-dim tensors (e.g. a shared step
counter) and non-tensor leaves are shared as they are.

State that is the same for every beam of a batch item (a Transformer's projected encoder keys/values) can be
wrapped in `BeamInvariant`: it keeps first dim batch_size and is never expanded nor reordered, since beams only
ever move within their own batch item. The model then reads it as (B, ...) and folds the beams into another dim
(N = B * beam rows are batch-major, so `x.view(B, beam, ...)` lines up). This saves copying it at every step.

    cache = expand_to_beams({"static_memory": memory}, beam_size)   # (B, S, D) -> (B * beam, S, D)
    cache = reorder_cache(cache, parent_rows)                       # index_select(0, parent_rows) on every leaf
    cache = {"k": k, "encoder": BeamInvariant({"k": memory_k})}     # "encoder" stays (B, ...) throughout
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import torch

CacheT = TypeVar("CacheT")


@dataclass(frozen=True)
class BeamInvariant:
    """Cache state shared by all beams of a batch item: first dim batch_size, never expanded or reordered."""

    value: Any


def map_tensors(tree: CacheT, fn: Callable[[torch.Tensor], torch.Tensor]) -> CacheT:
    """Apply `fn` to every tensor leaf of rank >= 1 in a nested dict/list/tuple; other leaves (and everything
    inside a `BeamInvariant`) are kept."""
    if isinstance(tree, torch.Tensor):
        return fn(tree) if tree.dim() > 0 else tree
    if isinstance(tree, Mapping):
        return {key: map_tensors(value, fn) for key, value in tree.items()}  # type: ignore[return-value]
    if isinstance(tree, (list, tuple)):
        return type(tree)(map_tensors(value, fn) for value in tree)  # type: ignore[return-value]
    return tree


def expand_to_beams(cache_or_tensor: CacheT, beam_size: int) -> CacheT:
    """Repeat each batch row `beam_size` times along dim 0 (like `repeat_interleave`): (B, ...) -> (B * beam, ...)."""

    def expand(tensor: torch.Tensor) -> torch.Tensor:
        # A copy, never a stride-0 view (reshape returns one when B == 1): models write into their cache in place.
        return tensor.repeat_interleave(beam_size, dim=0)  # (B * beam, ...)

    if beam_size == 1:
        return cache_or_tensor
    return map_tensors(cache_or_tensor, expand)


def reorder_cache(cache: CacheT, index: torch.Tensor) -> CacheT:
    """Select rows `index` (LongTensor[N]) on dim 0 of every tensor leaf: the beam each surviving hypothesis came
    from."""
    return map_tensors(cache, lambda tensor: tensor.index_select(0, index))


def first_device(cache: Any) -> torch.device | None:
    """The device of the first tensor found in a nested cache, or None when it holds no tensor."""
    if isinstance(cache, torch.Tensor):
        return cache.device
    if isinstance(cache, BeamInvariant):
        return first_device(cache.value)
    if isinstance(cache, Mapping):
        cache = list(cache.values())
    for value in cache if isinstance(cache, (list, tuple)) else ():
        device = first_device(value)
        if device is not None:
            return device
    return None
