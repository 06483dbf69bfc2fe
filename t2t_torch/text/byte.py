"""Byte-level encoder for T2T's `_characters` problems.

Ports T2T's `ByteTextEncoder` (`data_generators/text_encoder.py`), which `VocabType.CHARACTER`
problems use: the ids of a text are its UTF-8 bytes plus the number of reserved ids, so the
vocabulary has 256 + 2 ids (0 = `<pad>`, 1 = `<EOS>`) and no unknown token.

`decode(encode(s)) == s` for every string (no normalisation of any kind). Decoding ids that are
not valid UTF-8, e.g. a model's output cut inside a multi-byte character, gives U+FFFD
replacement characters instead of an error. Plain Python: `str.encode` already runs in C, so
there is nothing for the `tokenizers` library to speed up here.
"""

from __future__ import annotations

from typing import Any

from t2t_torch.text.encoder import NUM_RESERVED_IDS, TextEncoder

_NUM_BYTES = 256


class ByteEncoder(TextEncoder):
    """UTF-8 bytes shifted past the reserved ids; vocab_size = 258."""

    kind = "byte"

    @property
    def vocab_size(self) -> int:
        return _NUM_BYTES + NUM_RESERVED_IDS

    def encode(self, text: str) -> list[int]:
        return [b + NUM_RESERVED_IDS for b in text.encode("utf-8")]

    def _decode_content(self, ids: list[int]) -> str:
        return bytes(i - NUM_RESERVED_IDS for i in ids).decode("utf-8", errors="replace")

    def _to_payload(self) -> dict[str, Any]:
        return {}

    @classmethod
    def _from_payload(cls, payload: dict[str, Any]) -> ByteEncoder:
        if payload:
            raise ValueError(f"a byte encoder has no settings, found {sorted(payload)}")
        return cls()
