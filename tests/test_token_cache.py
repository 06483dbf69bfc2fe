"""The on-disk token cache: round trip, a half-written cache is never taken as complete, corruption is reported."""

import numpy as np
import pytest

from t2t_torch.problems.token_cache import TokenCache
from t2t_torch.errors import T2TUserError

SAMPLES = [{"inputs": [3, 4, 1], "targets": [5, 1]}, {"inputs": [1], "targets": [6, 7, 8, 1]}]


def test_round_trip(tmp_path):
    cache = TokenCache(tmp_path / "train", ("inputs", "targets"))
    assert cache.write(iter(SAMPLES), "fp") == 2 and cache.is_complete("fp") and not cache.is_complete("other")
    dataset = cache.open()
    assert [dataset[i]["targets"].tolist() for i in range(2)] == [[5, 1], [6, 7, 8, 1]]
    assert dataset.lengths().tolist() == [3, 4]
    swapped = cache.open(rename={"inputs": "targets", "targets": "inputs"})
    assert swapped[0]["inputs"].tolist() == [5, 1]


def test_interrupted_write_is_not_complete(tmp_path):
    cache = TokenCache(tmp_path / "train", ("inputs", "targets"))
    cache.write(iter(SAMPLES), "old")

    def failing():
        yield SAMPLES[0]
        raise RuntimeError("network dropped")

    with pytest.raises(RuntimeError):
        cache.write(failing(), "new")
    assert not cache.is_complete("new") and not cache.is_complete("old")
    assert cache.write(iter(SAMPLES), "new") == 2 and cache.is_complete("new")


def test_truncated_tokens_file_is_reported(tmp_path):
    cache = TokenCache(tmp_path / "train", ("inputs", "targets"))
    cache.write(iter(SAMPLES), "fp")
    tokens = tmp_path / "train" / "targets.tokens.bin"
    tokens.write_bytes(tokens.read_bytes()[:8])
    with pytest.raises(T2TUserError, match="truncated"):
        cache.open()


def test_corrupt_manifest_is_reported(tmp_path):
    cache = TokenCache(tmp_path / "train", ("inputs",))
    cache.write(iter([{"inputs": [2, 1]}]), "fp")
    (tmp_path / "train" / "manifest.json").write_text("{not json")
    with pytest.raises(T2TUserError, match="delete"):
        cache.is_complete("fp")


def test_large_write_streams(tmp_path):
    cache = TokenCache(tmp_path / "big", ("targets",))
    rows = ({"targets": list(range(2, 50))} for _ in range(30_000))
    assert cache.write(rows, "fp") == 30_000
    assert np.all(cache.open().lengths() == 48)
