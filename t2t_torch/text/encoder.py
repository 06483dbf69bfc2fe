"""The text-encoder contract, the reserved ids, and the loader of saved encoders.

Ports the base of T2T's `data_generators/text_encoder.py`: the reserved ids (`<pad>` = 0,
`<EOS>` = 1, T2T's `NUM_RESERVED_TOKENS = 2`) and the `TextEncoder` interface shared by every
vocabulary. Differences from T2T, on purpose:

- `encode` never appends EOS (the problem does); `decode` stops at the first EOS and drops pads,
  so model output can be decoded as-is and scored with sacreBLEU on detokenized text.
- An encoder saves itself to ONE JSON file whose header names its kind, so `load_encoder(path)`
  restores the right class (T2T needed the caller to know the class and file format).
- A missing or corrupt file raises a one-line error naming the file and the fix.

Saved file layout: ``{"t2t_torch_encoder": {"kind", "format_version", "vocab_size"},
"payload": {...}}``; the payload is owned by the encoder class.
"""

from __future__ import annotations

import abc
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

from t2t_torch.spec import EOS_ID, NUM_RESERVED_IDS, PAD_ID  # noqa: F401  (re-exported)

PAD = "<pad>"
EOS = "<EOS>"
UNK = "<UNK>"
UNK_ID = 2  # only for encoders whose algorithm needs an unknown token

FORMAT_VERSION = 1
_HEADER_KEY = "t2t_torch_encoder"
_REBUILD_HINT = "delete it and rerun t2t-datagen for the problem to rebuild the vocabulary"


class EncoderFileError(ValueError):
    """A saved encoder or vocabulary file is corrupt, truncated or of an unknown format."""

    def __init__(self, path: str | os.PathLike[str], reason: str, fix: str = _REBUILD_HINT) -> None:
        reason = " ".join(str(reason).split())  # keep the message on one line
        super().__init__(f"{os.fspath(path)}: {reason}; {fix}")
        self.path = Path(path)


class EncoderFileNotFoundError(FileNotFoundError):
    """A saved encoder or vocabulary file does not exist."""

    def __init__(self, path: str | os.PathLike[str], fix: str) -> None:
        super().__init__(f"{os.fspath(path)}: no such encoder/vocabulary file; {fix}")
        self.path = Path(path)  # not OSError.filename: setting it would reformat the message


def content_ids(ids: Sequence[int], vocab_size: int) -> list[int]:
    """Return `ids` up to the first EOS with pads dropped; raise on ids outside the vocabulary.

    Accepts lists, tuples, numpy arrays and 1-D torch tensors (anything with `.tolist()`).
    """
    values = ids.tolist() if hasattr(ids, "tolist") else ids
    out: list[int] = []
    for value in values:
        i = int(value)
        if i == EOS_ID:
            break
        if i == PAD_ID:
            continue
        if not 0 <= i < vocab_size:
            raise ValueError(f"id {i} is outside the vocabulary [0, {vocab_size})")
        out.append(i)
    return out


class TextEncoder(abc.ABC):
    """A reversible map between text and ids with T2T's reserved ids (pad=0, eos=1).

    Subclasses set `kind`, implement `vocab_size`, `encode`, `_decode_content` (ids already
    stripped of pad/eos and range-checked) and the `_to_payload`/`_from_payload` pair used by
    `save` and `load_encoder`. `encode_batch` should be overridden with a faster batch path.
    A subclass with a `kind` registers itself for `load_encoder` (the package imports every built-in one).
    """

    kind: ClassVar[str]
    kinds: ClassVar[dict[str, type[TextEncoder]]] = {}  # kind -> class, filled as each subclass is defined
    pad_id: ClassVar[int] = PAD_ID
    eos_id: ClassVar[int] = EOS_ID
    unk_id: ClassVar[int | None] = None

    @property
    @abc.abstractmethod
    def vocab_size(self) -> int:
        """Number of ids, reserved ids included; every id is in [0, vocab_size)."""

    @abc.abstractmethod
    def encode(self, text: str) -> list[int]:
        """Ids of `text`, without EOS; never produces the pad or eos id."""

    def encode_batch(self, texts: Iterable[str]) -> list[list[int]]:
        """`[self.encode(t) for t in texts]`, possibly faster."""
        return [self.encode(text) for text in texts]

    def decode(self, ids: Sequence[int]) -> str:
        """Text of `ids`, stopping at the first EOS and dropping pads."""
        return self._decode_content(content_ids(ids, self.vocab_size))

    @abc.abstractmethod
    def _decode_content(self, ids: list[int]) -> str:
        """Text of ids that are all in [NUM_RESERVED_IDS, vocab_size)."""

    @abc.abstractmethod
    def _to_payload(self) -> dict[str, Any]:
        """JSON-serialisable state from which `_from_payload` rebuilds an equal encoder."""

    @classmethod
    @abc.abstractmethod
    def _from_payload(cls, payload: dict[str, Any]) -> Self:
        """Inverse of `_to_payload`; raises ValueError/KeyError/TypeError on a bad payload."""

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write this encoder to `path` (JSON), atomically: a crash never leaves half a file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        header = {"kind": self.kind, "format_version": FORMAT_VERSION, "vocab_size": self.vocab_size}
        document = {_HEADER_KEY: header, "payload": self._to_payload()}
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(document, f, ensure_ascii=False)
                f.write("\n")
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        kind = cls.__dict__.get("kind")
        if kind is not None:
            if kind in TextEncoder.kinds:
                raise TypeError(f"encoder kind '{kind}' is taken by {TextEncoder.kinds[kind].__name__}")
            TextEncoder.kinds[kind] = cls

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TextEncoder):
            return NotImplemented
        return type(self) is type(other) and self._to_payload() == other._to_payload()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vocab_size={self.vocab_size})"


def _read_document(path: Path) -> dict[str, Any]:
    if not path.is_file():
        if path.exists():
            raise EncoderFileError(path, "is not a regular file", "point to the saved encoder JSON file")
        raise EncoderFileNotFoundError(
            path, "run t2t-datagen for the problem to build its vocabulary, or fix the path"
        )
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise EncoderFileError(path, f"not a saved encoder (unreadable JSON: {err})") from err
    if not isinstance(document, dict) or not isinstance(document.get(_HEADER_KEY), dict):
        raise EncoderFileError(path, f"not a saved encoder (no '{_HEADER_KEY}' header)")
    return document


def load_encoder(path: str | os.PathLike[str]) -> TextEncoder:
    """Load an encoder written by `TextEncoder.save`, restoring the class its header names.

    Raises `EncoderFileNotFoundError` (a FileNotFoundError) when the file is missing and
    `EncoderFileError` (a ValueError) when it is corrupt; both messages name the file and the fix.
    """
    path = Path(path)
    document = _read_document(path)
    header = document[_HEADER_KEY]
    if header.get("format_version") != FORMAT_VERSION:
        raise EncoderFileError(
            path, f"format_version {header.get('format_version')!r} is not {FORMAT_VERSION}"
        )
    classes = TextEncoder.kinds
    kind = header.get("kind")
    if kind not in classes:
        raise EncoderFileError(path, f"unknown encoder kind {kind!r} (known: {sorted(classes)})")
    payload = document.get("payload")
    if not isinstance(payload, dict):
        raise EncoderFileError(path, "missing payload")
    try:
        encoder = classes[kind]._from_payload(payload)
    except (KeyError, TypeError, ValueError) as err:
        raise EncoderFileError(path, f"corrupt {kind} payload ({type(err).__name__}: {err})") from err
    if header.get("vocab_size") != encoder.vocab_size:
        raise EncoderFileError(
            path, f"header says vocab_size {header.get('vocab_size')!r}, payload has {encoder.vocab_size}"
        )
    return encoder
