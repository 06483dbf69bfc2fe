"""Text-to-text problems from raw text (ports T2T's `data_generators/text_problems.py` `Text2TextProblem`).

A subclass writes only `generate_samples(split, data_dir)`, a generator of raw text pairs
`{"inputs": str, "targets": str}`; everything else has defaults:

- vocabulary (`vocab_type`: subword | byte | token; T2T's names SUBWORD / CHARACTER / TOKEN), of about
  `approx_vocab_size` ids (2**15; the `8k` problems 2**13), shared by inputs and targets unless `shared_vocab` is
  False, learned from at most `max_vocab_lines` training lines (bounded time and memory on a WMT-sized corpus),
  saved as `data_dir/<name>/vocab.*.json` and reused by later runs;
- encoding streamed in chunks (`encode_batch` runs on the Rust side) into the memory-mapped token cache, which
  `TokenSequenceProblem.generate_data` writes under a file lock, atomically; the vocabulary is written the same way;
- `problem.data_files`: read the splits from local files instead of the problem's download (see `text_files.py`),
  so every problem works without internet and `text2text_files` serves a user's own corpus;
- `feature_encoders(data_dir)` to turn ids back into text (swapped for `<name>_rev`).

Pairs whose source or target is empty after stripping are skipped, as T2T's `compile_data` did. Eval metrics stay
the teacher-forced ones of `Problem`; BLEU needs real decoding and is computed by the decoder.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

from filelock import FileLock
from tqdm import tqdm

from t2t_torch.datamodules.example_cache import ExampleDataset
from t2t_torch.errors import T2TUserError
from t2t_torch.problems.problem import TokenSequenceProblem, check_data_dir
from t2t_torch.problems.sources.file_identity import HASH_MEMO, content_sha256
from t2t_torch.problems.sources.text_files import (
    TextPair,
    check_data_files,
    check_readable,
    corpus_paths,
    parse_split_files,
    read_corpora,
)
from t2t_torch.registry import register_problem
from t2t_torch.spec import ProblemSpec
from t2t_torch.text import (
    ByteEncoder,
    EncoderFileError,
    SubwordEncoder,
    TextEncoder,
    TokenFileEncoder,
    load_encoder,
)

log = logging.getLogger(__name__)

VOCAB_TYPES = {"subword": "subword", "byte": "byte", "character": "byte", "token": "token"}  # T2T name -> ours
ENCODE_CHUNK = 1000  # examples encoded per encode_batch call


class Text2TextProblem(TokenSequenceProblem):
    """Base of problems mapping a text to a text: a subclass writes only `generate_samples`."""

    splits: ClassVar[tuple[str, ...]] = ("train", "dev")
    requires_download: ClassVar[bool] = False  # True: preparing needs data from outside (a download or user files)
    data_name: ClassVar[str] = ""  # share the prepared data of this registered name (for aliases)
    shared_vocab: ClassVar[bool] = True
    vocab_type: ClassVar[str] = "subword"
    approx_vocab_size: ClassVar[int] = 2**15
    max_vocab_lines: ClassVar[int | None] = 1_000_000
    token_vocab_file: ClassVar[str | None] = None
    max_examples: ClassVar[int | None] = None
    data_files: ClassVar[Any] = None
    text_features: ClassVar[tuple[str, ...]] = ("inputs", "targets")  # the features that are encoded text
    splits_from_files: ClassVar[bool] = False  # True: the splits are the ones `data_files` names (user corpora)
    config_keys = (
        "data_files", "vocab_type", "approx_vocab_size", "max_vocab_lines", "token_vocab_file", "max_examples",
    )

    def __init__(self, was_reversed: bool = False, **config: Any) -> None:
        files = config.get("data_files")
        if self.splits_from_files and isinstance(files, Mapping):  # the splits the user gives: train, dev, [test]
            self.splits = tuple(split for split in ("train", "dev", "test") if split in files) or ("train", "dev")
        super().__init__(was_reversed=was_reversed, **config)
        if self.vocab_type not in VOCAB_TYPES:
            raise T2TUserError(
                f"problem.vocab_type={self.vocab_type!r} is not one of {', '.join(VOCAB_TYPES)} (problem {self.name})"
            )
        for key in ("approx_vocab_size", "max_vocab_lines", "max_examples"):
            value = getattr(self, key)
            allowed = (isinstance(value, int) and value > 0) or (value is None and key != "approx_vocab_size")
            if not allowed:
                raise T2TUserError(f"problem.{key} must be a positive integer (or null), got {value!r}")
        self.check_data_files()
        self._encoders: dict[str, TextEncoder] | None = None

    # Raw text -------------------------------------------------------------------------------------------------
    def generate_samples(self, split: str, data_dir: Path) -> Iterator[TextPair]:
        """Yield the raw `{"inputs": text, "targets": text}` pairs of `split` (download here if needed)."""
        raise NotImplementedError

    def check_data_files(self) -> None:
        """A one-line error when `data_files` does not describe every split (overridden by problems reading
        another kind of local file)."""
        check_data_files(self.data_files, self.splits, self.name)

    def raw_samples(self, split: str, data_dir: Path) -> Iterator[TextPair]:
        """The pairs of `split`: from `data_files` when given, else from the problem's own source."""
        if self.data_files is not None:
            return read_corpora(parse_split_files(self.data_files[split], split))
        return self.generate_samples(split, data_dir)

    def text_samples(self, split: str, data_dir: Path) -> Iterator[TextPair]:
        """Samples of `split` with their `text_features` stripped, without those with an empty text, at most
        `max_examples` (other entries, e.g. a label, pass through)."""
        kept = skipped = 0
        for sample in self.raw_samples(split, data_dir):
            if self.max_examples is not None and kept >= self.max_examples:
                break
            stripped = {**sample, **{f: sample[f].strip() for f in self.text_features}}
            if not all(stripped[f] for f in self.text_features):
                skipped += 1
                continue
            kept += 1
            yield stripped
        if skipped:
            log.info("%s/%s: skipped %d pairs with an empty side", self.registered_name, split, skipped)

    # Cache identity ---------------------------------------------------------------------------------------------
    @property
    def data_key(self) -> str:
        """The name its prepared data is stored under: its own, or the problem it is an alias of."""
        return self.data_name or self.registered_name

    def cache_dir(self, data_dir: str | Path) -> Path:
        return Path(data_dir) / self.data_key

    def content_hash(self, path: str | Path, data_dir: str | Path, setting: str = "problem.data_files") -> str:
        """sha256 of a local input file, remembered beside the cache until the file changes."""
        check_readable(Path(path), setting)
        return content_sha256(path, self.cache_dir(data_dir) / HASH_MEMO)

    def input_identity(self, split: str, data_dir: Path) -> Any:
        """What the examples of `split` are read from, by content: the sha256 of each local file of
        `data_files`, else `source_identity` (a download is named by its source)."""
        if self.data_files is None:
            return self.source_identity(split)
        corpora = parse_split_files(self.data_files[split], split)
        return [[self.content_hash(path, data_dir) for path in corpus_paths(corpus)] for corpus in corpora]

    def source_identity(self, split: str) -> Any:
        """Identity of the problem's own source of `split` (its code, versioned by `cache_version`)."""
        return None

    def describe_split(self, split: str, data_dir: Path) -> str:
        paths = self.local_inputs(data_dir).get(split)
        if not paths:
            return super().describe_split(split, data_dir)
        return f"the {split} split of {self.name}, read from {', '.join(map(str, paths))},"

    def settings_identity(self) -> dict[str, Any]:
        """The settings, without the paths of input files (their content is part of the identity instead)."""
        return {k: v for k, v in self.config().items() if k not in ("data_files", "token_vocab_file")}

    def fingerprint_parts(self, split: str, data_dir: Path) -> list[Any]:
        """A split's cache depends on its own files' content and on the vocabulary it was encoded with."""
        memo = self.cache_dir(data_dir) / HASH_MEMO
        vocab = {feature: content_sha256(path, memo) for feature, path in self._existing_vocab(data_dir).items()}
        return [self.data_key, self.cache_version, self.settings_identity(), split,
                self.input_identity(split, data_dir), vocab]

    # Vocabulary -----------------------------------------------------------------------------------------------
    @property
    def vocab_kind(self) -> str:
        return VOCAB_TYPES[self.vocab_type]

    def vocab_files(self, data_dir: str | Path) -> dict[str, Path]:
        """Vocabulary file per feature; the name holds a hash of what it was built from (settings, the content of
        the training files and of `token_vocab_file`), so another corpus builds a new one instead of reusing a
        stale one. Other dev/test files keep the vocabulary."""
        kind = self.vocab_kind
        identity: dict[str, Any] = {"settings": self.settings_identity()}
        if kind == "subword":
            identity["train"] = self.input_identity("train", Path(data_dir))
        elif kind == "token" and self.token_vocab_file:
            identity["tokens"] = self.content_hash(self._token_vocab_path(), data_dir, "problem.token_vocab_file")
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:8]
        size = f".{self.approx_vocab_size}" if kind == "subword" else ""
        root = self.cache_dir(data_dir)
        if self.shared_vocab or kind != "subword":
            shared = root / f"vocab.{kind}{size}.{digest}.json"
            return {feature: shared for feature in self.text_features}
        return {feature: root / f"vocab.{kind}{size}.{feature}.{digest}.json" for feature in self.text_features}

    def _existing_vocab(self, data_dir: str | Path) -> dict[str, Path]:
        """`vocab_files`, with a one-line error when one is missing."""
        paths = self.vocab_files(data_dir)
        for path in paths.values():
            if not path.is_file():
                raise T2TUserError(
                    f"no vocabulary for {self.name} in {data_dir} matching its settings and input files:"
                    f" run `t2t-datagen problem={self.name} data_dir={data_dir}` (train.py does this itself)"
                )
        return paths

    def get_or_create_vocab(self, data_dir: str | Path) -> dict[str, TextEncoder]:
        """The encoders per feature, built from the training data (once, under a file lock) when missing. Caches
        encoded with another vocabulary are not reused: the vocabulary's hash is part of their fingerprint."""
        paths = self.vocab_files(data_dir)
        root = self.cache_dir(data_dir)
        root.mkdir(parents=True, exist_ok=True)
        with FileLock(str(root / ".vocab.lock")):
            for path in dict.fromkeys(paths.values()):
                if not path.is_file():
                    features = tuple(f for f, p in paths.items() if p == path)
                    self.build_encoder(features, Path(data_dir)).save(path)  # atomic: tmp file + rename
                    log.info("Saved the vocabulary of %s to %s", self.name, path)
        return self._load_encoders(data_dir)

    def build_encoder(self, features: tuple[str, ...], data_dir: Path) -> TextEncoder:
        """A new encoder for `features` (both of them for a shared vocabulary)."""
        kind = self.vocab_kind
        if kind == "byte":
            return ByteEncoder()
        if kind == "token":
            return self._token_encoder()
        texts = tqdm(self._vocab_texts(features, data_dir), total=self.max_vocab_lines, unit=" lines",
                     desc=f"{self.registered_name}: vocabulary", disable=None)
        log.info("Building a %d-id subword vocabulary for %s from at most %s lines",
                 self.approx_vocab_size, self.name, self.max_vocab_lines or "all")
        try:
            return SubwordEncoder.build(texts, self.approx_vocab_size, max_lines=self.max_vocab_lines)
        except ValueError as error:  # e.g. no text at all, or a target size below the byte alphabet
            raise T2TUserError(f"cannot build the vocabulary of {self.name}: {error}") from error
        finally:
            texts.close()

    def _vocab_texts(self, features: tuple[str, ...], data_dir: Path) -> Iterator[str]:
        for sample in self.text_samples("train", data_dir):
            for feature in features:
                yield sample[feature]

    def _token_vocab_path(self) -> Path:
        if not self.token_vocab_file:
            raise T2TUserError(
                f"problem {self.name} has a token vocabulary: pass problem.token_vocab_file=<file, one token per line>"
            )
        return Path(self.token_vocab_file).expanduser()

    def _token_encoder(self) -> TokenFileEncoder:
        try:
            return TokenFileEncoder.from_file(self._token_vocab_path())
        except (FileNotFoundError, EncoderFileError) as error:
            raise T2TUserError(str(error)) from error

    def _load_encoders(self, data_dir: str | Path) -> dict[str, TextEncoder]:
        paths = self._existing_vocab(data_dir)
        loaded: dict[Path, TextEncoder] = {}
        for path in dict.fromkeys(paths.values()):
            try:
                loaded[path] = load_encoder(path)
            except EncoderFileError as error:
                raise T2TUserError(str(error)) from error
        self._encoders = {f: loaded[p] for f, p in paths.items()}
        return self._encoders

    def feature_encoders(self, data_dir: str | Path) -> dict[str, TextEncoder]:
        encoders = self._load_encoders(data_dir)
        if self.was_reversed and len(encoders) == 2:
            return {"inputs": encoders["targets"], "targets": encoders["inputs"]}
        return dict(encoders)

    def vocab_sizes(self) -> tuple[int | None, int]:
        if self._encoders is None:
            raise T2TUserError(
                f"the vocabulary size of {self.name} is known once its data is prepared:"
                " call problem.generate_data(data_dir), then problem.spec(data_dir)"
            )
        inputs = self._encoders["inputs"].vocab_size if "inputs" in self._encoders else None
        return inputs, self._encoders["targets"].vocab_size

    def stored_spec(self, data_dir: str | Path | None) -> ProblemSpec:
        if self._encoders is None and data_dir is not None:
            self._load_encoders(data_dir)
        return super().stored_spec(data_dir)

    # Preparation ----------------------------------------------------------------------------------------------
    def generate_data(self, data_dir: str | Path) -> None:
        data_dir = check_data_dir(data_dir)
        self.check_inputs(data_dir)
        self.get_or_create_vocab(data_dir)
        super().generate_data(data_dir)

    def check_inputs(self, data_dir: Path) -> None:
        """Before any vocabulary or cache work: every local file of every split is readable and each split holds
        a pair, so a missing or empty dev file is reported before a long training split is encoded."""
        if self.vocab_kind == "token":
            check_readable(self._token_vocab_path(), "problem.token_vocab_file")
        local = self.local_inputs(data_dir)
        for paths in local.values():
            for path in paths:
                check_readable(path)
        for split in local:
            samples = self.text_samples(split, data_dir)
            try:
                if next(samples, None) is None:
                    raise T2TUserError(f"{self.describe_split(split, data_dir)} holds no non-empty pair: {_EMPTY_HINT}")
            finally:
                samples.close()

    def local_inputs(self, data_dir: Path) -> dict[str, list[Path]]:
        """The local files each split is read from (`{}` when the problem downloads its data)."""
        if self.data_files is None:
            return {}
        return {
            split: [
                path for corpus in parse_split_files(self.data_files[split], split) for path in corpus_paths(corpus)
            ]
            for split in self.splits
        }

    def dataset(self, split: str, data_dir: str | Path) -> ExampleDataset:
        if self._encoders is None:
            self._load_encoders(data_dir)
        return super().dataset(split, data_dir)

    def generate_encoded_samples(self, split: str, data_dir: Path) -> Iterator[dict[str, list[int]]]:
        encoders = self._encoders if self._encoders is not None else self._load_encoders(data_dir)
        with tqdm(desc=f"{self.registered_name}/{split}", unit=" examples", disable=None) as bar:
            for chunk in _chunks(self.text_samples(split, data_dir), ENCODE_CHUNK):
                encoded = {f: encoders[f].encode_batch([sample[f] for sample in chunk]) for f in self.text_features}
                for row, sample in enumerate(chunk):
                    yield self.encode_sample(sample, {f: ids[row] for f, ids in encoded.items()})
                bar.update(len(chunk))

    def encode_sample(self, sample: Mapping[str, Any], encoded: dict[str, list[int]]) -> dict[str, Any]:
        """The cached example of a stripped sample, given its encoded `text_features` (overridden by problems
        with other features, e.g. a class label)."""
        return encoded


def _chunks(items: Iterable[TextPair], size: int) -> Iterator[list[TextPair]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


@register_problem("text2text_files")
class Text2TextFiles(Text2TextProblem):
    """Your own parallel corpus: problem.data_files={train: [src, tgt], dev: dev.tsv} (T2T's text2text_tmpdir)."""

    requires_download = True  # needs the user's files
    splits_from_files = True
    approx_vocab_size = 2**13

    def check_data_files(self) -> None:
        if isinstance(self.data_files, Mapping) and not {"train", "dev"} <= set(self.data_files):
            raise T2TUserError(f"text2text_files needs a train and a dev split; {_FILES_HINT}")
        super().check_data_files()

    def generate_samples(self, split: str, data_dir: Path) -> Iterator[TextPair]:
        raise T2TUserError(f"problem text2text_files reads your own files; {_FILES_HINT}")


_EMPTY_HINT = "every split needs at least one source/target pair (one sentence per line, or source<TAB>target)"
_FILES_HINT = (
    "pass problem.data_files={train: [train.src, train.tgt], dev: [dev.src, dev.tgt]}"
    " (one sentence per line; a source<TAB>target .tsv file per split works too; test is optional)"
)
