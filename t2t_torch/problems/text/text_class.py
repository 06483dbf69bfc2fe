"""Text-classification problems (ports T2T's `data_generators/text_problems.py` `Text2ClassProblem` and
`TextConcat2ClassProblem`); the registered ones are in `text_class_sources.py`.

A `Text2ClassProblem` serves a text as `inputs` (symbol ids ending in EOS, batched by tokens) and one class id as
`targets` (the class-label modality); the label names, in id order, are the spec's `extra["labels"]`, so inference
prints names. A subclass sets `labels` and writes `generate_samples(split, data_dir)`, a generator of raw samples
`{"inputs": text, "label": name or id, "where": "line 3 of 'dev.tsv'"}` (`where` names the sample in errors).
A label is one of the label names, or, when the label set is fixed (by the class or `problem.labels`), its id.
`problem.max_input_tokens=N` keeps the first N ids of each input (then EOS; of a pair, of the joined ids), for long
documents.

`TextConcat2ClassProblem` classifies a pair of texts (`{"inputs": first, "inputs2": second, "label": ...}`, e.g.
premise and hypothesis): both are encoded with one vocabulary and joined into the single `inputs` feature as
first ids + separator id + second ids + EOS, as T2T did. The separator is an id of its own, one above the text
vocabulary (T2T encoded a literal "$", which also occurs in text), so its `PairEncoder` has one id more than the
text encoder; as text, a pair is the two texts joined by one TAB, which is what decoding from text reads.

Local files (`problem.data_files={train: ..., dev: ...[, test: ...]}`, each split a path or a list of paths):
`.parquet` files are read by the dataset's own column names (`text_columns`, `label_column`: the rows as the
Hugging Face Hub serves them); any other file is TSV, `text<TAB>label` per line (`first<TAB>second<TAB>label` for
pairs), `.gz` decompressed on the fly. A line without its TABs, an empty split, a label outside the label set or
a class without training examples is a one-line error naming the file and line. No `_rev`: a class label cannot be
an input.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

from filelock import FileLock

from t2t_torch.errors import T2TUserError
from t2t_torch.problems.sources.text_files import _lines, check_readable
from t2t_torch.problems.text.text2text import ENCODE_CHUNK, Text2TextProblem
from t2t_torch.spec import ProblemSpec, class_label_feature, symbol_feature
from t2t_torch.text import TextEncoder

log = logging.getLogger(__name__)

Sample = dict[str, Any]
PAIR_SEPARATOR = "\t"  # a pair as text: first<TAB>second
_PARQUET_BATCH = 1000


class PairEncoder(TextEncoder):
    """A text encoder for sentence pairs: the ids of both texts around a separator id one above `inner`'s ids."""

    kind = "text_pair"

    def __init__(self, inner: TextEncoder) -> None:
        self.inner = inner

    @property
    def vocab_size(self) -> int:
        return self.inner.vocab_size + 1

    @property
    def separator_id(self) -> int:
        return self.inner.vocab_size

    def join(self, first: Sequence[int], second: Sequence[int]) -> list[int]:
        return [*first, self.separator_id, *second]

    def _split(self, text: str) -> list[str]:
        parts = text.split(PAIR_SEPARATOR)
        if len(parts) != 2:
            raise ValueError(f"a text pair is two texts joined by one TAB, this has {len(parts) - 1} TABs")
        return parts

    def encode(self, text: str) -> list[int]:
        first, second = self._split(text)
        return self.join(self.inner.encode(first), self.inner.encode(second))

    def _decode_content(self, ids: list[int]) -> str:
        if self.separator_id not in ids:
            return self.inner.decode(ids)
        cut = ids.index(self.separator_id)
        rest = [i for i in ids[cut + 1:] if i != self.separator_id]
        return self.inner.decode(ids[:cut]) + PAIR_SEPARATOR + self.inner.decode(rest)

    def _to_payload(self) -> dict[str, Any]:
        return {"inner": {"kind": self.inner.kind, "payload": self.inner._to_payload()}}

    @classmethod
    def _from_payload(cls, payload: dict[str, Any]) -> Self:
        inner = payload["inner"]
        return cls(TextEncoder.kinds[inner["kind"]]._from_payload(inner["payload"]))


class LabelIndex:
    """Label -> id: a label name, or (when `accept_ids`) an id; a one-line error naming where the sample is from."""

    def __init__(self, names: Sequence[str], problem: str, accept_ids: bool, hint: str) -> None:
        self.names = list(names)
        self.ids = {name: i for i, name in enumerate(self.names)}
        self.problem, self.accept_ids, self.hint = problem, accept_ids, hint
        self.digit_names = any(name.isdigit() for name in self.names)

    def __call__(self, label: Any, where: str) -> int:
        if isinstance(label, int) and not isinstance(label, bool) and self.accept_ids and 0 <= label < len(self.names):
            return label
        key = str(label).strip()
        if key in self.ids:
            return self.ids[key]
        if self.accept_ids and not self.digit_names and key.isdigit() and int(key) < len(self.names):
            return int(key)
        raise T2TUserError(f"{where}: label {key!r} is not one of the labels of {self.problem}"
                           f" ({', '.join(self.names)}): {self.hint}")


def _chunks(items: Iterable[Sample], size: int) -> Iterator[list[Sample]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


class Text2ClassProblem(Text2TextProblem):
    """Base of text -> class problems: a subclass sets `labels` and writes `generate_samples`."""

    input_modality = "symbol"
    target_modality = "class_label"
    batch_size_means_tokens = True  # texts are batched by tokens; the label is one id per example
    reversible: ClassVar[bool] = False  # a class label cannot be an input: no `_rev`
    eval_metrics = ("accuracy", "accuracy_top5")
    text_features: ClassVar[tuple[str, ...]] = ("inputs",)
    text_columns: ClassVar[tuple[str, ...]] = ("text",)  # the Parquet/HF column of each text feature, in order
    label_column: ClassVar[str] = "label"
    labels: ClassVar[Sequence[str] | None] = None  # label names in id order (None: the sorted training labels)
    max_input_tokens: ClassVar[int | None] = None  # keep the first N ids of each text (None: all)
    config_keys = (*Text2TextProblem.config_keys, "labels", "max_input_tokens")

    def __init__(self, was_reversed: bool = False, **config: Any) -> None:
        if was_reversed and not self.reversible:
            raise T2TUserError(f"problem {self.registered_name} has no _rev variant: it maps text to a class label,"
                               f" which cannot be an input; use problem={self.registered_name}")
        super().__init__(was_reversed=was_reversed, **config)
        if self.labels is not None:
            self.labels = self._checked_labels(self.labels)
        value = self.max_input_tokens
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise T2TUserError(f"problem.max_input_tokens must be a positive integer (or null), got {value!r}")
        self._label_names: tuple[Path | None, list[str]] | None = None  # (labels file, names) last read
        self._label_index: LabelIndex | None = None

    def _checked_labels(self, labels: Any) -> tuple[str, ...]:
        if isinstance(labels, (str, bytes)) or not isinstance(labels, Sequence):
            raise T2TUserError(f"problem.labels of {self.name} must be a list of label names, got {labels!r}")
        names = tuple(str(label).strip() for label in labels)
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if len(names) < 2 or "" in names or duplicates:
            what = f"repeats {', '.join(duplicates)}" if duplicates else "has an empty name" if "" in names else \
                "has fewer than 2 labels"
            raise T2TUserError(f"problem.labels of {self.name} {what}: pass at least 2 distinct, non-empty names")
        return names

    # Raw samples ----------------------------------------------------------------------------------------------
    def check_data_files(self) -> None:
        files = self.data_files
        if files is None:
            return
        if not isinstance(files, Mapping) or set(files) != set(self.splits) or not all(
                self._split_paths(split) for split in self.splits):
            splits = ", ".join(self.splits)
            raise T2TUserError(f"problem.data_files of {self.name} must map each of its splits ({splits}) to a file"
                               f" or a list of files, got {files!r}; {self.files_hint}")

    @property
    def files_hint(self) -> str:
        columns = ", ".join((*self.text_columns, self.label_column))
        return f"each a TSV file of {self.tsv_line} per line, or a .parquet file with columns {columns}"

    @property
    def tsv_line(self) -> str:
        return "first<TAB>second<TAB>label" if len(self.text_features) == 2 else "text<TAB>label"

    def _split_paths(self, split: str) -> list[Path]:
        value = self.data_files.get(split) if isinstance(self.data_files, Mapping) else None
        values = [value] if isinstance(value, (str, os.PathLike)) else value
        if not isinstance(values, Sequence) or not all(isinstance(v, (str, os.PathLike)) for v in values):
            return []
        return [Path(v).expanduser() for v in values]

    def local_inputs(self, data_dir: Path) -> dict[str, list[Path]]:
        return {} if self.data_files is None else {split: self._split_paths(split) for split in self.splits}

    def input_identity(self, split: str, data_dir: Path) -> Any:
        if self.data_files is None:
            return self.source_identity(split)
        return [self.content_hash(path, data_dir) for path in self._split_paths(split)]

    def raw_samples(self, split: str, data_dir: Path) -> Iterator[Sample]:
        if self.data_files is None:
            return self.generate_samples(split, data_dir)
        return self._read_files(self._split_paths(split))

    def _read_files(self, paths: list[Path]) -> Iterator[Sample]:
        for path in paths:
            check_readable(path)
        for path in paths:
            yield from self.read_parquet(path) if path.suffix == ".parquet" else self.read_tsv(path)

    def read_tsv(self, path: Path) -> Iterator[Sample]:
        """`text<TAB>label` lines (`first<TAB>second<TAB>label` for pairs; a single text may hold TABs)."""
        count = len(self.text_features)
        for number, line in enumerate(_lines(path), start=1):
            if not line.strip():
                continue
            fields = line.rsplit("\t", 1) if count == 1 else line.split("\t")
            if len(fields) != count + 1:
                raise T2TUserError(f"line {number} of '{path}' has {line.count(chr(9))} TABs, not {count}: write"
                                   f" {self.tsv_line} per line")
            texts = dict(zip(self.text_features, fields[:-1], strict=True))
            yield {**texts, "label": fields[-1], "where": f"line {number} of '{path}'"}

    def read_parquet(self, path: Path) -> Iterator[Sample]:
        """Rows of a Parquet file with the dataset's columns (ids of the label set as the Hub serves them)."""
        import pyarrow.parquet  # installed with datasets

        columns = [*self.text_columns, self.label_column]
        try:
            file = pyarrow.parquet.ParquetFile(path)
            names = file.schema_arrow.names
            missing = [c for c in columns if c not in names]
            if missing:
                raise T2TUserError(f"'{path}' has no column {missing[0]} (its columns: {', '.join(names)}):"
                                   f" {self.name} reads {', '.join(columns)}")
            number = 0
            for batch in file.iter_batches(batch_size=_PARQUET_BATCH, columns=columns):
                for row in batch.to_pylist():
                    number += 1
                    if (sample := self.row_sample(row, f"row {number} of '{path}'")) is not None:
                        yield sample
        except (OSError, ValueError) as error:  # pyarrow's ArrowInvalid is a ValueError
            reason = " ".join(str(error).split())[:200]
            raise T2TUserError(f"cannot read '{path}' as Parquet ({reason}): pass a .parquet file or a TSV file") \
                from None

    def row_sample(self, row: Mapping[str, Any], where: str) -> Sample | None:
        """The raw sample of a dataset row (None for an unlabelled row: the Hub's label -1)."""
        if row[self.label_column] == -1:
            return None
        texts = {f: "" if row[c] is None else str(row[c]) for f, c in
                 zip(self.text_features, self.text_columns, strict=True)}
        return {**texts, "label": row[self.label_column], "where": where}

    # Labels -------------------------------------------------------------------------------------------------
    def labels_file(self, data_dir: str | Path) -> Path:
        """Where the label list learned from the training data is kept, named by what it was learned from."""
        identity = {"settings": self.settings_identity(), "train": self.input_identity("train", Path(data_dir))}
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:8]
        return self.cache_dir(data_dir) / f"labels.{digest}.json"

    def label_names(self, data_dir: str | Path | None) -> list[str]:
        """The label names in id order: `labels`, else the sorted labels of the training data (saved when prepared)."""
        if self.labels is not None:
            return list(self.labels)
        path = self.labels_file(data_dir) if data_dir is not None else None
        if self._label_names is None or self._label_names[0] != path:
            try:
                self._label_names = (path, list(json.loads(path.read_text(encoding="utf-8"))["labels"]))
            except (AttributeError, OSError, ValueError, KeyError, TypeError):
                raise T2TUserError(f"no label list of {self.name} in {data_dir} matching its training files: run"
                                   f" `t2t-datagen problem={self.name} data_dir={data_dir}` (train.py does this"
                                   " itself)") from None
        return list(self._label_names[1])

    def prepare_labels(self, data_dir: Path) -> None:
        """Learn the label set from the training samples, once (under a file lock), when `labels` is not given."""
        if self.labels is not None:
            return
        path = self.labels_file(data_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path.with_name(".labels.lock"))):
            if path.is_file():
                return
            names: set[str] = set()
            for sample in self.text_samples("train", data_dir):
                if not (name := str(sample["label"]).strip()):
                    raise T2TUserError(f"{sample.get('where', 'a training sample')} has an empty label:"
                                       f" give every line a label")
                names.add(name)
            if len(names) < 2:
                raise T2TUserError(f"{self.describe_split('train', data_dir)} holds {len(names)} distinct label(s)"
                                   f" ({', '.join(sorted(names))}): a classifier needs at least 2")
            tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
            tmp.write_text(json.dumps({"labels": sorted(names)}), encoding="utf-8")
            os.replace(tmp, path)
            log.info("%s: %d labels from the training data, saved to %s", self.name, len(names), path)

    def label_index(self, data_dir: str | Path) -> LabelIndex:
        fixed = self.labels is not None
        hint = ("fix the label, or list every label in problem.labels=[...]" if fixed else
                "every dev/test label must occur in the training data (or list them all in problem.labels=[...])")
        return LabelIndex(self.label_names(data_dir), self.name, accept_ids=fixed, hint=hint)

    # Spec, identity -------------------------------------------------------------------------------------------
    def fingerprint_parts(self, split: str, data_dir: Path) -> list[Any]:
        return [*super().fingerprint_parts(split, data_dir), self.label_names(data_dir)]

    def vocab_sizes(self) -> tuple[int | None, int]:
        """(input vocabulary size, number of classes), known once the data is prepared (and read)."""
        names = self.labels if self.labels is not None else self._label_names and self._label_names[1]
        if self._encoders is None or not names:
            super().vocab_sizes()  # the one-line error: prepare the data first
        return self._encoders["inputs"].vocab_size, len(names)

    def stored_spec(self, data_dir: str | Path | None) -> ProblemSpec:
        if self._encoders is None and data_dir is not None:
            self._load_encoders(data_dir)
        inputs, _ = self.vocab_sizes()
        names = self.label_names(data_dir)
        return ProblemSpec(features={"inputs": symbol_feature(inputs, append_eos=True),
                                     "targets": class_label_feature(len(names))},
                           batch_size_means_tokens=True, length_feature="inputs", eval_metrics=self.eval_metrics,
                           decode_metrics=self.decode_metrics, extra={"labels": names})

    def feature_encoders(self, data_dir: str | Path) -> dict[str, TextEncoder]:
        """The inputs' encoder only: the targets are class ids, named by the spec's `extra["labels"]`."""
        return {"inputs": self._load_encoders(data_dir)["inputs"]}

    # Preparation ----------------------------------------------------------------------------------------------
    def check_inputs(self, data_dir: Path) -> None:
        """Before any vocabulary or cache work: every local file is readable and every split holds a sample; then
        the label set is learned (when not given)."""
        if self.vocab_kind == "token":
            check_readable(self._token_vocab_path(), "problem.token_vocab_file")
        for split, paths in self.local_inputs(data_dir).items():
            for path in paths:
                check_readable(path)
            samples = self.text_samples(split, data_dir)
            try:
                if next(samples, None) is None:
                    raise T2TUserError(f"{self.describe_split(split, data_dir)} holds no example with a non-empty"
                                       f" text: {self.files_hint}")
            finally:
                samples.close()
        self.prepare_labels(data_dir)

    def encode_texts(self, encoder: TextEncoder, chunk: list[Sample]) -> list[list[int]]:
        """The ids of the samples' texts (overridden for pairs)."""
        return encoder.encode_batch([sample["inputs"] for sample in chunk])

    def generate_encoded_samples(self, split: str, data_dir: Path) -> Iterator[dict[str, Any]]:
        encoder = (self._encoders if self._encoders is not None else self._load_encoders(data_dir))["inputs"]
        self._label_index = self.label_index(data_dir)
        counts = [0] * len(self._label_index.names)
        for chunk in _chunks(self.text_samples(split, data_dir), ENCODE_CHUNK):
            for sample, ids in zip(chunk, self.encode_texts(encoder, chunk), strict=True):
                example = self.encode_sample(sample, {"inputs": ids})
                counts[example["targets"]] += 1
                yield example
        empty = [name for name, count in zip(self._label_index.names, counts, strict=True) if not count]
        if split == "train" and sum(counts) and empty:
            limited = f" (problem.max_examples={self.max_examples} kept the first ones)" if self.max_examples else ""
            raise T2TUserError(f"class {empty[0]!r} of {self.name} has no training examples in"
                               f" {self.describe_split(split, data_dir)}{limited}: add examples of it, or leave it"
                               " out of problem.labels")

    def encode_sample(self, sample: Mapping[str, Any], encoded: dict[str, list[int]]) -> dict[str, Any]:
        ids = encoded["inputs"]
        if self.max_input_tokens is not None:
            ids = ids[: self.max_input_tokens]
        return {"inputs": ids, "targets": self._label_index(sample["label"], sample.get("where", "a sample"))}


class TextConcat2ClassProblem(Text2ClassProblem):
    """Base of sentence-pair classification: samples `{"inputs": first, "inputs2": second, "label": ...}`, served as
    one `inputs` sequence, first + separator + second (see the module docstring)."""

    text_features: ClassVar[tuple[str, ...]] = ("inputs", "inputs2")
    text_columns: ClassVar[tuple[str, ...]] = ("sentence1", "sentence2")

    def vocab_files(self, data_dir: str | Path) -> dict[str, Path]:
        return {"inputs": super().vocab_files(data_dir)["inputs"]}  # one vocabulary for both texts

    def build_encoder(self, features: tuple[str, ...], data_dir: Path) -> TextEncoder:
        return PairEncoder(super().build_encoder(features, data_dir))

    def _vocab_texts(self, features: tuple[str, ...], data_dir: Path) -> Iterator[str]:
        for sample in self.text_samples("train", data_dir):
            yield sample["inputs"]
            yield sample["inputs2"]

    def pair_encoder(self, encoder: TextEncoder) -> PairEncoder:
        if not isinstance(encoder, PairEncoder):
            raise T2TUserError(f"the vocabulary of {self.name} is not a pair vocabulary ({encoder!r}): delete"
                               f" {self.registered_name}/vocab.* in data_dir and rerun")
        return encoder

    def encode_texts(self, encoder: TextEncoder, chunk: list[Sample]) -> list[list[int]]:
        pair = self.pair_encoder(encoder)
        firsts = pair.inner.encode_batch([sample["inputs"] for sample in chunk])
        seconds = pair.inner.encode_batch([sample["inputs2"] for sample in chunk])
        return [pair.join(a, b) for a, b in zip(firsts, seconds, strict=True)]
