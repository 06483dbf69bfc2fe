"""The image classification problems (problems/image/mnist.py): IDX files read in their real format from tiny
fixtures, one-line errors for broken or missing files and offline downloads, uint8 (H, W, C) examples batched by
image count, deterministic train-only augmentation, and a few training steps of image_digits with basic_fc_relu."""

import gzip
import math
from urllib.error import URLError

import numpy as np
import pytest
import torch

import t2t_torch
from t2t_torch.datamodules.batching import BatchingConfig
from t2t_torch.datamodules.datamodule import PreprocessedDataset, ProblemDataModule
from t2t_torch.errors import T2TUserError
from t2t_torch.problems.image.mnist import read_idx
from t2t_torch.run.train import train
from tests.fixtures.helpers import QUIET_TRAINER, compose
from tests.fixtures.image import FILES, offline_config, write_idx, write_mnist_folder

MNIST_FORMAT = ["image_mnist", "image_fashion_mnist"]


def one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message, message
    return message


def mnist_from_folder(name, folder, **config):
    return t2t_torch.problem(name, data_files={"root": str(folder)}, **config)


@pytest.mark.parametrize("gzipped", [True, False])
def test_idx_round_trip(gzipped, tmp_path):
    images = np.random.default_rng(0).integers(0, 256, size=(7, 28, 28), dtype=np.uint8)
    labels = np.arange(7, dtype=np.uint8)
    suffix = ".gz" if gzipped else ""
    assert np.array_equal(read_idx(write_idx(tmp_path / f"images{suffix}", images), 3), images)
    assert np.array_equal(read_idx(write_idx(tmp_path / f"labels{suffix}", labels), 1), labels)


@pytest.mark.parametrize("name", MNIST_FORMAT)
def test_problem_reads_the_idx_fixture(name, tmp_path):
    written = write_mnist_folder(tmp_path / "idx")
    problem = mnist_from_folder(name, tmp_path / "idx")
    problem.generate_data(tmp_path / "data")
    spec = problem.spec(tmp_path / "data")
    assert spec.inputs.shape == (28, 28, 1) and spec.inputs.dtype == "uint8" and not spec.batch_size_means_tokens
    assert spec.targets.modality == "class_label" and spec.targets.vocab_size == len(spec.extra["labels"]) == 10
    for split, (images, labels) in written.items():
        dataset = problem.dataset(split, tmp_path / "data")
        assert len(dataset) == len(images)
        for index in (0, len(images) - 1):
            example = dataset[index]
            assert example["inputs"].dtype == np.uint8 and example["inputs"].shape == (28, 28, 1)
            assert np.array_equal(example["inputs"][..., 0], images[index])
            assert int(example["targets"]) == labels[index]


def test_fashion_mnist_names_its_classes():
    labels = t2t_torch.problem("image_fashion_mnist").spec().extra["labels"]
    assert labels[0] == "T-shirt/top" and labels[9] == "Ankle boot" and len(labels) == 10


def test_offline_config_serves_the_registry_tests(tmp_path):
    assert offline_config("translate_ende_wmt8k", tmp_path) is None
    problem = t2t_torch.problem("image_mnist", **offline_config("image_mnist", tmp_path / "fixtures"))
    problem.generate_data(tmp_path / "data")
    assert [len(problem.dataset(s, tmp_path / "data")) for s in problem.splits] == [20, 10]


@pytest.mark.parametrize("damage", ["truncated_gzip", "short_data", "bad_header"])
def test_broken_idx_file_is_a_one_line_error_naming_it(damage, tmp_path):
    write_mnist_folder(tmp_path / "idx")
    broken = tmp_path / "idx" / FILES["train"][0]
    if damage == "truncated_gzip":
        broken.write_bytes(broken.read_bytes()[:-40])
    elif damage == "short_data":
        broken.write_bytes(gzip.compress(gzip.decompress(broken.read_bytes())[:-28]))
    else:
        broken.write_bytes(gzip.compress(b"\x00\x00\x0d\x03" + gzip.decompress(broken.read_bytes())[4:]))
    problem = mnist_from_folder("image_mnist", tmp_path / "idx")
    with pytest.raises(T2TUserError) as error:
        problem.generate_data(tmp_path / "data")
    assert str(broken) in one_line(error)


def test_missing_idx_file_is_named_before_any_split_is_prepared(tmp_path):
    write_mnist_folder(tmp_path / "idx")
    (tmp_path / "idx" / FILES["dev"][1]).unlink()
    with pytest.raises(T2TUserError) as error:
        mnist_from_folder("image_mnist", tmp_path / "idx").generate_data(tmp_path / "data")
    assert FILES["dev"][1] in one_line(error) and "problem.data_files" in str(error.value)
    assert not list((tmp_path / "data").glob("image_mnist/train.*/manifest.json"))


def test_malformed_data_files_setting(tmp_path):
    with pytest.raises(T2TUserError) as error:
        t2t_torch.problem("image_mnist", data_files={"train": "x.gz"})
    assert "root" in one_line(error)
    with pytest.raises(T2TUserError) as error:
        mnist_from_folder("image_mnist", tmp_path / "nowhere").generate_data(tmp_path / "data")
    assert "not a folder" in one_line(error)


def test_offline_download_names_the_local_fix(tmp_path, monkeypatch):
    import torchvision.datasets

    def no_internet(self):
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", no_internet)
    with pytest.raises(T2TUserError) as error:
        t2t_torch.problem("image_mnist").generate_data(tmp_path / "data")
    message = one_line(error)
    assert "could not download MNIST" in message and "problem.data_files={root:" in message


def test_files_torchvision_downloaded_are_read_without_downloading_again(tmp_path, monkeypatch):
    import torchvision.datasets

    def no_download(self):
        raise AssertionError("downloaded although the files are there")

    monkeypatch.setattr(torchvision.datasets.FashionMNIST, "download", no_download)
    raw = tmp_path / "data" / "image_fashion_mnist" / "torchvision" / "FashionMNIST" / "raw"
    written = write_mnist_folder(raw)
    for path in raw.glob("*.gz"):  # torchvision keeps each .gz beside the file it extracted
        path.with_suffix("").write_bytes(gzip.decompress(path.read_bytes()))
    problem = t2t_torch.problem("image_fashion_mnist")
    problem.generate_data(tmp_path / "data")
    dataset = problem.dataset("train", tmp_path / "data")
    assert np.array_equal(dataset[3]["inputs"][..., 0], written["train"][0][3])


def test_changed_local_file_rebuilds_the_cache(tmp_path):
    write_mnist_folder(tmp_path / "idx")
    problem = mnist_from_folder("image_mnist", tmp_path / "idx")
    problem.generate_data(tmp_path / "data")
    assert int(problem.dataset("dev", tmp_path / "data")[0]["targets"]) == 0
    write_idx(tmp_path / "idx" / FILES["dev"][1], np.full(10, 7, dtype=np.uint8))
    problem.generate_data(tmp_path / "data")
    assert int(problem.dataset("dev", tmp_path / "data")[0]["targets"]) == 7


def test_label_outside_the_classes_is_refused(tmp_path):
    write_mnist_folder(tmp_path / "idx")
    write_idx(tmp_path / "idx" / FILES["train"][1], np.full(20, 12, dtype=np.uint8))
    with pytest.raises(T2TUserError) as error:
        mnist_from_folder("image_mnist", tmp_path / "idx").generate_data(tmp_path / "data")
    assert "label 12" in one_line(error) and FILES["train"][1] in str(error.value)


@pytest.mark.parametrize("name", ["image_mnist", "image_digits"])
def test_no_rev_variant(name):
    with pytest.raises(T2TUserError) as error:
        t2t_torch.problem(f"{name}_rev")
    assert "no _rev variant" in one_line(error)


def test_digits_split_and_scaling(tmp_path):
    problem = t2t_torch.problem("image_digits")
    problem.generate_data(tmp_path)
    train, dev = problem.dataset("train", tmp_path), problem.dataset("dev", tmp_path)
    assert (len(train), len(dev)) == (1437, 360)  # images 0, 5, 10, ... of 1,797 are dev
    images = np.stack([dev[i]["inputs"] for i in range(len(dev))])
    assert images.dtype == np.uint8 and images.shape == (360, 8, 8, 1) and images.max() == 255
    labels = [int(dev[i]["targets"]) for i in range(len(dev))]
    assert sorted(set(labels)) == list(range(10))
    with pytest.raises(T2TUserError) as error:
        t2t_torch.problem("image_digits", dev_every=1)
    assert "dev_every" in one_line(error)


def test_batches_count_images(tmp_path):
    problem = mnist_from_folder("image_mnist", tmp_path / "idx")
    write_mnist_folder(tmp_path / "idx")
    module = ProblemDataModule(problem, tmp_path / "data", BatchingConfig(batch_size=5), seed=0)
    module.prepare_data()
    module.setup()
    for loader, batches in ((module.train_dataloader(), 4), (module.val_dataloader(), 2)):
        seen = list(loader)
        assert len(seen) == batches
        for batch in seen:
            assert batch["inputs"].dtype == torch.uint8 and tuple(batch["inputs"].shape) == (5, 28, 28, 1)
            assert batch["targets"].dtype == torch.int64 and tuple(batch["targets"].shape) == (5,)


def shifts(image, max_shift):
    """Every translation of `image` by up to `max_shift` pixels, uncovered pixels 0."""
    padded = np.pad(image, ((max_shift, max_shift), (max_shift, max_shift), (0, 0)))
    height, width = image.shape[:2]
    return [padded[t:t + height, s:s + width] for t in range(2 * max_shift + 1) for s in range(2 * max_shift + 1)]


def test_augmentation_is_deterministic_and_train_only(tmp_path):
    plain = t2t_torch.problem("image_digits")
    assert not plain.augments
    problem = t2t_torch.problem("image_digits", augment_shift=2)
    assert problem.augments and problem.fingerprint("train", tmp_path) == plain.fingerprint("train", tmp_path)
    problem.generate_data(tmp_path)
    dataset = problem.dataset("train", tmp_path)
    first = [PreprocessedDataset(dataset, problem, "train", seed=3)[(i, 0)]["inputs"] for i in range(20)]
    again = [PreprocessedDataset(dataset, problem, "train", seed=3)[(i, 0)]["inputs"] for i in range(20)]
    next_epoch = [PreprocessedDataset(dataset, problem, "train", seed=3)[(i, 1)]["inputs"] for i in range(20)]
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, next_epoch, strict=True))
    originals = [dataset[i]["inputs"] for i in range(20)]
    assert sum(not np.array_equal(a, o) for a, o in zip(first, originals, strict=True)) >= 10
    for augmented, original in zip(first, originals, strict=True):
        assert augmented.dtype == np.uint8 and augmented.shape == (8, 8, 1)
        assert any(np.array_equal(augmented, shifted) for shifted in shifts(original, 2))
    example = problem.dataset("dev", tmp_path)[0]
    served = problem.preprocess_example(dict(example), "dev", np.random.default_rng(0))
    assert np.array_equal(served["inputs"], example["inputs"])
    module = ProblemDataModule(problem, tmp_path, BatchingConfig(batch_size=360), seed=0)
    module.setup()
    dev = next(iter(module.val_dataloader()))["inputs"].numpy()
    assert np.array_equal(dev, np.stack([problem.dataset("dev", tmp_path)[i]["inputs"] for i in range(360)]))
    with pytest.raises(T2TUserError) as error:
        t2t_torch.problem("image_digits", augment_shift=-1)
    assert "augment_shift" in one_line(error)


def test_train_image_digits_basic_fc(tmp_path):
    cfg = compose(["problem=image_digits", "model=basic_fc_relu", "hparams=basic_fc_small", *QUIET_TRAINER,
                   "trainer.max_steps=6", "trainer.val_check_interval=3", "trainer.log_every_n_steps=1"], tmp_path)
    metrics = train(cfg)
    assert 0.0 <= metrics["eval/accuracy"] <= metrics["eval/accuracy_top5"] <= 1.0
    assert math.isfinite(metrics["eval/loss"])
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()
    header = (tmp_path / "run" / "csv" / "version_0" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert "train/examples" in header and "train/tokens" not in header  # an image batch counts images, not tokens
