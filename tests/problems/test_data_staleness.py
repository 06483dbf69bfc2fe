"""Prepared data follows its inputs (issue 10): caches and vocabularies keyed by file content, the content hash
remembered until a file changes, two processes preparing other settings in one data_dir, empty splits and unusable
files refused up front with one line naming the file. Offline, tiny data."""

from __future__ import annotations

import multiprocessing
import queue as queue_module
from pathlib import Path

import pytest

import t2t_torch
from t2t_torch.errors import T2TUserError
from t2t_torch.problems.sources import file_identity
from t2t_torch.problems.text.text2text import Text2TextProblem
from t2t_torch.text import SubwordEncoder
from tests.fixtures.text import SMALL_VOCAB, pairs, write_parallel, write_tsv


def make(**config: object) -> Text2TextProblem:
    config.setdefault("approx_vocab_size", SMALL_VOCAB)
    return t2t_torch.problem("text2text_files", **config)


def decoded_targets(problem: Text2TextProblem, split: str, data_dir: Path) -> list[str]:
    encoder = problem.feature_encoders(data_dir)["targets"]
    dataset = problem.dataset(split, data_dir)
    return [encoder.decode(dataset[i]["targets"]) for i in range(len(dataset))]


def rewrite_same_size(path: str, old: str, new: str) -> None:
    """Rewrite a file in place with other content of the same size (size alone cannot tell the change)."""
    assert len(old) == len(new)
    text = Path(path).read_text(encoding="utf-8")
    Path(path).write_text(text.replace(old, new), encoding="utf-8")


@pytest.fixture
def counted_builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    builds: list[int] = []
    original = SubwordEncoder.build.__func__

    def counting(cls: type, *args: object, **kwargs: object) -> SubwordEncoder:
        builds.append(1)
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(SubwordEncoder, "build", classmethod(counting))
    return builds


def test_corpus_rewritten_in_place_is_prepared_again(tmp_path: Path, counted_builds: list[int]) -> None:
    files = {"train": write_parallel(tmp_path, "train", pairs(20)), "dev": write_tsv(tmp_path / "dev.tsv", pairs(4))}
    make(data_files=files).generate_data(tmp_path / "data")
    rewrite_same_size(files["train"][1], "Nummer", "Zahlen")
    problem = make(data_files=files)
    problem.generate_data(tmp_path / "data")
    assert decoded_targets(problem, "train", tmp_path / "data")[5] == pairs(20)[5][1].replace("Nummer", "Zahlen")
    assert counted_builds == [1, 1]  # the vocabulary follows the training text
    assert len(list((tmp_path / "data" / "text2text_files").glob("vocab.*.json"))) == 2


def test_rewritten_dev_file_keeps_the_vocabulary_and_the_train_cache(tmp_path: Path, counted_builds: list) -> None:
    files = {"train": write_tsv(tmp_path / "train.tsv", pairs(20)), "dev": write_tsv(tmp_path / "dev.tsv", pairs(4))}
    first = make(data_files=files)
    first.generate_data(tmp_path / "data")
    train_cache = first.split_cache("train", tmp_path / "data").path
    write_tsv(tmp_path / "dev.tsv", pairs(3, offset=50))
    again = make(data_files=files)
    again.generate_data(tmp_path / "data")
    assert decoded_targets(again, "dev", tmp_path / "data") == [de for _, de in pairs(3, offset=50)]
    assert counted_builds == [1] and again.split_cache("train", tmp_path / "data").path == train_cache


def test_token_vocabulary_file_rewritten_in_place_is_used(tmp_path: Path) -> None:
    files = {"train": write_tsv(tmp_path / "train.tsv", pairs(8)), "dev": write_tsv(tmp_path / "dev.tsv", pairs(2))}
    tokens = tmp_path / "tokens.txt"
    words = sorted({w for en, de in pairs(8) for w in f"{en} {de}".split()})
    tokens.write_text("\n".join(words), encoding="utf-8")
    make(data_files=files, vocab_type="token", token_vocab_file=str(tokens)).generate_data(tmp_path / "data")
    tokens.write_text("\n".join(reversed(words)), encoding="utf-8")  # same tokens, the ids the user wants now
    problem = make(data_files=files, vocab_type="token", token_vocab_file=str(tokens))
    problem.generate_data(tmp_path / "data")
    first_id = problem.dataset("train", tmp_path / "data")[0]["targets"][0]  # "die": an id from the new file
    assert first_id == 3 + list(reversed(words)).index("die")  # ids from 3: pad, EOS and unknown come first
    assert decoded_targets(problem, "train", tmp_path / "data") == [de for _, de in pairs(8)]


def test_content_hash_is_remembered_until_the_file_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hashed: list[Path] = []
    original = file_identity.file_sha256

    def counting(path: Path) -> str:
        hashed.append(Path(path))
        return original(path)

    monkeypatch.setattr(file_identity, "file_sha256", counting)
    corpus, memo = tmp_path / "corpus.txt", tmp_path / "cache" / file_identity.HASH_MEMO
    corpus.write_text("one\n", encoding="utf-8")
    first = file_identity.content_sha256(corpus, memo)
    assert file_identity.content_sha256(corpus, memo) == first and len(hashed) == 2  # just written: not trusted
    monkeypatch.setattr(file_identity, "RACY_WINDOW_NS", -(1 << 62))  # as if written long before hashing
    file_identity.content_sha256(corpus, memo)
    assert file_identity.content_sha256(corpus, memo) == first and len(hashed) == 3  # remembered
    corpus.write_text("two\n", encoding="utf-8")  # same size, new content
    assert file_identity.content_sha256(corpus, memo) != first and len(hashed) == 4
    memo.write_text("{not json", encoding="utf-8")  # a damaged memo only costs a rehash
    assert file_identity.content_sha256(corpus, memo) == original(corpus)


def prepare_and_read(data_dir: str, files: dict, barrier: object, results: object) -> None:
    """Child process: prepare `files` into the shared data_dir together with the other child, then read back."""
    try:
        barrier.wait(timeout=300)  # both start preparing at once
        problem = make(data_files=files)
        problem.generate_data(data_dir)
        barrier.wait(timeout=300)  # both finished before either reads: a later writer cannot go unnoticed
        results.put(decoded_targets(problem, "train", Path(data_dir)))
    except BaseException as error:  # noqa: BLE001  (reported to the parent, which fails the test)
        results.put(f"{type(error).__name__}: {error}")


def test_two_processes_prepare_other_corpora_in_one_data_dir(tmp_path: Path) -> None:
    corpora = []
    for name, offset in (("a", 0), ("b", 500)):
        folder = tmp_path / name
        folder.mkdir()
        corpora.append({"train": write_tsv(folder / "train.tsv", pairs(12, offset)),
                        "dev": write_tsv(folder / "dev.tsv", pairs(2, offset))})
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    workers = [context.Process(target=prepare_and_read, args=(str(tmp_path / "data"), files, barrier, results))
               for files in corpora]
    for worker in workers:
        worker.start()
    try:
        outputs = [results.get(timeout=600) for _ in workers]
    except queue_module.Empty:
        pytest.fail("a preparing process neither finished nor reported an error")
    finally:
        for worker in workers:
            worker.join(timeout=60)
    expected = [[de for _, de in pairs(12, offset)] for offset in (0, 500)]
    assert sorted(outputs, key=str) == sorted(expected, key=str)


def one_line_error(problem: t2t_torch.Problem, data_dir: Path) -> str:
    with pytest.raises(T2TUserError) as caught:
        problem.generate_data(data_dir)
    assert "\n" not in str(caught.value)
    return str(caught.value)


def test_empty_split_is_refused_naming_the_file(tmp_path: Path) -> None:
    empty = tmp_path / "dev.tsv"
    empty.write_text("\n  \t \n", encoding="utf-8")  # only blank or empty pairs
    files = {"train": write_tsv(tmp_path / "train.tsv", pairs(10)), "dev": str(empty)}
    message = one_line_error(make(data_files=files), tmp_path / "data")
    assert str(empty) in message and "dev split" in message
    assert not list((tmp_path / "data").rglob("vocab.*"))  # refused before the vocabulary is built


def test_empty_generated_split_is_refused_naming_problem_and_split(tmp_path: Path) -> None:
    problem = t2t_torch.problem("algorithmic_sort_problem", train_size=5, dev_size=0)
    message = one_line_error(problem, tmp_path)
    assert "dev split" in message and "algorithmic_sort_problem" in message and "no examples" in message


def test_missing_dev_file_is_reported_before_any_preparation(tmp_path: Path) -> None:
    files = {"train": write_tsv(tmp_path / "train.tsv", pairs(10)), "dev": str(tmp_path / "missing.tsv")}
    message = one_line_error(make(data_files=files), tmp_path / "data")
    assert "missing.tsv" in message and "does not exist" in message
    assert not [p for p in (tmp_path / "data").rglob("*") if p.name.startswith(("vocab.", "train."))]


def test_unreadable_path_under_a_regular_file_is_reported(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")  # a path under a regular file fails for root too
    files = {"train": write_tsv(tmp_path / "train.tsv", pairs(4)), "dev": str(blocker / "dev.tsv")}
    assert "dev.tsv" in one_line_error(make(data_files=files), tmp_path / "data")


def test_invalid_utf8_names_the_line_of_the_bad_byte(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tsv"
    bad.write_bytes(b"".join(f"{en}\t{de}\n".encode() for en, de in pairs(3)) + "Größe\tsize\n".encode("latin-1"))
    message = one_line_error(make(data_files={"train": str(bad), "dev": str(bad)}), tmp_path / "data")
    assert "not UTF-8" in message and "line 4" in message


def test_prepared_data_is_not_served_without_the_files_that_identify_it(tmp_path: Path) -> None:
    files = {"train": write_tsv(tmp_path / "train.tsv", pairs(6)), "dev": write_tsv(tmp_path / "dev.tsv", pairs(2))}
    make(data_files=files).generate_data(tmp_path / "data")
    Path(files["train"]).unlink()
    with pytest.raises(T2TUserError, match="train.tsv' does not exist"):
        make(data_files=files).dataset("dev", tmp_path / "data")
