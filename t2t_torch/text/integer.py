"""Space-separated integers <-> ids, for problems whose symbols are numbers (algorithmic problems).

Ports the base `TextEncoder` of T2T's `data_generators/text_encoder.py`, which algorithmic problems use: the text
"3 0 1" encodes to the ids [5, 2, 3] (each integer shifted past the 2 reserved ids, pad = 0 and eos = 1), and ids
decode back to their integers joined by single spaces. Unlike T2T, the vocabulary size is known, so a token that
is not an integer in [0, vocab_size - 2) is rejected with a `ValueError` that names it.

    >>> IntegerEncoder(vocab_size=4).encode("1 0 1")
    [3, 2, 3]
    >>> IntegerEncoder(vocab_size=4).decode([3, 2, 3, 1, 0])
    '1 0 1'
"""

from __future__ import annotations

from typing import Any

from t2t_torch.text.encoder import NUM_RESERVED_IDS, TextEncoder


class IntegerEncoder(TextEncoder):
    """Whitespace-separated non-negative integers, id = integer + 2."""

    kind = "integer"

    def __init__(self, vocab_size: int) -> None:
        if vocab_size <= NUM_RESERVED_IDS:
            raise ValueError(f"an integer encoder needs vocab_size > {NUM_RESERVED_IDS}, got {vocab_size}")
        self._vocab_size = vocab_size

    @property
    def vocab_size(self) -> int:
        return self._vocab_size

    @property
    def num_symbols(self) -> int:
        """How many integers the vocabulary holds: 0 .. num_symbols - 1."""
        return self._vocab_size - NUM_RESERVED_IDS

    def encode(self, text: str) -> list[int]:
        ids = []
        for token in text.split():
            value = int(token) if token.isascii() and token.isdigit() else -1
            if not 0 <= value < self.num_symbols:
                raise ValueError(f"'{token}' is not an integer in [0, {self.num_symbols})")
            ids.append(value + NUM_RESERVED_IDS)
        return ids

    def _decode_content(self, ids: list[int]) -> str:
        return " ".join(str(i - NUM_RESERVED_IDS) for i in ids)

    def _to_payload(self) -> dict[str, Any]:
        return {"vocab_size": self._vocab_size}

    @classmethod
    def _from_payload(cls, payload: dict[str, Any]) -> IntegerEncoder:
        if set(payload) != {"vocab_size"} or not isinstance(payload["vocab_size"], int):
            raise ValueError(f"an integer encoder payload is {{'vocab_size': int}}, found {payload!r}")
        return cls(payload["vocab_size"])
