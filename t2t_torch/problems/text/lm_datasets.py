"""Language-modelling problems with T2T's registered names and real sources (ports T2T's `data_generators/ptb.py`,
`wikitext103.py`, `lm1b.py` and `enwik8.py`). Problem: source | vocabulary | splits (train | dev | test).

- languagemodel_ptb10k: Penn Treebank (Mikolov's text-only version; HF `ptb-text-only/ptb_text_only`, config
  penn_treebank, read from its Parquet conversion since the repository holds a loading script that datasets>=4 no
  longer runs) | the 10k most frequent training words (T2T's token vocabulary) | train | validation | test.
  languagemodel_ptb_characters: the same on UTF-8 bytes.
- languagemodel_wikitext103 / languagemodel_wikitext103_characters: `Salesforce/wikitext` (wikitext-103-raw-v1),
  one paragraph line a document | 32k subword / bytes | train | validation | test. (T2T's word-level version read
  the tokenized wikitext-103-v1 with its 267k-word vocabulary; the raw text with subwords has no `<unk>`.)
- languagemodel_lm1b32k / languagemodel_lm1b_characters: the One Billion Word benchmark (HF mirror
  `FrankCCCCC/lm1b`, Parquet converted from TFDS: 30,301,028 training sentences, the 306,688 held-out ones as its
  `test` split) | 32k subword / bytes | train | dev = the held-out sentences (T2T used held-out shard 0 only).
- enwik8_l1k: the first 10^8 bytes of an English Wikipedia dump, T2T's URL (mattmahoney.net/dc/enwik8.zip) | bytes
  | the first 90M | the next 5M | the last 5M bytes, cut into blocks of `packed_length` (1024) bytes without EOS.

Every problem reads the same splits from local files instead with `problem.data_files={train: ..., dev: ...}`
(`lm.py`; for enwik8 each file is read as raw bytes), so it works without internet. The Hub names above were
found by searching, not by downloading (there is no internet where this was written): unverified until a first
real download.
"""

from __future__ import annotations

import logging
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from t2t_torch.errors import T2TUserError
from t2t_torch.problems.sources.downloads import DOWNLOADS, download
from t2t_torch.problems.sources.hf_source import HFSource, HubProblem, hf_sources
from t2t_torch.problems.sources.text_files import check_readable
from t2t_torch.problems.text.lm import Text2SelfProblem, split_paths
from t2t_torch.registry import register_problem
from t2t_torch.spec import NUM_RESERVED_IDS

log = logging.getLogger(__name__)

_LOCAL_HINT = "check the connection, or read local text files: problem.data_files={train: FILE, dev: FILE}"


@dataclass(frozen=True)
class HFText(HFSource):
    """One split of a Hugging Face dataset with a text column (one document per row)."""

    column: str = "text"

    def texts(self, data_dir: Path) -> Iterator[str]:
        for row in self.rows(data_dir, _LOCAL_HINT, (self.column,)):
            yield row[self.column]


def hf_text_splits(path: str, name: str | None, column: str = "text", data_files: str | None = None,
                   mapping: dict[str, str] | None = None) -> dict[str, HFText]:
    """Our splits from a dataset's splits (by default train / validation / test)."""
    return {ours: HFText(**vars(source), column=column)
            for ours, source in hf_sources(path, name, data_files, mapping).items()}


class HFLanguageModel(HubProblem, Text2SelfProblem):
    """A language-modelling problem whose splits are `sources` on the Hugging Face Hub."""

    sources: ClassVar[dict[str, HFText]] = {}

    def generate_samples(self, split: str, data_dir: Path) -> Iterator[dict[str, str]]:
        source = self.sources[split]
        log.info("%s/%s: reading %s", self.registered_name, split, source.describe())
        return ({"targets": text} for text in source.texts(data_dir))


PTB = hf_text_splits("parquet", None, "sentence",
                     "hf://datasets/ptb-text-only/ptb_text_only@refs%2Fconvert%2Fparquet/penn_treebank/{split}/*.parquet")
WIKITEXT103 = hf_text_splits("Salesforce/wikitext", "wikitext-103-raw-v1")
LM1B = hf_text_splits("FrankCCCCC/lm1b", None, mapping={"train": "train", "dev": "test"})


@register_problem("languagemodel_ptb10k")
class LanguagemodelPtb10k(HFLanguageModel):
    """Penn Treebank, word level: the 10k most frequent training words (PTB's text already maps the rest to <unk>)."""

    splits = ("train", "dev", "test")
    sources = PTB
    vocab_type = "token"
    approx_vocab_size = 10_000


@register_problem("languagemodel_ptb_characters")
class LanguagemodelPtbCharacters(HFLanguageModel):
    """Penn Treebank on UTF-8 bytes."""

    splits = ("train", "dev", "test")
    sources = PTB
    vocab_type = "byte"


@register_problem("languagemodel_wikitext103")
class LanguagemodelWikitext103(HFLanguageModel):
    """WikiText-103 (raw), a 32k subword vocabulary."""

    splits = ("train", "dev", "test")
    sources = WIKITEXT103
    approx_vocab_size = 2**15


@register_problem("languagemodel_wikitext103_characters")
class LanguagemodelWikitext103Characters(HFLanguageModel):
    """WikiText-103 (raw) on UTF-8 bytes."""

    splits = ("train", "dev", "test")
    sources = WIKITEXT103
    vocab_type = "byte"


@register_problem("languagemodel_lm1b32k")
class LanguagemodelLm1b32k(HFLanguageModel):
    """The One Billion Word benchmark, a 32k subword vocabulary; dev = the held-out sentences."""

    sources = LM1B
    approx_vocab_size = 2**15


@register_problem("languagemodel_lm1b_characters")
class LanguagemodelLm1bCharacters(HFLanguageModel):
    """The One Billion Word benchmark on UTF-8 bytes."""

    sources = LM1B
    vocab_type = "byte"


ENWIK8_URL = "http://mattmahoney.net/dc/enwik8.zip"
ENWIK8_HELD_OUT = 5_000_000  # bytes of dev and of test (T2T's num_test_chars)


def extract_member(archive: Path, member: str, target: Path) -> Path:
    """`member` of a zip archive extracted to `target` (once, atomically)."""
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.part-{os.getpid()}")
    try:
        with zipfile.ZipFile(archive) as zipped, zipped.open(member) as source, open(partial, "wb") as out:
            while chunk := source.read(1 << 20):
                out.write(chunk)
        os.replace(partial, target)
    except (zipfile.BadZipFile, KeyError, OSError, EOFError) as error:
        raise T2TUserError(f"cannot read '{member}' from '{archive}' ({error}): delete the archive to download it"
                           " again") from error
    finally:
        partial.unlink(missing_ok=True)
    return target


@dataclass(frozen=True)
class ByteRange:
    """Bytes [start, stop) of a file (stop None: to its end)."""

    path: Path
    start: int = 0
    stop: int | None = None


@register_problem("enwik8_l1k")
class Enwik8L1k(Text2SelfProblem):
    """enwik8 as a byte stream in blocks of 1024 bytes (no EOS; bytes per word instead of tokens per word)."""

    splits = ("train", "dev", "test")
    vocab_type = "byte"
    packed_length = 1024

    def __init__(self, was_reversed: bool = False, **config: Any) -> None:
        super().__init__(was_reversed=was_reversed, **config)
        if self.vocab_kind != "byte" or not self.packed_length:
            raise T2TUserError(f"problem {self.name} is a byte stream: it needs problem.vocab_type=byte and a positive"
                               f" problem.packed_length (got {self.vocab_type!r}, {self.packed_length!r})")

    def source_identity(self, split: str) -> Any:
        return [ENWIK8_URL, split, ENWIK8_HELD_OUT]

    def describe_split(self, split: str, data_dir: Path) -> str:
        if self.data_files is not None:
            return super().describe_split(split, data_dir)
        return f"the {split} split of {self.name}, read from {ENWIK8_URL},"

    def check_inputs(self, data_dir: Path) -> None:
        for paths in self.local_inputs(data_dir).values():
            for path in paths:
                check_readable(path)
                if path.stat().st_size == 0:
                    raise T2TUserError(f"data file '{path}' of {self.name} is empty: give it bytes or leave it out of"
                                       " problem.data_files")

    def byte_ranges(self, split: str, data_dir: Path) -> list[ByteRange]:
        if self.data_files is not None:
            return [ByteRange(path) for path in split_paths(self.data_files[split], split)]
        folder = data_dir / DOWNLOADS
        path = extract_member(download(ENWIK8_URL, folder, _LOCAL_HINT), "enwik8", folder / "enwik8")
        size = path.stat().st_size
        bounds = {"train": (0, size - 2 * ENWIK8_HELD_OUT), "dev": (size - 2 * ENWIK8_HELD_OUT, size - ENWIK8_HELD_OUT),
                  "test": (size - ENWIK8_HELD_OUT, size)}
        return [ByteRange(path, *bounds[split])]

    def blocks(self, split: str, data_dir: Path) -> Iterator[bytes]:
        """The bytes of `split` in blocks of `packed_length` (the last one shorter), across its files."""
        length, carry = self.packed_length, b""
        for part in self.byte_ranges(split, data_dir):
            with open(part.path, "rb") as handle:
                handle.seek(part.start)
                left = None if part.stop is None else part.stop - part.start
                while left is None or left > 0:
                    chunk = handle.read(length - len(carry) if left is None else min(length - len(carry), left))
                    if not chunk:
                        break
                    left = None if left is None else left - len(chunk)
                    carry += chunk
                    if len(carry) == length:
                        yield carry
                        carry = b""
        if carry:
            yield carry

    def generate_encoded_samples(self, split: str, data_dir: Path) -> Iterator[dict[str, list[int]]]:
        words = tokens = 0
        in_word = False
        for block in self.blocks(split, data_dir):
            words += len(block.split()) - (in_word and not block[:1].isspace())  # a word across two blocks
            in_word = not block[-1:].isspace()
            tokens += len(block)
            yield {"targets": [byte + NUM_RESERVED_IDS for byte in block]}
        if split == "dev" and words:
            self.write_stats(split, data_dir, words=words, tokens=tokens)
