"""Summarization problems: truncation of each side, CNN/DailyMail's T2T preprocessing, the BBC headline reader
(headline/body split, split assignment, one-line errors) and a short end-to-end training run."""

import math

import numpy as np
import pytest

import t2t_torch
from t2t_torch.errors import T2TUserError
from t2t_torch.problems.text.summarize import join_lines, read_bbc_article
from t2t_torch.run.train import train
from t2t_torch.spec import EOS_ID
from tests.fixtures.helpers import QUIET_TRAINER, TINY_MODEL, compose
from tests.fixtures.summarize import BBC_CLASSES, offline_config, write_bbc


def test_each_side_is_cut_to_its_length_keeping_eos(tmp_path):
    settings = offline_config("summarize_cnn_dailymail32k", tmp_path / "fixtures")
    full = t2t_torch.problem("summarize_cnn_dailymail32k", **settings, max_input_length=None, max_target_length=None)
    cut = t2t_torch.problem("summarize_cnn_dailymail32k", **settings, max_input_length=6, max_target_length=4)
    full.generate_data(tmp_path / "data")
    cut.generate_data(tmp_path / "data")
    assert cut.vocab_files(tmp_path / "data") == full.vocab_files(tmp_path / "data")  # lengths keep the vocabulary
    long, short = full.dataset("train", tmp_path / "data"), cut.dataset("train", tmp_path / "data")
    assert len(long) == len(short)
    for index in range(len(long)):
        for feature, limit in (("inputs", 6), ("targets", 4)):
            whole, kept = np.asarray(long[index][feature]), np.asarray(short[index][feature])
            assert len(whole) > limit and len(kept) == limit and kept[-1] == EOS_ID
            assert np.array_equal(kept[:-1], whole[: limit - 1])


def test_length_settings_are_checked():
    with pytest.raises(T2TUserError, match="max_target_length must be an integer of at least 2"):
        t2t_torch.problem("summarize_cnn_dailymail32k", max_target_length=1)


def test_cnn_dailymail_joins_highlights_as_t2t(tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")
    table = datasets.Dataset.from_dict({
        "article": ["First line of the story\nSecond line.", "Other story."],
        "highlights": ["Obama sends a letter\nSyria responds !", "Short one"],
        "id": ["a", "b"],
    })

    monkeypatch.setattr(datasets, "load_dataset", lambda *args, **kwargs: table)  # the Hub's 3.0.0 columns
    problem = t2t_torch.problem("summarize_cnn_dailymail32k")
    samples = list(problem.generate_samples("train", tmp_path))
    assert samples == [
        {"inputs": "First line of the story. Second line.", "targets": "Obama sends a letter. Syria responds !"},
        {"inputs": "Other story.", "targets": "Short one."},
    ]
    assert join_lines("“quoted”\n\n  (aside)  \n") == "“quoted” (aside)"


def test_bbc_article_headline_and_body(tmp_path):
    path = tmp_path / "001.txt"
    path.write_text("Ad sales boost Time Warner profit\n\nQuarterly profits rose.\n\nThe firm  gained.\n", "utf-8")
    assert read_bbc_article(path) == {"inputs": "Quarterly profits rose. The firm gained.",
                                      "targets": "Ad sales boost Time Warner profit"}
    path.write_bytes(b"Caf\xe9 headline\n\nBody \x96 text\n")  # one real article is Windows-1252
    assert read_bbc_article(path) == {"inputs": "Body \u2013 text", "targets": "Caf\u00e9 headline"}


def test_bbc_splits_by_index_within_each_class(tmp_path):
    root = write_bbc(tmp_path / "bbcnews", per_class=20)
    problem = t2t_torch.problem("summarize_bbc_headline", data_files={"root": str(root)})
    headlines = {split: [s["targets"] for s in problem.raw_samples(split, tmp_path)] for split in problem.splits}
    numbers = {split: sorted(int(h.split()[1]) for h in texts) for split, texts in headlines.items()}
    assert numbers["dev"] == sorted([9, 19] * len(BBC_CLASSES))  # file 009.txt is index 8
    assert numbers["test"] == sorted([10, 20] * len(BBC_CLASSES))
    assert len(headlines["train"]) == 16 * len(BBC_CLASSES)
    assert not set(headlines["train"]) & (set(headlines["dev"]) | set(headlines["test"]))


@pytest.mark.parametrize(("text", "message"), [
    ("\n\nA body without a headline.\n", "line 1 holds no headline"),
    ("Only a headline\n\n\n", "has no body after its headline"),
    ("", "line 1 holds no headline"),
])
def test_bad_bbc_articles_name_the_file(tmp_path, text, message):
    root = write_bbc(tmp_path / "bbcnews")
    bad = root / "tech" / "004.txt"
    bad.write_text(text, encoding="utf-8")
    problem = t2t_torch.problem("summarize_bbc_headline", data_files={"root": str(root)}, approx_vocab_size=300)
    with pytest.raises(T2TUserError, match=message) as caught:
        problem.generate_data(tmp_path / "data")
    assert str(bad) in str(caught.value) and "\n" not in str(caught.value)


def test_missing_bbc_folder_says_how_to_get_it(tmp_path):
    problem = t2t_torch.problem("summarize_bbc_headline", data_files={"root": str(tmp_path / "nowhere")})
    with pytest.raises(T2TUserError, match="fetch_local_data.sh bbc"):
        problem.generate_data(tmp_path / "data")
    with pytest.raises(T2TUserError, match="takes the corpus folder only"):
        t2t_torch.problem("summarize_bbc_headline", data_files={"train": "a.tsv", "dev": "b.tsv"})


def test_bbc_headline_trains_end_to_end(tmp_path):
    root = offline_config("summarize_bbc_headline", tmp_path / "fixtures")["data_files"]["root"]
    overrides = ["problem=summarize_bbc_headline", f"problem.data_files={{root:'{root}'}}", "model=transformer",
                 *TINY_MODEL, *QUIET_TRAINER, "problem.vocab_type=byte", "problem.max_input_length=64",
                 "hparams.batching.batch_size=512", "trainer.max_steps=4"]
    metrics = train(compose(overrides, tmp_path))
    assert math.isfinite(metrics["eval/loss"]) and 0.0 <= metrics["eval/accuracy"] <= 1.0
