"""Subword vocabulary: byte-level BPE from Hugging Face `tokenizers`, with T2T's reserved ids.

Ports T2T's `SubwordTextEncoder` (`data_generators/text_encoder.py`) and its
`build_from_generator`/`build_to_target_size`: a shared source/target subword vocabulary of
approximately `target_vocab_size` ids (`_wmt8k` = 2**13, `_wmt32k` = 2**15), fully invertible.
The segmentation algorithm itself is the `tokenizers` library's; nothing here is hand-written.

Why byte-level BPE (ByteLevel pre-tokenizer + BPE model + ByteLevel decoder, no normalizer):

- `decode(encode(s)) == s` exactly for EVERY string: each UTF-8 byte has its own base token,
  so any character (German, French, Chinese, emoji, a character never seen in training) is
  encodable and there is no unknown token; leading, trailing and repeated spaces, tabs and
  newlines, and the Unicode form (NFC vs NFD) are all kept. This is T2T's invertibility
  guarantee, which T2T got by escaping out-of-alphabet characters as `\\<codepoint>;`.
- Unigram or BPE with the Metaspace pre-tokenizer was rejected: it needs an unknown token for
  characters outside the learned alphabet (rare CJK characters), and Metaspace's decoder drops
  a leading space, so neither is exact.
- Cost of the choice: a rare character may be split into byte pieces, and a model may emit a
  byte sequence that is not valid UTF-8; `decode` then yields U+FFFD replacement characters.

The BPE trainer stops exactly at the requested size when the corpus has enough distinct pairs
(T2T binary-searched a min-count to land within 1 %). Ids: 0 = `<pad>`, 1 = `<EOS>`, and the
tokenizer's own ids shifted by 2. The reserved ids live outside the HF tokenizer, so a literal
"<pad>" or "<EOS>" in the text is encoded as ordinary bytes, never as id 0 or 1.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Iterable, Iterator
from typing import Any

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from t2t_torch.text.encoder import NUM_RESERVED_IDS, TextEncoder

log = logging.getLogger(__name__)

_TRAIN_BATCH_LINES = 1000  # lines handed to the Rust trainer per Python call
_NUM_BYTES = 256


def _byte_level_bpe(model: models.BPE) -> Tokenizer:
    tokenizer = Tokenizer(model)
    # The GPT-2 split regex keeps each word with its leading space; no prefix space is added,
    # so the first word of a line is encoded as written and decoding restores every byte.
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


class _CountedBatches:
    """Yields batches of at most `max_lines` lines in total, counting non-empty lines."""

    def __init__(self, texts: Iterable[str], max_lines: int | None) -> None:
        self._lines = itertools.islice(texts, max_lines)
        self.lines = 0
        self.nonempty = 0

    def __iter__(self) -> Iterator[list[str]]:
        while batch := list(itertools.islice(self._lines, _TRAIN_BATCH_LINES)):
            self.lines += len(batch)
            self.nonempty += sum(1 for line in batch if line)
            yield batch


class SubwordEncoder(TextEncoder):
    """Byte-level BPE subword encoder with pad=0, eos=1 and no unknown token."""

    kind = "subword"

    def __init__(self, tokenizer: Tokenizer) -> None:
        """Wrap a tokenizer made by `build` (or loaded); its ids are shifted by the reserved ids."""
        if tokenizer.get_added_tokens_decoder():
            raise ValueError(
                "SubwordEncoder needs a tokenizer without added/special tokens: "
                "the reserved ids <pad>=0 and <EOS>=1 are added by the encoder itself"
            )
        self._tokenizer = tokenizer
        self._vocab_size = tokenizer.get_vocab_size() + NUM_RESERVED_IDS

    @classmethod
    def build(
        cls,
        texts: Iterable[str],
        target_vocab_size: int,
        max_lines: int | None = None,
        show_progress: bool = False,
    ) -> SubwordEncoder:
        """Learn a vocabulary of about `target_vocab_size` ids (reserved ids included).

        `texts` is streamed once (pass both sides of a translation corpus for a shared
        vocabulary); at most `max_lines` lines are read, which bounds time and memory on a
        WMT-sized corpus. The result is smaller than the target only when the corpus runs out
        of pairs to merge (logged as a warning). Deterministic for the same lines.
        """
        min_size = NUM_RESERVED_IDS + _NUM_BYTES + 1
        if target_vocab_size < min_size:
            raise ValueError(
                f"target_vocab_size={target_vocab_size} is too small for a byte-level subword "
                f"vocabulary; use at least {min_size} (T2T's sizes are 2**13 and 2**15)"
            )
        if max_lines is not None and max_lines <= 0:
            raise ValueError(f"max_lines must be positive or None, got {max_lines}")

        tokenizer = _byte_level_bpe(models.BPE())
        trainer = trainers.BpeTrainer(
            vocab_size=target_vocab_size - NUM_RESERVED_IDS,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # every byte: no unknowns
            show_progress=show_progress,
        )
        batches = _CountedBatches(texts, max_lines)
        start = time.perf_counter()
        tokenizer.train_from_iterator(batches, trainer=trainer, length=max_lines)
        seconds = time.perf_counter() - start
        if batches.nonempty == 0:
            raise ValueError(
                f"SubwordEncoder.build read {batches.lines} lines and none had text; "
                "check that the problem's training files exist and are not empty"
            )

        encoder = cls(tokenizer)
        log.info(
            "built subword vocabulary: %d ids (target %d) from %d lines in %.1f s",
            encoder.vocab_size, target_vocab_size, batches.lines, seconds,
        )
        if encoder.vocab_size < 0.99 * target_vocab_size:
            log.warning(
                "subword vocabulary has %d ids, fewer than the target %d: the %d lines used "
                "have too few distinct subwords (use more lines or a smaller target)",
                encoder.vocab_size, target_vocab_size, batches.lines,
            )
        return encoder

    @property
    def vocab_size(self) -> int:
        return self._vocab_size

    def encode(self, text: str) -> list[int]:
        ids = self._tokenizer.encode(text, add_special_tokens=False).ids
        return [i + NUM_RESERVED_IDS for i in ids]

    def encode_batch(self, texts: Iterable[str]) -> list[list[int]]:
        """Encode many texts in parallel on the Rust side (`encode_batch_fast`: no offsets)."""
        encodings = self._tokenizer.encode_batch_fast(list(texts), add_special_tokens=False)
        return [[i + NUM_RESERVED_IDS for i in encoding.ids] for encoding in encodings]

    def _decode_content(self, ids: list[int]) -> str:
        raw = [i - NUM_RESERVED_IDS for i in ids]
        # ByteLevel decoding is lossy on invalid UTF-8: bad bytes become U+FFFD, never an error.
        return self._tokenizer.decode(raw, skip_special_tokens=False)

    def _to_payload(self) -> dict[str, Any]:
        return {"tokenizer": json.loads(self._tokenizer.to_str())}

    @classmethod
    def _from_payload(cls, payload: dict[str, Any]) -> SubwordEncoder:
        spec = payload["tokenizer"]
        if not isinstance(spec, dict):
            raise TypeError("'tokenizer' must be a JSON object")
        try:
            tokenizer = Tokenizer.from_str(json.dumps(spec))
        except Exception as err:  # the Rust side raises a bare Exception on a bad spec
            raise ValueError(f"tokenizers could not read it: {err}") from err
        return cls(tokenizer)
