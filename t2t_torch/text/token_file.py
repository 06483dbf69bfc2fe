"""Word-level encoder over a user-supplied vocabulary file (one token per line).

Ports T2T's `TokenTextEncoder` (`data_generators/text_encoder.py`), used by `VocabType.TOKEN`
problems: text is split on whitespace, each token maps to its line's id, and `decode` joins the
tokens with single spaces. Built on a `tokenizers` WordLevel model with a WhitespaceSplit
pre-tokenizer, so `encode_batch` runs on the Rust side.

Id layout: 0 = `<pad>`, 1 = `<EOS>`, 2 = the unknown token (`<UNK>` unless told otherwise),
then the file's tokens in file order. A file may start with the reserved tokens, as T2T's
`store_to_file` wrote them; any line equal to a reserved or the unknown token is skipped since
those already have their ids. Unlike T2T (KeyError unless `replace_oov` was set) a token that
is not in the vocabulary always encodes to the unknown id.

Round trip: `decode(encode(s)) == " ".join(s.split())` when every token of `s` is in the
vocabulary; unknown tokens come back as the unknown token's text.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer, models, pre_tokenizers

from t2t_torch.text.encoder import (
    EOS,
    PAD,
    UNK,
    UNK_ID,
    EncoderFileError,
    EncoderFileNotFoundError,
    TextEncoder,
)

_FIRST_TOKEN_ID = UNK_ID + 1
_FILE_FIX = "write the vocabulary as one token per line (T2T token problems need a user-supplied vocab)"


class TokenFileEncoder(TextEncoder):
    """Whitespace-token encoder with pad=0, eos=1, unknown=2 and the given tokens from id 3."""

    kind = "token_file"
    unk_id = UNK_ID

    def __init__(self, tokens: Sequence[str], unk_token: str = UNK) -> None:
        """`tokens` are the non-reserved tokens in id order; each must be unique and space-free."""
        _check_token(unk_token, "unk_token")
        if unk_token in (PAD, EOS):
            raise ValueError(f"unk_token must differ from {PAD} and {EOS}")
        self._tokens = list(tokens)
        self._unk_token = unk_token
        seen: set[str] = {PAD, EOS, unk_token}
        for token in self._tokens:
            _check_token(token, "token")
            if token in seen:
                raise ValueError(f"token {token!r} appears twice (or is a reserved token)")
            seen.add(token)
        # The HF vocabulary holds only unk + tokens; reserved ids are added in Python, so a
        # literal "<pad>" in the text encodes to unk rather than to the pad id.
        vocab = {unk_token: 0} | {token: i + 1 for i, token in enumerate(self._tokens)}
        self._tokenizer = Tokenizer(models.WordLevel(vocab, unk_token=unk_token))
        self._tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        # No decoder: tokenizers then joins tokens with single spaces, as T2T's decode did.

    @classmethod
    def from_file(cls, vocab_file: str | os.PathLike[str], unk_token: str = UNK) -> TokenFileEncoder:
        """Read a T2T token vocabulary: one token per line, surrounding whitespace stripped."""
        path = Path(vocab_file)
        if not path.is_file():
            raise EncoderFileNotFoundError(path, _FILE_FIX)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as err:
            raise EncoderFileError(path, f"not UTF-8 text ({err})", _FILE_FIX) from err
        tokens: list[str] = []
        seen: dict[str, int] = {}
        for number, line in enumerate(lines, start=1):
            token = line.strip()
            if not token or token in (PAD, EOS, unk_token):
                continue
            if len(token.split()) != 1:
                raise EncoderFileError(path, f"line {number} holds more than one token: {token!r}", _FILE_FIX)
            if token in seen:
                raise EncoderFileError(
                    path, f"line {number} repeats token {token!r} of line {seen[token]}", _FILE_FIX
                )
            seen[token] = number
            tokens.append(token)
        if not tokens:
            raise EncoderFileError(path, "has no tokens besides the reserved ones", _FILE_FIX)
        return cls(tokens, unk_token=unk_token)

    @property
    def vocab_size(self) -> int:
        return _FIRST_TOKEN_ID + len(self._tokens)

    @property
    def tokens(self) -> list[str]:
        """All tokens in id order, reserved and unknown included (T2T's vocab file order)."""
        return [PAD, EOS, self._unk_token, *self._tokens]

    def encode(self, text: str) -> list[int]:
        ids = self._tokenizer.encode(text, add_special_tokens=False).ids
        return [i + UNK_ID for i in ids]

    def encode_batch(self, texts: Iterable[str]) -> list[list[int]]:
        encodings = self._tokenizer.encode_batch_fast(list(texts), add_special_tokens=False)
        return [[i + UNK_ID for i in encoding.ids] for encoding in encodings]

    def _decode_content(self, ids: list[int]) -> str:
        return self._tokenizer.decode([i - UNK_ID for i in ids], skip_special_tokens=False)

    def _to_payload(self) -> dict[str, Any]:
        return {"unk_token": self._unk_token, "tokens": list(self._tokens)}

    @classmethod
    def _from_payload(cls, payload: dict[str, Any]) -> TokenFileEncoder:
        tokens = payload["tokens"]
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise TypeError("'tokens' must be a list of strings")
        return cls(tokens, unk_token=payload["unk_token"])


def _check_token(token: str, what: str) -> None:
    if not isinstance(token, str) or len(token.split()) != 1 or token != token.strip():
        raise ValueError(f"{what} {token!r} must be a non-empty string without whitespace")
