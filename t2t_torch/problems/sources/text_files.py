"""Readers of local parallel text: plain files (one sentence per line) and TSV (`source<TAB>target`).

Ports T2T's `text_problems.text2text_txt_iterator` / `text2text_txt_tab_iterator` and the file handling of
`Text2textTmpdir`. A split is described by the `problem.data_files` knob in one of these forms:

    train: [corpus.en, corpus.de]                 # two parallel files: source, target
    train: corpus.tsv                             # one TSV file: source<TAB>target per line
    train: [[a.en, a.de], [b.en, b.de], c.tsv]    # several corpora, read one after the other

Files ending in `.gz` are decompressed on the fly. Every problem of the tokens family reads local data through
here, so a user without internet (or with their own corpus) points any problem at files. Errors (a missing or
unreadable file, files of different lengths, a TSV line without exactly one TAB) are one line naming the fix.
"""

from __future__ import annotations

import gzip
import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from t2t_torch.errors import T2TUserError

TextPair = dict[str, str]  # {"inputs": source sentence, "targets": target sentence}


@dataclass(frozen=True)
class ParallelFiles:
    """Two files with one sentence per line; line i of `source` translates to line i of `target`."""

    source: Path
    target: Path


@dataclass(frozen=True)
class TsvFile:
    """One file with `source<TAB>target` per line."""

    path: Path


LocalCorpus = ParallelFiles | TsvFile


def parse_split_files(spec: Any, split: str) -> list[LocalCorpus]:
    """The corpora of one `data_files` entry: a path is a TSV file, a list of 1 or 2 paths is one corpus (TSV or
    source/target pair), and a list holding lists is several corpora (each a TSV path or such a list)."""
    if isinstance(spec, (str, Path)):
        return [TsvFile(_path(spec))]
    if isinstance(spec, Sequence) and spec:
        if all(isinstance(item, (str, Path)) for item in spec) and len(spec) in (1, 2):
            paths = [_path(item) for item in spec]
            return [TsvFile(paths[0])] if len(paths) == 1 else [ParallelFiles(paths[0], paths[1])]
        if any(not isinstance(item, (str, Path)) for item in spec):
            return [corpus for item in spec for corpus in parse_split_files(item, split)]
    raise T2TUserError(
        f"problem.data_files.{split} must be a TSV path, a [source, target] pair of paths, or a list of those"
        f" (e.g. [[a.en, a.de], b.tsv]); got {spec!r}"
    )


def _path(value: str | Path) -> Path:
    return Path(value).expanduser()


def check_readable(path: Path, setting: str = "problem.data_files") -> None:
    """A one-line error unless `path` is a readable file (named in `setting`)."""
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise T2TUserError(f"data file '{path}' {what}: fix the path in {setting}")
    try:
        with open(path, "rb") as handle:
            handle.read(1)
    except OSError as error:
        raise T2TUserError(
            f"cannot read data file '{path}' ({error.strerror}): fix its permissions or the path"
        ) from error


def open_binary(path: Path) -> BinaryIO:
    """Open a file (gzip-compressed when the name ends in .gz) for streaming its bytes."""
    check_readable(path)
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _lines(path: Path) -> Iterator[str]:
    """Lines of `path` without their line ending; a one-line error naming the line of a byte that is not UTF-8.
    Each line is decoded on its own (a text-mode reader decodes ahead in blocks, so it cannot say where)."""
    with open_binary(path) as handle:
        number = 0
        try:
            for number, raw in enumerate(handle, start=1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as error:
                    raise T2TUserError(
                        f"'{path}' is not UTF-8 text (line {number}, byte {error.start + 1}: {error.reason}):"
                        " convert it to UTF-8"
                    ) from None
                yield line.rstrip("\r\n")
        except (OSError, EOFError) as error:  # e.g. a truncated .gz file
            raise T2TUserError(
                f"cannot read '{path}' after line {number} ({error}): the file is corrupt or truncated"
            ) from error


def corpus_paths(corpus: LocalCorpus) -> tuple[Path, ...]:
    """The files of one corpus: (source, target) or (tsv,)."""
    return (corpus.source, corpus.target) if isinstance(corpus, ParallelFiles) else (corpus.path,)


def read_parallel(files: ParallelFiles) -> Iterator[TextPair]:
    """Pairs of lines from two parallel files; a one-line error when their line counts differ."""
    missing = object()
    source_lines, target_lines = _lines(files.source), _lines(files.target)
    for number, (source, target) in enumerate(itertools.zip_longest(source_lines, target_lines, fillvalue=missing), 1):
        if source is missing or target is missing:
            shorter, longer = (files.source, files.target) if source is missing else (files.target, files.source)
            raise T2TUserError(
                f"parallel files differ in length: '{shorter}' has {number - 1} lines but '{longer}' has more;"
                " they need one sentence per line on both sides"
            )
        yield {"inputs": source, "targets": target}


def read_tsv(file: TsvFile) -> Iterator[TextPair]:
    """Pairs from `source<TAB>target` lines; blank lines are skipped."""
    for number, line in enumerate(_lines(file.path), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 2:
            raise T2TUserError(
                f"line {number} of '{file.path}' has {len(fields) - 1} TABs, not 1: write source<TAB>target per line"
            )
        yield {"inputs": fields[0], "targets": fields[1]}


def read_corpora(corpora: Sequence[LocalCorpus]) -> Iterator[TextPair]:
    """All pairs of `corpora`, one corpus after the other. Every file is checked before the first is read."""
    for corpus in corpora:
        for path in corpus_paths(corpus):
            check_readable(path)
    for corpus in corpora:
        yield from read_parallel(corpus) if isinstance(corpus, ParallelFiles) else read_tsv(corpus)


def check_data_files(data_files: Mapping[str, Any] | None, splits: Sequence[str], problem: str) -> None:
    """A one-line error when `data_files` names an unknown split or misses one of `splits`."""
    if data_files is None:
        return
    if not isinstance(data_files, Mapping):
        raise T2TUserError(
            "problem.data_files must map splits to files, e.g. {train: [a.en, a.de], dev: dev.tsv};"
            f" got {data_files!r}"
        )
    unknown = [key for key in data_files if key not in splits]
    if unknown:
        raise T2TUserError(
            f"problem.data_files of {problem} names unknown split(s) {', '.join(map(str, unknown))};"
            f" its splits: {', '.join(splits)}"
        )
    missing = [split for split in splits if split not in data_files]
    if missing:
        raise T2TUserError(
            f"problem.data_files of {problem} has no entry for split(s) {', '.join(missing)}:"
            f" add problem.data_files.{missing[0]}=[source_file, target_file] (or a .tsv file)"
        )
    for split in splits:
        parse_split_files(data_files[split], split)
