"""Model families: what a body serves, as a typed enum, and the methods each family's bodies implement (one
Protocol per family). T2T had no such split (every `T2TModel` implemented `body` and the infer functions checked
`has_input`); here the generic wrapper (`t2t_model.py`) and decoding pick their path by the family.

| family | problem | the body implements |
|---|---|---|
| `encoder_decoder` | inputs -> a sequence target | `encode(x, mask)`, `decode(y, memory, mask)`, `init_cache`, `step` |
| `decoder` | no inputs (language models) -> a sequence target | `decode(y, None, None)`, `init_cache`, `step` |
| `encoder` | a sequence input -> one label/value per example | `encode(x, mask)` |
| `spatial` | an image input -> one label/value per example | `forward(x)` on (B, H, W, C) |

`Family` is a `StrEnum`: a family compares equal to its name, so config files and checkpoints keep plain strings.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Protocol

import torch


class Family(StrEnum):
    ENCODER_DECODER = "encoder_decoder"
    DECODER = "decoder"
    ENCODER = "encoder"
    SPATIAL = "spatial"


class SequenceEncoder(Protocol):
    """`encoder` bodies, and the encoding half of `encoder_decoder` ones."""

    def encode(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """(B, S, D) embedded inputs and their (B, S) padding mask -> (B, S, D) memory."""


class IncrementalDecoder(Protocol):
    """`decoder` bodies, and the decoding half of `encoder_decoder` ones: teacher-forced and step by step."""

    def decode(self, y: torch.Tensor, memory: torch.Tensor | None, memory_mask: torch.Tensor | None) -> torch.Tensor:
        """(B, T, D) shifted, embedded targets (and the memory, None without inputs) -> (B, T, D)."""

    def init_cache(self, memory: torch.Tensor | None, memory_mask: torch.Tensor | None, decode_length: int) -> Any:
        """The incremental state before the first step."""

    def step(self, x: torch.Tensor, position: int, cache: dict[str, Any]) -> torch.Tensor:
        """(B, 1, D) the embedded last token at `position` -> (B, 1, D), updating `cache` in place."""


class SpatialNet(Protocol):
    """`spatial` bodies: a whole image in, features out."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, H, W, C) bottomed images -> features."""


# The Protocols a body serving each family implements.
FAMILY_PROTOCOLS: dict[Family, tuple[type, ...]] = {
    Family.ENCODER_DECODER: (SequenceEncoder, IncrementalDecoder),
    Family.DECODER: (IncrementalDecoder,),
    Family.ENCODER: (SequenceEncoder,),
    Family.SPATIAL: (SpatialNet,),
}


def missing_methods(body: type, family: Family) -> list[str]:
    """The methods `family` needs that the body class lacks (empty when it implements the family's Protocols)."""
    needed = {name for protocol in FAMILY_PROTOCOLS[family] for name in vars(protocol) if not name.startswith("_")}
    return sorted(name for name in needed if not callable(getattr(body, name, None)))
