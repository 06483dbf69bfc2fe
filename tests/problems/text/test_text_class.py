"""The text-classification problems (t2t_torch/problems/text/text_class.py, text_class_sources.py): labels to ids, the
one-line errors for bad local files (naming file and line), sentence pairs joined by the separator id, the Hub
sources (a stand-in `load_dataset`, and the real one on local Parquet), BBC News' deterministic split, and a few
training steps of transformer_encoder on text2class_files reaching an eval/accuracy."""

import math
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pytest

import t2t_torch
from t2t_torch.datamodules.batching import BatchingConfig
from t2t_torch.datamodules.datamodule import ProblemDataModule
from t2t_torch.errors import T2TUserError
from t2t_torch.problems.text import text_class_datasets as sources
from t2t_torch.problems.text.text_class import PairEncoder
from t2t_torch.run.train import train
from t2t_torch.spec import EOS_ID
from t2t_torch.text import ByteEncoder, load_encoder
from tests.fixtures.helpers import QUIET_TRAINER, compose
from tests.fixtures.text_class import SMALL_VOCAB, hf_rows, offline_config, write_bbc, write_parquet, write_tsv

HF_PROBLEMS = ["sentiment_imdb", "sentiment_imdb_characters", "sentiment_sst_binary", "sentiment_yelp_polarity",
               "rte", "mrpc", "multinli_matched"]


def files_problem(tmp_path: Path, train_rows: list[tuple[str, str]], dev_rows: list[tuple[str, str]],
                  **config: Any) -> Any:
    files = {"train": write_tsv(tmp_path / "train.tsv", train_rows), "dev": write_tsv(tmp_path / "dev.tsv", dev_rows)}
    return t2t_torch.problem("text2class_files", data_files=files, vocab_type="byte", **config)


def prepare_error(problem: Any, data_dir: Path) -> str:
    with pytest.raises(T2TUserError) as caught:
        problem.generate_data(data_dir)
    message = str(caught.value)
    assert "\n" not in message, message
    return message


TRAIN = [("a fine day", "good"), ("a sad day", "bad"), ("fine fine", "good")]


@pytest.mark.parametrize("name", [*HF_PROBLEMS, "text2class_files", "bbc_news_class"])
def test_every_problem_prepares_from_its_fixture_and_batches(name, tmp_path):
    problem = t2t_torch.problem(name, **offline_config(name, tmp_path / "files"))
    problem.generate_data(tmp_path / "data")
    spec = problem.spec(tmp_path / "data")
    assert spec.targets.vocab_size == len(spec.extra["labels"]) == len(problem.label_names(tmp_path / "data"))
    assert problem.feature_encoders(tmp_path / "data")["inputs"].vocab_size == spec.inputs.vocab_size
    module = ProblemDataModule(problem, tmp_path / "data", BatchingConfig(batch_size=256), seed=0)
    module.setup()
    batch = next(iter(module.train_dataloader()))
    assert batch["inputs"].dim() == 2 and batch["targets"].shape == (batch["inputs"].size(0),)
    assert int(batch["inputs"].max()) < spec.inputs.vocab_size and int(batch["targets"].max()) < spec.targets.vocab_size
    assert (batch["inputs"] == EOS_ID).sum() == batch["inputs"].size(0)  # one EOS per text


def test_labels_are_the_sorted_training_labels_or_the_given_order(tmp_path):
    problem = files_problem(tmp_path, TRAIN, [("fine", "good"), ("sad", "bad")])
    problem.generate_data(tmp_path / "data")
    spec = problem.spec(tmp_path / "data")
    assert spec.extra["labels"] == ["bad", "good"] and spec.targets.modality == "class_label"
    assert spec.targets.vocab_size == 2 and spec.inputs.append_eos and spec.length_feature == "inputs"
    dev = problem.dataset("dev", tmp_path / "data")
    assert [int(dev[i]["targets"]) for i in range(2)] == [1, 0]
    assert list(dev[0]["inputs"]) == [*ByteEncoder().encode("fine"), EOS_ID]
    ordered = files_problem(tmp_path, TRAIN, [("fine", "good"), ("sad", "1")], labels=["good", "bad"])
    ordered.generate_data(tmp_path / "data2")
    assert ordered.spec(tmp_path / "data2").extra["labels"] == ["good", "bad"]
    dev = ordered.dataset("dev", tmp_path / "data2")
    assert [int(dev[i]["targets"]) for i in range(2)] == [0, 1]  # with a given label set, an id works too


def test_changed_training_labels_rebuild_the_dev_cache(tmp_path):
    dev = [("sad", "bad")]
    first = files_problem(tmp_path, [("x", "bad"), ("y", "good")], dev)
    first.generate_data(tmp_path / "data")
    assert int(first.dataset("dev", tmp_path / "data")[0]["targets"]) == 0
    second = files_problem(tmp_path, [("x", "bad"), ("y", "good"), ("z", "awful")], dev)  # 'bad' is now id 1
    second.generate_data(tmp_path / "data")
    assert second.spec(tmp_path / "data").extra["labels"] == ["awful", "bad", "good"]
    assert int(second.dataset("dev", tmp_path / "data")[0]["targets"]) == 1


def test_bad_local_files_are_one_line_errors_naming_file_and_line(tmp_path):
    data = tmp_path / "data"
    message = prepare_error(files_problem(tmp_path, [], [("x", "good")]), data)
    assert f"{tmp_path / 'train.tsv'}" in message and "holds no example" in message
    message = prepare_error(files_problem(tmp_path, TRAIN, []), data)
    assert f"{tmp_path / 'dev.tsv'}" in message and "holds no example" in message
    (tmp_path / "tabless").mkdir()
    problem = files_problem(tmp_path / "tabless", TRAIN, [("x", "good")])
    (tmp_path / "tabless" / "train.tsv").write_text("a fine day\tgood\nno tab here\n", encoding="utf-8")
    message = prepare_error(problem, data)
    tabless = tmp_path / "tabless" / "train.tsv"
    assert message == f"line 2 of '{tabless}' has 0 TABs, not 1: write text<TAB>label per line"
    message = prepare_error(files_problem(tmp_path, TRAIN, [("fine", "good"), ("meh", "neutral")]), data)
    assert message.startswith(f"line 2 of '{tmp_path / 'dev.tsv'}': label 'neutral' is not one of the labels")
    assert "(bad, good)" in message and "training data" in message
    message = prepare_error(files_problem(tmp_path, [*TRAIN, ("x", "")], [("x", "good")]), data)
    assert message.startswith(f"line 4 of '{tmp_path / 'train.tsv'}' has an empty label")
    message = prepare_error(files_problem(tmp_path, TRAIN, [("x", "good")], labels=["good", "bad", "meh"]), data)
    assert "class 'meh' of text2class_files has no training examples" in message
    assert f"{tmp_path / 'train.tsv'}" in message
    message = prepare_error(files_problem(tmp_path, TRAIN, [("x", "good")], labels=["good", "awful"]), data)
    assert message.startswith(f"line 2 of '{tmp_path / 'train.tsv'}': label 'bad' is not one of the labels")
    assert "problem.labels" in message


def test_bad_settings_are_one_line_errors():
    with pytest.raises(T2TUserError, match="text2class_files needs a train and a dev split"):
        t2t_torch.problem("text2class_files", data_files={"train": "train.tsv"})
    with pytest.raises(T2TUserError, match="problem.labels of text2class_files repeats good"):
        t2t_torch.problem("text2class_files", data_files={"train": "a", "dev": "b"}, labels=["good", "good"])
    with pytest.raises(T2TUserError, match="max_input_tokens must be a positive integer"):
        t2t_torch.problem("sentiment_imdb", max_input_tokens=0)
    with pytest.raises(T2TUserError, match="data_files of rte must map each of its splits"):
        t2t_torch.problem("rte", data_files={"train": "a.tsv"})
    for name in ("rte_rev", "sentiment_imdb_rev", "bbc_news_class_rev"):
        with pytest.raises(T2TUserError, match=f"problem {name[:-4]} has no _rev variant"):
            t2t_torch.problem(name)
    assert not sources.SentimentImdb.reversible


def test_pairs_are_joined_by_the_separator_id(tmp_path):
    rows = [("the cat sleeps\tthe cat is asleep", "entailment"), ("a dog runs\tnobody runs", "not_entailment")]
    files = {split: str(tmp_path / f"{split}.tsv") for split in ("train", "dev")}
    for path in files.values():
        Path(path).write_text("".join(f"{pair}\t{label}\n" for pair, label in rows), encoding="utf-8")
    problem = t2t_torch.problem("rte", data_files=files, vocab_type="byte")
    problem.generate_data(tmp_path / "data")
    encoder = problem.feature_encoders(tmp_path / "data")["inputs"]
    assert isinstance(encoder, PairEncoder) and encoder.separator_id == ByteEncoder().vocab_size
    assert problem.spec(tmp_path / "data").inputs.vocab_size == encoder.vocab_size == ByteEncoder().vocab_size + 1
    example = problem.dataset("dev", tmp_path / "data")[1]
    byte = ByteEncoder()
    assert list(example["inputs"]) == [*byte.encode("a dog runs"), encoder.separator_id, *byte.encode("nobody runs"),
                                       EOS_ID]
    assert int(example["targets"]) == 1
    assert encoder.decode(example["inputs"]) == "a dog runs\tnobody runs"  # as text, a pair is first<TAB>second
    assert encoder.encode("a dog runs\tnobody runs") == list(example["inputs"][:-1])
    with pytest.raises(ValueError, match="two texts joined by one TAB"):
        encoder.encode("no tab")
    encoder.save(tmp_path / "pair.json")
    assert load_encoder(tmp_path / "pair.json") == encoder
    Path(files["dev"]).write_text("only one\ttab\n", encoding="utf-8")
    message = prepare_error(problem, tmp_path / "data")
    assert message.startswith(f"line 1 of '{files['dev']}' has 1 TABs, not 2: write first<TAB>second<TAB>label")


def test_mrpc_trains_on_both_orders(tmp_path):
    config = offline_config("mrpc", tmp_path / "files")
    problem = t2t_torch.problem("mrpc", **config)
    problem.generate_data(tmp_path / "data")
    train, dev = (problem.dataset(split, tmp_path / "data") for split in ("train", "dev"))
    assert (len(train), len(dev)) == (48, 8)
    sep = problem.feature_encoders(tmp_path / "data")["inputs"].separator_id
    first, swapped = (list(train[i]["inputs"][:-1]) for i in (0, 1))
    cut = first.index(sep)
    assert swapped == [*first[cut + 1:], sep, *first[:cut]]


@pytest.mark.parametrize("name", ["sentiment_sst_binary", "multinli_matched"])
def test_parquet_files_are_read_by_the_hub_columns(name, tmp_path):
    config = offline_config(name, tmp_path / "files")
    problem = t2t_torch.problem(name, **config)
    problem.generate_data(tmp_path / "data")
    rows = hf_rows(type(problem), "dev", 8, 100)
    dev = problem.dataset("dev", tmp_path / "data")
    assert [int(dev[i]["targets"]) for i in range(len(dev))] == rows["label"]
    text = problem.feature_encoders(tmp_path / "data")["inputs"].decode(dev[0]["inputs"])
    assert text == "\t".join(rows[c][0] for c in problem.text_columns)
    bad = write_parquet(tmp_path / "bad.parquet", {"text": ["x"], "label": [0]})
    broken = t2t_torch.problem(name, data_files={"train": bad, "dev": bad})
    with pytest.raises(T2TUserError, match=f"'{bad}' has no column {problem.text_columns[0]}"):
        broken.generate_data(tmp_path / "data")


class FakeHub:
    """Stands in for `datasets.load_dataset`: records calls, serves rows in the dataset's columns."""

    def __init__(self, problem_cls: type) -> None:
        self.problem_cls, self.calls = problem_cls, []

    def __call__(self, path: str, name: str | None = None, **kwargs: Any) -> datasets.Dataset:
        self.calls.append((path, name, kwargs["split"]))
        columns = hf_rows(self.problem_cls, kwargs["split"], 6, 0)
        columns[self.problem_cls.label_column][-1] = -1  # the Hub's unlabelled row: skipped
        return datasets.Dataset.from_dict(columns)


@pytest.mark.parametrize("name", ["sentiment_imdb", "rte", "multinli_matched"])
def test_hub_sources(name, tmp_path, monkeypatch):
    cls = type(t2t_torch.problem(name))
    hub = FakeHub(cls)
    monkeypatch.setattr(datasets, "load_dataset", hub)
    problem = t2t_torch.problem(name, approx_vocab_size=SMALL_VOCAB)
    problem.generate_data(tmp_path / "data")
    expected = {"sentiment_imdb": [("stanfordnlp/imdb", None, "train"), ("stanfordnlp/imdb", None, "test")],
                "rte": [("nyu-mll/glue", "rte", "train"), ("nyu-mll/glue", "rte", "validation")],
                "multinli_matched": [("nyu-mll/glue", "mnli", "train"), ("nyu-mll/glue", "mnli", "validation_matched")]}
    assert sorted(set(hub.calls)) == sorted(expected[name])
    assert len(problem.dataset("dev", tmp_path / "data")) == 5


def test_no_network_names_the_local_files_fix(tmp_path, monkeypatch):
    def offline(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("Couldn't reach 'stanfordnlp/imdb' on the Hub\nmore detail")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    message = prepare_error(t2t_torch.problem("sentiment_imdb"), tmp_path / "data")
    assert message.startswith("could not load stanfordnlp/imdb split train (ConnectionError: Couldn't reach")
    assert "problem.data_files={train: ..., dev: ...}" in message and "text<TAB>label" in message


def test_real_load_dataset_reads_local_parquet(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)  # nothing may leave the machine
    cls = sources.MultinliMatched
    for split in ("train", "validation_matched"):
        write_parquet(tmp_path / "hub" / f"{split}.parquet", hf_rows(cls, split, 9, 0))
    pattern = str(tmp_path / "hub" / "{split}.parquet")
    splits = {"train": "train", "dev": "validation_matched"}
    local = {ours: sources.HFClassSplit("parquet", None, theirs, pattern.format(split=theirs))
             for ours, theirs in splits.items()}
    monkeypatch.setattr(cls, "sources", local)
    problem = t2t_torch.problem("multinli_matched", approx_vocab_size=SMALL_VOCAB)
    problem.generate_data(tmp_path / "data")
    dev = problem.dataset("dev", tmp_path / "data")
    assert [int(dev[i]["targets"]) for i in range(len(dev))] == [0, 1, 2] * 3
    assert (tmp_path / "data" / "hf_datasets").is_dir()  # datasets' own cache lives under data_dir


def test_bbc_holds_out_every_tenth_article_per_class(tmp_path):
    root = write_bbc(tmp_path / "bbcnews", per_class=20)
    (root / "sports" / "005.txt").write_bytes("Cup\n\nA \u00a315.8m signing.\n".encode("cp1252"))  # not UTF-8
    problem = t2t_torch.problem("bbc_news_class", data_files={"root": str(root)}, vocab_type="byte")
    problem.generate_data(tmp_path / "data")
    encoder = problem.feature_encoders(tmp_path / "data")["inputs"]
    expected = {"train": 16 * 5, "dev": 2 * 5, "test": 2 * 5}
    assert {split: len(problem.dataset(split, tmp_path / "data")) for split in problem.splits} == expected
    dev = problem.dataset("dev", tmp_path / "data")
    headlines = [encoder.decode(dev[i]["inputs"]).split("\n")[0] for i in range(4)]
    assert headlines == ["Headline 9 of business", "Headline 19 of business",
                         "Headline 9 of entertainment", "Headline 19 of entertainment"]
    assert [int(dev[i]["targets"]) for i in range(len(dev))] == [c for c in range(5) for _ in range(2)]
    train = problem.dataset("train", tmp_path / "data")
    texts = [encoder.decode(train[i]["inputs"]) for i in range(len(train))]
    assert "Cup\n\nA \u00a315.8m signing." in texts
    assert problem.spec(tmp_path / "data").extra["labels"] == list(sources.BbcNewsClass.labels)
    for child in (root / "tech").iterdir():
        child.unlink()
    with pytest.raises(T2TUserError, match=f"'{root / 'tech'}' holds no articles .*scripts/fetch_local_data.sh bbc"):
        problem.generate_data(tmp_path / "data")
    with pytest.raises(T2TUserError, match="no BBC News folder at"):
        t2t_torch.problem("bbc_news_class", data_files={"root": str(tmp_path / "nowhere")}).generate_data(tmp_path)


def test_max_input_tokens_truncates_the_text(tmp_path):
    problem = files_problem(tmp_path, TRAIN, [("a long sentence", "good")], max_input_tokens=3)
    problem.generate_data(tmp_path / "data")
    assert list(problem.dataset("dev", tmp_path / "data")[0]["inputs"]) == [*ByteEncoder().encode("a l"), EOS_ID]


def test_transformer_encoder_trains_on_text2class_files(tmp_path):
    config = offline_config("text2class_files", tmp_path / "files")
    overrides = ["problem=text2class_files", "model=transformer_encoder", "hparams=transformer_tiny",
                 "hparams.model.hidden_size=16", "hparams.model.filter_size=32", "hparams.model.num_heads=2",
                 "hparams.optim.learning_rate_warmup_steps=4", *QUIET_TRAINER,
                 f"problem.data_files={{train:'{config['data_files']['train']}',dev:'{config['data_files']['dev']}'}}",
                 "problem.vocab_type=byte", "hparams.batching.batch_size=512", "trainer.max_steps=6",
                 "trainer.val_check_interval=3"]
    metrics = train(compose(overrides, tmp_path))
    assert math.isfinite(metrics["eval/loss"]) and 0.0 <= metrics["eval/accuracy"] <= 1.0
    from t2t_torch.inference.predictor import Predictor

    predictor = Predictor.from_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt")
    predicted = predictor.translate(["it was great and lovely", "it was dull"])
    assert set(predicted) <= {"bad", "good"} and len(predicted) == 2
    assert np.isfinite(metrics["eval/accuracy"])
