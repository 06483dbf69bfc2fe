"""Tests of `Text2TextProblem` and `text2text_files`: local files (parallel, TSV, gzip), vocabulary built once and
reused, resumable preparation, `_rev`, feature encoders, and one-line errors for bad files. Offline, tiny data."""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import t2t_torch
from t2t_torch.errors import T2TUserError
from t2t_torch.problems.text.text2text import Text2TextProblem
from t2t_torch.text import SubwordEncoder
from tests.fixtures.text import SMALL_VOCAB, pairs, write_parallel, write_tsv


@pytest.fixture
def corpus(tmp_path: Path) -> dict[str, object]:
    """data_files for text2text_files: parallel train files, a TSV dev file, a gzipped TSV test file."""
    raw = tmp_path / "raw"
    raw.mkdir()
    test = raw / "test.tsv.gz"
    with gzip.open(test, "wt", encoding="utf-8") as handle:
        handle.writelines(f"{en}\t{de}\n" for en, de in pairs(5, offset=200))
    return {"train": write_parallel(raw, "train", pairs(40)), "dev": write_tsv(raw / "dev.tsv", pairs(8, 100)),
            "test": str(test)}


def make(name: str = "text2text_files", **config: object) -> Text2TextProblem:
    config.setdefault("approx_vocab_size", SMALL_VOCAB)
    return t2t_torch.problem(name, **config)


def test_local_files_are_encoded_and_decode_back(corpus: dict, tmp_path: Path) -> None:
    problem = make(data_files=corpus)
    problem.generate_data(tmp_path / "data")
    assert problem.splits == ("train", "dev", "test")
    encoders = problem.feature_encoders(tmp_path / "data")
    for split, expected in (("train", pairs(40)), ("dev", pairs(8, 100)), ("test", pairs(5, 200))):
        dataset = problem.dataset(split, tmp_path / "data")
        assert len(dataset) == len(expected)
        example = dataset[3]
        assert example["inputs"][-1] == 1 and example["targets"][-1] == 1  # EOS appended
        assert encoders["inputs"].decode(example["inputs"]) == expected[3][0]
        assert encoders["targets"].decode(example["targets"]) == expected[3][1]
    spec = problem.spec(tmp_path / "data")
    assert spec.inputs.vocab_size == spec.targets.vocab_size == encoders["targets"].vocab_size


def test_vocabulary_is_built_once_and_reused(corpus: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    builds = []
    original = SubwordEncoder.build.__func__

    def counting_build(cls: type, *args: object, **kwargs: object) -> SubwordEncoder:
        builds.append(1)
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(SubwordEncoder, "build", classmethod(counting_build))
    make(data_files=corpus).generate_data(tmp_path)
    (vocab,) = (tmp_path / "text2text_files").glob("vocab.*.json")
    before = vocab.stat().st_mtime_ns
    again = make(data_files=corpus)
    again.generate_data(tmp_path)
    assert builds == [1]
    assert vocab.stat().st_mtime_ns == before
    assert again.spec(tmp_path).targets.vocab_size > 258
    make(data_files=corpus, approx_vocab_size=SMALL_VOCAB + 10).generate_data(tmp_path)  # other settings: new vocab
    assert builds == [1, 1] and len(list((tmp_path / "text2text_files").glob("vocab.*.json"))) == 2


def test_vocabulary_replaced_under_its_name_reencodes_the_caches(corpus: dict, tmp_path: Path) -> None:
    make(data_files=corpus).generate_data(tmp_path)
    (vocab,) = (tmp_path / "text2text_files").glob("vocab.*.json")
    other = SubwordEncoder.build((f"{w} zebra quokka" for w in ("xylophone", "yak") * 50), SMALL_VOCAB)
    other.save(vocab)  # same file name, another vocabulary (e.g. rebuilt by hand, or copied from elsewhere)
    problem = make(data_files=corpus)
    problem.generate_data(tmp_path)
    example = problem.dataset("train", tmp_path)[3]
    assert problem.feature_encoders(tmp_path)["targets"] == other
    assert other.decode(example["targets"]) == pairs(40)[3][1]  # encoded with the vocabulary it is decoded with


class FlakyProblem(Text2TextProblem):
    """Raises in the middle of its dev split on the first run, like a killed or failed preparation."""

    registered_name = "flaky_text"
    approx_vocab_size = SMALL_VOCAB
    fail = True

    def generate_samples(self, split: str, data_dir: Path) -> Iterator[dict[str, str]]:
        for i, (en, de) in enumerate(pairs(30 if split == "train" else 10)):
            if split == "dev" and i == 5 and self.fail:
                raise RuntimeError("interrupted")
            yield {"inputs": en, "targets": de}


def test_interrupted_preparation_is_redone_on_rerun(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(RuntimeError, match="interrupted"):
        FlakyProblem().generate_data(tmp_path)
    with pytest.raises(T2TUserError, match="no prepared data"):
        FlakyProblem().dataset("dev", tmp_path)  # half-written split is not taken for a finished one
    monkeypatch.setattr(FlakyProblem, "fail", False)
    problem = FlakyProblem()
    problem.generate_data(tmp_path)
    assert len(problem.dataset("train", tmp_path)) == 30
    assert len(problem.dataset("dev", tmp_path)) == 10
    assert not list((tmp_path / "flaky_text").glob("dev.*/*.tmp*"))


class SeparateVocabProblem(FlakyProblem):
    registered_name = "separate_text"
    shared_vocab = False
    fail = False


def test_rev_swaps_features_encoders_and_sizes(tmp_path: Path) -> None:
    forward, backward = SeparateVocabProblem(), SeparateVocabProblem(was_reversed=True)
    forward.generate_data(tmp_path)
    assert len(list((tmp_path / "separate_text").glob("vocab.*.json"))) == 2
    encoders, swapped = forward.feature_encoders(tmp_path), backward.feature_encoders(tmp_path)
    assert swapped["inputs"] == encoders["targets"] and swapped["targets"] == encoders["inputs"]
    example, reversed_example = forward.dataset("dev", tmp_path)[2], backward.dataset("dev", tmp_path)[2]
    assert list(reversed_example["inputs"]) == list(example["targets"])
    assert swapped["inputs"].decode(reversed_example["inputs"]) == pairs(10)[2][1]
    assert backward.spec(tmp_path).inputs.vocab_size == forward.spec(tmp_path).targets.vocab_size
    assert backward.name == "separate_text_rev" and backward.cache_dir(tmp_path) == forward.cache_dir(tmp_path)


def test_spec_before_preparation_says_what_to_do() -> None:
    with pytest.raises(T2TUserError, match="generate_data"):
        FlakyProblem().spec()


def test_byte_and_token_vocabularies(corpus: dict, tmp_path: Path) -> None:
    byte = make(data_files=corpus, vocab_type="character")  # T2T's name for bytes
    byte.generate_data(tmp_path / "byte")
    assert byte.spec(tmp_path / "byte").targets.vocab_size == 258
    vocab = tmp_path / "tokens.txt"
    vocab.write_text("\n".join(sorted({w for en, de in pairs(40) for w in f"{en} {de}".split()})), encoding="utf-8")
    token = make(data_files=corpus, vocab_type="token", token_vocab_file=str(vocab))
    token.generate_data(tmp_path / "token")
    first = token.dataset("train", tmp_path / "token")[0]["targets"]
    assert token.feature_encoders(tmp_path / "token")["targets"].decode(first) == pairs(1)[0][1]
    with pytest.raises(T2TUserError, match="token_vocab_file"):
        make(data_files=corpus, vocab_type="token").generate_data(tmp_path / "no_vocab")


def test_empty_pairs_are_skipped_and_max_examples_caps(tmp_path: Path) -> None:
    rows = [*pairs(6), ("", "nur Ziel"), ("only source", "   ")]
    train, dev = write_tsv(tmp_path / "t.tsv", [*rows, *pairs(10, 50)]), write_tsv(tmp_path / "d.tsv", rows)
    files = {"train": train, "dev": dev}
    problem = make(data_files=files, max_examples=12)
    problem.generate_data(tmp_path / "data")
    assert len(problem.dataset("dev", tmp_path / "data")) == 6
    assert len(problem.dataset("train", tmp_path / "data")) == 12


def one_line_error(problem: Text2TextProblem, data_dir: Path) -> str:
    with pytest.raises(T2TUserError) as caught:
        problem.generate_data(data_dir)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_missing_file_error_is_one_line_naming_the_fix(corpus: dict, tmp_path: Path) -> None:
    message = one_line_error(make(data_files={**corpus, "dev": str(tmp_path / "nope.tsv")}), tmp_path)
    assert "nope.tsv" in message and "does not exist" in message and "problem.data_files" in message


def test_parallel_files_of_different_length_are_refused(tmp_path: Path) -> None:
    train = write_parallel(tmp_path, "train", pairs(10))
    Path(train[1]).write_text("".join(f"{de}\n" for _, de in pairs(9)), encoding="utf-8")
    message = one_line_error(make(data_files={"train": train, "dev": train}), tmp_path)
    assert "differ in length" in message and "9 lines" in message


def test_bad_tsv_and_bad_encoding_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tsv"
    bad.write_text("a\tb\nno tab here\n", encoding="utf-8")
    assert "line 2" in one_line_error(make(data_files={"train": str(bad), "dev": str(bad)}), tmp_path)
    latin = tmp_path / "latin.tsv"
    latin.write_bytes("Größe\tsize\n".encode("latin-1"))
    assert "not UTF-8" in one_line_error(make(data_files={"train": str(latin), "dev": str(latin)}), tmp_path)


def test_data_files_settings_are_checked_up_front(corpus: dict, tmp_path: Path) -> None:
    with pytest.raises(T2TUserError, match="unknown split"):
        make(data_files={**corpus, "valid": corpus["dev"]})
    with pytest.raises(T2TUserError, match="train and a dev"):
        make(data_files={"train": corpus["train"]})
    with pytest.raises(T2TUserError, match=r"pair of paths"):
        make(data_files={"train": ["a", "b", "c"], "dev": corpus["dev"]})
    with pytest.raises(T2TUserError, match="vocab_type"):
        make(vocab_type="wordpiece")
    assert "reads your own files" in one_line_error(make(), tmp_path)  # no data_files at all


def test_several_corpora_per_split(tmp_path: Path) -> None:
    files = {"train": [write_parallel(tmp_path, "a", pairs(4)), write_tsv(tmp_path / "b.tsv", pairs(3, 10))],
             "dev": write_tsv(tmp_path / "d.tsv", pairs(2))}
    problem = make(data_files=files)
    problem.generate_data(tmp_path / "data")
    assert len(problem.dataset("train", tmp_path / "data")) == 7


def test_unreadable_file_error(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    locked = Path(write_tsv(tmp_path / "locked.tsv", pairs(3)))
    locked.chmod(0)
    assert "cannot read" in one_line_error(make(data_files={"train": str(locked), "dev": str(locked)}), tmp_path)
