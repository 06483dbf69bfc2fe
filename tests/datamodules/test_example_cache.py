"""The on-disk example cache: round trip for every kind of feature (token sequences, images, labels, frames), a
half-written cache is never taken as complete, corruption and a changed feature layout are reported."""

import numpy as np
import pytest

from t2t_torch.datamodules.example_cache import ExampleCache
from t2t_torch.errors import T2TUserError
from t2t_torch.spec import FeatureSpec, class_label_feature, symbol_feature

TOKENS = {"inputs": symbol_feature(10), "targets": symbol_feature(10)}
SAMPLES = [{"inputs": [3, 4, 1], "targets": [5, 1]}, {"inputs": [1], "targets": [6, 7, 8, 1]}]


def test_round_trip(tmp_path):
    cache = ExampleCache(tmp_path / "train", TOKENS)
    assert cache.write(iter(SAMPLES), "fp") == 2 and cache.is_complete("fp") and not cache.is_complete("other")
    dataset = cache.open()
    assert [dataset[i]["targets"].tolist() for i in range(2)] == [[5, 1], [6, 7, 8, 1]]
    assert dataset[0]["targets"].dtype == np.int64
    assert dataset.lengths().tolist() == [3, 4] and dataset.lengths("targets").tolist() == [2, 4]
    swapped = cache.open(rename={"inputs": "targets", "targets": "inputs"})
    assert swapped[0]["inputs"].tolist() == [5, 1]


def test_images_labels_and_frames_keep_dtype_and_shape(tmp_path):
    features = {"inputs": FeatureSpec("image", 256, (4, 3, 1), "uint8", 0, False), "targets": class_label_feature(5),
                "frames": FeatureSpec("audio_spectral", 0, (None, 2), "float32", 0.0, False)}
    rng = np.random.default_rng(0)
    samples = [{"inputs": rng.integers(0, 256, (4, 3, 1), dtype=np.uint8), "targets": i % 5,
                "frames": rng.standard_normal((i + 1, 2)).astype(np.float32)} for i in range(3)]
    cache = ExampleCache(tmp_path / "train", features)
    cache.write(iter(samples), "fp")
    dataset = cache.open()
    for i, sample in enumerate(samples):
        assert dataset[i]["inputs"].dtype == np.uint8 and np.array_equal(dataset[i]["inputs"], sample["inputs"])
        assert dataset[i]["targets"].shape == () and int(dataset[i]["targets"]) == i % 5
        assert dataset[i]["frames"].dtype == np.float32 and np.array_equal(dataset[i]["frames"], sample["frames"])
    assert dataset.lengths().tolist() == [1, 2, 3]  # the frames vary; images and labels do not


def test_example_of_another_shape_is_refused(tmp_path):
    cache = ExampleCache(tmp_path / "train", {"inputs": FeatureSpec("image", 256, (2, 2, 1), "uint8", 0, False)})
    with pytest.raises(T2TUserError, match=r"shape \(3, 2, 1\).*declares \(2, 2, 1\)"):
        cache.write(iter([{"inputs": np.zeros((3, 2, 1), np.uint8)}]), "fp")


def test_cache_of_another_feature_layout_is_refused(tmp_path):
    ExampleCache(tmp_path / "train", {"inputs": symbol_feature(10)}).write(iter([{"inputs": [2, 1]}]), "fp")
    other = ExampleCache(tmp_path / "train", {"inputs": FeatureSpec("real", 0, (None, 3), "float32", 0.0, False)})
    with pytest.raises(T2TUserError, match="delete"):
        other.open()


def test_interrupted_write_is_not_complete(tmp_path):
    cache = ExampleCache(tmp_path / "train", TOKENS)
    cache.write(iter(SAMPLES), "old")

    def failing():
        yield SAMPLES[0]
        raise RuntimeError("network dropped")

    with pytest.raises(RuntimeError):
        cache.write(failing(), "new")
    assert not cache.is_complete("new") and not cache.is_complete("old")
    assert cache.write(iter(SAMPLES), "new") == 2 and cache.is_complete("new")


def test_truncated_data_file_is_reported(tmp_path):
    cache = ExampleCache(tmp_path / "train", TOKENS)
    cache.write(iter(SAMPLES), "fp")
    data = tmp_path / "train" / "targets.data.bin"
    data.write_bytes(data.read_bytes()[:8])
    with pytest.raises(T2TUserError, match="truncated"):
        cache.open()


def test_corrupt_manifest_is_reported(tmp_path):
    cache = ExampleCache(tmp_path / "train", {"inputs": symbol_feature(10)})
    cache.write(iter([{"inputs": [2, 1]}]), "fp")
    (tmp_path / "train" / "manifest.json").write_text("{not json")
    with pytest.raises(T2TUserError, match="delete"):
        cache.is_complete("fp")


def test_large_write_streams(tmp_path):
    cache = ExampleCache(tmp_path / "big", {"targets": symbol_feature(50)})
    rows = ({"targets": list(range(2, 50))} for _ in range(30_000))
    assert cache.write(rows, "fp") == 30_000
    assert np.all(cache.open().lengths() == 48)
