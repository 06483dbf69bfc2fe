"""The CIFAR, ImageNet and image-folder problems (t2t_torch/problems/image/cifar.py, imagenet.py, image_folder.py,
image_files.py) and the array hook of Image2ClassProblem: the readers decode tiny fixtures in the real formats
exactly (pixels, labels, label names, channel order), augmentation is deterministic and train-only, ImageNet's
views, the cache is rebuilt when an input changes, and every kind of bad input is a one-line error naming the file
(or a counted, logged skip)."""

import logging
import os
import pickle
import pickletools
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
from PIL import Image

import t2t_torch
from t2t_torch.datamodules.preprocessing import PreprocessedDataset
from t2t_torch.errors import T2TUserError
from t2t_torch.problems.image.augment import Augmentation as Aug
from t2t_torch.problems.image.augment import apply
from t2t_torch.problems.image.cifar import CIFAR10_LABELS, CIFAR100_COARSE_LABELS, CIFAR100_FINE_LABELS, batch_arrays
from t2t_torch.problems.image.image2class import Image2ClassProblem
from t2t_torch.problems.image.imagenet import ImageFile, random_area_box
from tests.fixtures.image import (
    FOLDER_CLASSES,
    pack_archive,
    write_cifar10,
    write_cifar100,
    write_downsampled_imagenet,
    write_image,
    write_image_folder,
    write_imagenet,
    write_pickle,
)


def one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message, message
    return message


def prepared(name, data, **config):
    problem = t2t_torch.problem(name, **config)
    problem.generate_data(data)
    return problem


def all_inputs(dataset):
    return np.stack([dataset[i]["inputs"] for i in range(len(dataset))])


def all_targets(dataset):
    return np.array([int(dataset[i]["targets"]) for i in range(len(dataset))])


# CIFAR ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("packed", [False, True])
def test_cifar10_reads_the_batches_exactly(packed, tmp_path):
    written = write_cifar10(tmp_path / "src")
    root = pack_archive(tmp_path / "src", "cifar-10-batches-py", "cifar-10-python.tar.gz") if packed \
        else tmp_path / "src"
    problem = prepared("image_cifar10", tmp_path / "data", data_files={"root": str(root)})
    spec = problem.spec(tmp_path / "data")
    assert spec.inputs.shape == (32, 32, 3) and spec.extra["labels"] == list(CIFAR10_LABELS)
    for split, (images, labels) in written.items():
        dataset = problem.dataset(split, tmp_path / "data")
        assert np.array_equal(all_inputs(dataset), images) and np.array_equal(all_targets(dataset), labels)


def test_cifar_rows_are_red_green_blue_planes():
    row = np.concatenate([np.full(1024, 255), np.zeros(1024), np.full(1024, 7)]).astype(np.uint8)[None]
    images, labels = batch_arrays({"data": row, "labels": [3]}, "labels", "batch", "fix")
    assert images.shape == (1, 32, 32, 3) and (images[0] == [255, 0, 7]).all() and labels.tolist() == [3]


@pytest.mark.parametrize(("name", "column", "names"), [("image_cifar100", 1, CIFAR100_FINE_LABELS),
                                                       ("image_cifar20", 2, CIFAR100_COARSE_LABELS)])
def test_cifar100_fine_and_coarse_labels(name, column, names, tmp_path):
    written = write_cifar100(tmp_path / "src")
    problem = prepared(name, tmp_path / "data", data_files={"root": str(tmp_path / "src" / "cifar-100-python")})
    assert problem.spec(tmp_path / "data").extra["labels"] == list(names)
    for split, arrays in written.items():
        dataset = problem.dataset(split, tmp_path / "data")
        assert np.array_equal(all_inputs(dataset), arrays[0]) and np.array_equal(all_targets(dataset), arrays[column])


def test_cifar_augmentation_is_t2ts_deterministic_and_train_only(tmp_path):
    write_cifar10(tmp_path / "src")
    settings = {"data_files": {"root": str(tmp_path / "src")}}
    problem = prepared("image_cifar10", tmp_path / "data", **settings)
    plain = t2t_torch.problem("image_cifar10_plain", **settings)
    assert (problem.augment_shift, problem.augment_flip, plain.augments) == (4, True, False)
    assert problem.split_cache("train", tmp_path / "data").path == plain.split_cache("train", tmp_path / "data").path
    train = problem.dataset("train", tmp_path / "data")
    served = [PreprocessedDataset(train, problem, "train", seed=3)[(i, 0)]["inputs"] for i in range(20)]
    again = [PreprocessedDataset(train, problem, "train", seed=3)[(i, 0)]["inputs"] for i in range(20)]
    later = [PreprocessedDataset(train, problem, "train", seed=3)[(i, 1)]["inputs"] for i in range(20)]
    assert all(np.array_equal(a, b) for a, b in zip(served, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(served, later, strict=True))
    variants = [[apply(train[i]["inputs"], Aug(t, s, f), 4) for t in range(9) for s in range(9) for f in (0, 1)]
                for i in range(20)]
    assert all(any(np.array_equal(x, v) for v in vs) for x, vs in zip(served, variants, strict=True))
    assert sum(not np.array_equal(x, train[i]["inputs"]) for i, x in enumerate(served)) >= 15
    dev = problem.dataset("dev", tmp_path / "data")
    for split, prob, dataset in (("dev", problem, dev), ("train", plain, train)):
        example = dataset[0]
        out = PreprocessedDataset(dataset, prob, split, seed=3)[(0, 0)] if prob.augments else \
            prob.preprocess_example(dict(example), split, np.random.default_rng(0))
        assert np.array_equal(out["inputs"], example["inputs"])


def test_augmentation_on_the_device_serves_the_same_pixels_as_in_the_loader(tmp_path):
    """`augment_on_device=true`: the real train loader carries only the draws, and the data module's
    on_after_batch_transfer (Problem.finish_batch) crops and flips the batch -- pixel for pixel the loader path."""
    import torch

    from t2t_torch.datamodules.batching import BatchingConfig
    from t2t_torch.datamodules.datamodule import ProblemDataModule

    write_cifar10(tmp_path / "src")
    served = {}
    for on_device in (False, True):
        problem = t2t_torch.problem("image_cifar10", data_files={"root": str(tmp_path / "src")},
                                    augment_on_device=on_device)
        module = ProblemDataModule(problem, tmp_path / "data", BatchingConfig(batch_size=8), seed=5)
        module.prepare_data()
        module.setup("fit")
        batches = [module.on_after_batch_transfer(batch, 0) for batch in module.train_dataloader()]
        assert all(set(batch) == {"inputs", "targets"} for batch in batches)
        served[on_device] = torch.cat([batch["inputs"] for batch in batches])
        dev = next(iter(module.val_dataloader()))
        assert "augment_params" not in dev and torch.equal(dev["inputs"][0], torch.tensor(
            problem.dataset("dev", tmp_path / "data")[0]["inputs"]))
    assert served[False].dtype == torch.uint8 and torch.equal(served[False], served[True])


def test_missing_cifar_batch_is_named_before_any_split_is_prepared(tmp_path):
    write_cifar10(tmp_path / "src")
    (tmp_path / "src" / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(T2TUserError) as error:
        prepared("image_cifar10", tmp_path / "data", data_files={"root": str(tmp_path / "src")})
    assert "has no data_batch_3" in one_line(error)
    assert not list((tmp_path / "data").glob("*/*/manifest.json"))


class MakesFolder:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return os.mkdir, (str(self.path),)


@pytest.mark.parametrize("damage", ["truncated", "not_numpy", "wrong_labels", "meta_names"])
def test_corrupt_cifar_file_is_a_one_line_error_naming_it(damage, tmp_path):
    write_cifar10(tmp_path / "src")
    folder = tmp_path / "src" / "cifar-10-batches-py"
    broken = folder / ("batches.meta" if damage == "meta_names" else "data_batch_2")
    if damage == "truncated":
        broken.write_bytes(broken.read_bytes()[:-500])
    elif damage == "not_numpy":  # a pickle that runs os.mkdir(marker) when a plain unpickler loads it
        broken.write_bytes(pickle.dumps(MakesFolder(tmp_path / "marker"), protocol=2))
    elif damage == "wrong_labels":
        write_pickle(broken, {"data": np.zeros((4, 3072), np.uint8), "labels": [1, 2]})
    else:
        write_pickle(broken, {"label_names": ["plane", *CIFAR10_LABELS[1:]]})
    with pytest.raises(T2TUserError) as error:
        prepared("image_cifar10", tmp_path / "data", data_files={"root": str(tmp_path / "src")})
    assert str(broken) in one_line(error)
    if damage == "not_numpy":
        assert not (tmp_path / "marker").exists() and "mkdir, not numpy arrays" in str(error.value)


def test_truncated_cifar_archive_and_empty_root(tmp_path):
    write_cifar10(tmp_path / "src")
    archive = pack_archive(tmp_path / "src", "cifar-10-batches-py", "cifar-10-python.tar.gz")
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(T2TUserError) as error:
        prepared("image_cifar10", tmp_path / "data", data_files={"root": str(archive)})
    assert str(archive) in one_line(error)
    (tmp_path / "empty").mkdir()
    with pytest.raises(T2TUserError) as error:
        prepared("image_cifar100", tmp_path / "data", data_files={"root": str(tmp_path / "empty")})
    assert "cifar-100-python" in one_line(error)


def test_cifar_download_offline_and_from_torchvision(tmp_path, monkeypatch):
    import torchvision.datasets.utils as utils

    def no_internet(*args, **kwargs):
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(utils, "download_and_extract_archive", no_internet)
    with pytest.raises(T2TUserError) as error:
        prepared("image_cifar10", tmp_path / "data")
    assert "could not download" in one_line(error) and "problem.data_files={root:" in str(error.value)

    def fake_download(url, download_root, **kwargs):  # what torchvision leaves: the extracted release folder
        assert url.endswith("cifar-100-python.tar.gz")
        write_cifar100(Path(download_root))

    monkeypatch.setattr(utils, "download_and_extract_archive", fake_download)
    monkeypatch.setattr(utils, "check_integrity", lambda path, md5: Path(path).is_file())
    written = write_cifar100(tmp_path / "expected")
    problem = prepared("image_cifar20_plain", tmp_path / "data")
    assert (tmp_path / "data" / "image_cifar100" / "torchvision" / "cifar-100-python" / "meta").is_file()
    assert np.array_equal(all_targets(problem.dataset("dev", tmp_path / "data")), written["dev"][2])


def test_changed_cifar_file_rebuilds_the_cache(tmp_path):
    write_cifar10(tmp_path / "src")
    problem = prepared("image_cifar10", tmp_path / "data", data_files={"root": str(tmp_path / "src")})
    write_pickle(tmp_path / "src" / "cifar-10-batches-py" / "test_batch",
                 {"data": np.full((2, 3072), 9, np.uint8), "labels": [5, 6]})
    problem.generate_data(tmp_path / "data")
    dev = problem.dataset("dev", tmp_path / "data")
    assert len(dev) == 2 and int(dev[1]["targets"]) == 6 and (dev[0]["inputs"] == 9).all()


# Downsampled ImageNet ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [32, 64])
def test_downsampled_imagenet_reads_the_npz_files_exactly(size, tmp_path):
    written = write_downsampled_imagenet(tmp_path / "src", size)
    problem = prepared(f"image_imagenet{size}", tmp_path / "data", data_files={"root": str(tmp_path / "src")})
    spec = problem.spec(tmp_path / "data")
    assert spec.inputs.shape == (size, size, 3) and spec.targets.vocab_size == 1000
    for split, (images, labels) in written.items():
        dataset = problem.dataset(split, tmp_path / "data")
        assert np.array_equal(all_inputs(dataset), images)
        assert np.array_equal(all_targets(dataset), labels - 1)  # the files' ids are 1-based
        assert spec.extra["labels"][int(dataset[0]["targets"])] == str(labels[0])


def test_downsampled_imagenet_bad_input(tmp_path):
    with pytest.raises(T2TUserError) as error:
        prepared("image_imagenet32", tmp_path / "data")
    assert "image-net.org" in one_line(error) and "problem.data_files" in str(error.value)
    write_downsampled_imagenet(tmp_path / "src64", 64)
    with pytest.raises(T2TUserError) as error:
        prepared("image_imagenet32", tmp_path / "data", data_files={"root": str(tmp_path / "src64")})
    assert "train_data_batch_1.npz" in one_line(error) and "32x32 files" in str(error.value)
    write_downsampled_imagenet(tmp_path / "src", 32)
    val = next((tmp_path / "src").rglob("val_data.npz"))
    np.savez(val, data=np.zeros((2, 3072), np.uint8), labels=[1, 1001])
    with pytest.raises(T2TUserError) as error:
        prepared("image_imagenet32", tmp_path / "data", data_files={"root": str(tmp_path / "src")})
    assert str(val) in one_line(error) and "1001" in str(error.value)
    val.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(T2TUserError) as error:
        prepared("image_imagenet32", tmp_path / "data", data_files={"root": str(tmp_path / "src")})
    assert str(val) in one_line(error)
    val.unlink()
    with pytest.raises(T2TUserError) as error:
        prepared("image_imagenet32", tmp_path / "data", data_files={"root": str(tmp_path / "src")})
    assert "val_data.npz" in one_line(error)


# ImageNet ---------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def imagenet(tmp_path_factory):
    """A prepared image_imagenet on the 1000-class fixture: (problem, data_dir, wnids)."""
    root = tmp_path_factory.mktemp("imagenet")
    wnids = write_imagenet(root / "src")
    problem = prepared("image_imagenet", root / "data", data_files={"root": str(root / "src")})
    return problem, root / "data", wnids


def test_imagenet_indexes_the_folder_in_imagefolder_order(imagenet):
    problem, data, wnids = imagenet
    assert problem.spec(data).extra["labels"] == sorted(wnids) and problem.spec(data).inputs.shape == (224, 224, 3)
    train, dev = problem.dataset("train", data), problem.dataset("dev", data)
    assert (len(train), len(dev)) == (1000, 10) and list(train.lengths()) == [1] * 1000
    assert all_targets(dev).tolist() == list(range(10))
    assert train[5]["inputs"].path.endswith(f"train/{wnids[5]}/{wnids[5]}_1.JPEG")
    assert not list(data.rglob("*.bin"))  # an index only: no pixels cached


def test_imagenet_views(imagenet):
    problem, data, _ = imagenet
    example = problem.dataset("dev", data)[3]
    first = problem.preprocess_example(dict(example), "dev", np.random.default_rng(0))["inputs"]
    second = problem.preprocess_example(dict(example), "dev", np.random.default_rng(1))["inputs"]
    assert first.shape == (224, 224, 3) and first.dtype == np.uint8 and np.array_equal(first, second)
    assert np.array_equal(np.asarray(example["inputs"]), first)  # the unprocessed example reads as its eval view
    image = Image.open(example["inputs"].path).convert("RGB")  # 14 x 10: the short side to 256, then the centre
    expected = np.asarray(image.resize((358, 256), Image.Resampling.BICUBIC).crop((67, 16, 291, 240)))
    assert np.array_equal(first, expected)
    train = problem.dataset("train", data)
    crops = [PreprocessedDataset(train, problem, "train", seed=0)[(7, epoch)]["inputs"] for epoch in (0, 0, 1)]
    assert crops[0].shape == (224, 224, 3) and np.array_equal(crops[0], crops[1])
    assert not np.array_equal(crops[0], crops[2])


def test_random_area_box_keeps_inceptions_ranges():
    rng = np.random.default_rng(0)
    for _ in range(300):
        left, top, right, bottom = random_area_box(500, 375, rng)
        width, height = right - left, bottom - top
        assert 0 <= left < right <= 500 and 0 <= top < bottom <= 375
        assert 0.08 - 0.01 <= width * height / (500 * 375) <= 1.0
        assert 3 / 4 - 0.02 <= width / height <= 4 / 3 + 0.02
    assert random_area_box(1000, 10, rng) == (495, 0, 505, 10)  # no box fits: T2T's centre square


@pytest.mark.parametrize("damage", ["flat_val", "val_class_not_in_train", "empty_class", "missing_class"])
def test_imagenet_in_the_wrong_layout(damage, tmp_path):
    wnids = write_imagenet(tmp_path / "src", classes=1000, val_classes=2)
    val = tmp_path / "src" / "val"
    if damage == "flat_val":
        for path in list(val.rglob("*.JPEG")):
            path.rename(val / path.name)
            path.parent.rmdir()
    elif damage == "val_class_not_in_train":
        write_image(val / "n99999999" / "x.JPEG", np.zeros((4, 4, 3), np.uint8))
    elif damage == "empty_class":
        (tmp_path / "src" / "train" / wnids[3] / f"{wnids[3]}_1.JPEG").unlink()
    else:
        for path in (tmp_path / "src" / "train" / wnids[3]).iterdir():
            path.unlink()
        (tmp_path / "src" / "train" / wnids[3]).rmdir()
    with pytest.raises(T2TUserError) as error:
        prepared("image_imagenet", tmp_path / "data", data_files={"root": str(tmp_path / "src")})
    message = one_line(error)
    expected = {"flat_val": "holds 2 image files but no class folders", "val_class_not_in_train": "n99999999",
                "empty_class": f"{wnids[3]}' holds no images", "missing_class": "holds 999 class folders"}[damage]
    assert expected in message
    if damage == "flat_val":
        assert "torchvision.datasets.ImageNet" in message


def test_imagenet_needs_a_folder_and_names_a_bad_image(tmp_path):
    with pytest.raises(T2TUserError) as error:
        t2t_torch.problem("image_imagenet").generate_data(tmp_path / "data")
    assert "no download" in one_line(error) and "train/<wnid>/*.JPEG" in str(error.value)
    broken = Path(tmp_path / "bad.JPEG")
    broken.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    with pytest.raises(T2TUserError) as error:
        np.asarray(ImageFile(str(broken), 224))
    assert str(broken) in one_line(error)


def test_imagenet_index_follows_the_listing(tmp_path):
    wnids = write_imagenet(tmp_path / "src", val_classes=2)
    problem = prepared("image_imagenet", tmp_path / "data", data_files={"root": str(tmp_path / "src")})
    write_image(tmp_path / "src" / "val" / wnids[1] / "extra.JPEG", np.zeros((6, 6, 3), np.uint8))
    with pytest.raises(T2TUserError, match="no prepared index"):
        problem.dataset("dev", tmp_path / "data")
    problem.generate_data(tmp_path / "data")
    assert all_targets(problem.dataset("dev", tmp_path / "data")).tolist() == [0, 1, 1]


# Image folders ----------------------------------------------------------------------------------------------------
def folder_problem(tmp_path, **config):
    return prepared("image_folder", tmp_path / "data", data_files={"root": str(tmp_path / "src")}, **config)


def test_image_folder_decodes_exactly_in_imagefolder_order(tmp_path):
    written = write_image_folder(tmp_path / "src")
    problem = folder_problem(tmp_path, image_size=12)
    spec = problem.spec(tmp_path / "data")
    assert spec.extra["labels"] == list(FOLDER_CLASSES) and spec.inputs.shape == (12, 12, 3)
    train = problem.dataset("train", tmp_path / "data")
    assert len(train) == 12 and all_targets(train).tolist() == [0] * 4 + [1] * 4 + [2] * 4
    pngs = [i for i in range(12) if i % 4 != 3]  # each class: 0.png, 1.png, 2.png, photo.jpg
    assert all(np.array_equal(train[i]["inputs"], pixels) for i, (_, pixels) in zip(pngs, written["train"],
                                                                                    strict=True))
    dev = problem.dataset("dev", tmp_path / "data")
    assert np.array_equal(all_inputs(dev), np.stack([pixels for _, pixels in written["dev"]]))


def test_image_folder_sizes_channels_and_split_forms(tmp_path, caplog):
    write_image_folder(tmp_path / "src")
    (tmp_path / "src" / "dev").rename(tmp_path / "src" / "val")
    with caplog.at_level(logging.WARNING):
        grey = folder_problem(tmp_path, image_size=[6, 9], channels=1)
    assert grey.dataset("dev", tmp_path / "data")[0]["inputs"].shape == (6, 9, 1)
    assert "converted 12 images to L (12 RGB)" in caplog.text
    write_image_folder(tmp_path / "test_src", per_class={"test": 1})
    problem = prepared("image_folder", tmp_path / "data2", data_files={
        "train": str(tmp_path / "src" / "train"), "dev": str(tmp_path / "src" / "val"),
        "test": str(tmp_path / "test_src" / "test")})
    assert problem.splits == ("train", "dev", "test") and len(problem.dataset("test", tmp_path / "data2")) == 3
    for bad in ({"channels": 2}, {"image_size": 0}, {"image_size": [3]}, {"data_files": {"train": "x"}},
                {"data_files": {"root": "x", "dev": "y"}}, {"skip_bad_images": "yes"}):
        with pytest.raises(T2TUserError) as error:
            t2t_torch.problem("image_folder", **bad)
        assert next(iter(bad)) in one_line(error)


def test_other_image_modes_are_converted_and_counted(tmp_path, caplog):
    write_image_folder(tmp_path / "src")
    cat = tmp_path / "src" / "train" / "cat"
    Image.fromarray(np.full((12, 12), 77, np.uint8), "L").save(cat / "grey.png")
    Image.fromarray(np.full((12, 12, 4), 200, np.uint8), "RGBA").save(cat / "alpha.png")
    Image.fromarray(np.zeros((12, 12), np.uint8), "L").convert("P").save(cat / "palette.png")
    with caplog.at_level(logging.WARNING):
        problem = folder_problem(tmp_path, image_size=12)
    assert "converted 3 images to RGB (1 L, 1 P, 1 RGBA)" in caplog.text
    names = [relative for relative, _ in problem.images("train")]
    grey = problem.dataset("train", tmp_path / "data")[names.index("cat/grey.png")]["inputs"]
    assert (grey == 77).all() and grey.shape == (12, 12, 3)


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_image_is_named_or_skipped_and_counted(damage, tmp_path, caplog):
    write_image_folder(tmp_path / "src")
    broken = tmp_path / "src" / "train" / "dog" / ("1.png" if damage == "truncated" else "junk.jpg")
    broken.write_bytes(broken.read_bytes()[:60] if damage == "truncated" else b"not an image at all")
    with pytest.raises(T2TUserError) as error:
        folder_problem(tmp_path)
    assert str(broken) in one_line(error) and "skip_bad_images=true" in str(error.value)
    with caplog.at_level(logging.WARNING):
        problem = folder_problem(tmp_path, skip_bad_images=True)
    assert f"skipped 1 unreadable images (skip_bad_images=true), the first {broken}" in caplog.text
    assert len(problem.dataset("train", tmp_path / "data")) == (11 if damage == "truncated" else 12)


@pytest.mark.parametrize("damage", ["empty_class", "dev_class_not_in_train", "flat_split", "no_setting"])
def test_image_folder_layout_errors(damage, tmp_path):
    write_image_folder(tmp_path / "src")
    settings = {"data_files": {"root": str(tmp_path / "src")}}
    if damage == "empty_class":
        (tmp_path / "src" / "train" / "emu").mkdir()
    elif damage == "dev_class_not_in_train":
        write_image(tmp_path / "src" / "dev" / "emu" / "0.png", np.zeros((4, 4, 3), np.uint8))
    elif damage == "flat_split":
        for path in list((tmp_path / "src" / "dev").rglob("*.png")):
            path.rename(tmp_path / "src" / "dev" / f"{path.parent.name}_{path.name}")
            if not any(path.parent.iterdir()):
                path.parent.rmdir()
    else:
        settings = {}
    with pytest.raises(T2TUserError) as error:
        prepared("image_folder", tmp_path / "data", **settings)
    expected = {"empty_class": "train/emu' holds no images", "dev_class_not_in_train": "class folders emu",
                "flat_split": "holds 6 image files but no class folders", "no_setting": "problem.data_files={root:"}
    assert expected[damage] in one_line(error)


def test_rewritten_image_rebuilds_the_cache(tmp_path):
    written = write_image_folder(tmp_path / "src")
    problem = folder_problem(tmp_path, image_size=12)
    before = problem.split_cache("dev", tmp_path / "data").path
    relative, pixels = written["dev"][0]
    write_image(tmp_path / "src" / "dev" / relative, 255 - pixels)  # same name, same size, in place
    problem.generate_data(tmp_path / "data")
    after = problem.split_cache("dev", tmp_path / "data").path
    assert after != before
    assert np.array_equal(problem.dataset("dev", tmp_path / "data")[0]["inputs"], 255 - pixels)


# The array hook ---------------------------------------------------------------------------------------------------
class TinyArrays(Image2ClassProblem):
    registered_name = "tiny_arrays"
    image_shape = (4, 4, 3)
    class_labels = ("a", "b")
    labels = np.array([0, 1, 1])
    images = np.arange(3 * 48, dtype=np.uint8).reshape(3, 4, 4, 3)

    def generate_arrays(self, split, data_dir):
        return self.images, self.labels


def test_a_subclass_gives_arrays(tmp_path):
    problem = TinyArrays()
    problem.generate_data(tmp_path)
    dataset = problem.dataset("dev", tmp_path)
    assert np.array_equal(all_inputs(dataset), TinyArrays.images) and all_targets(dataset).tolist() == [0, 1, 1]
    cases = [("images", TinyArrays.images[..., 0], "uint8 (N, 4, 4, 3)"), ("labels", np.array([0.0, 1.0, 1.0]),
             "one integer class id"), ("labels", np.array([0, 1, 2]), "label 2, outside the 2 classes")]
    for attribute, value, expected in cases:
        broken = TinyArrays()
        setattr(broken, attribute, value)
        with pytest.raises(T2TUserError) as error:
            broken.generate_data(tmp_path / attribute / str(len(expected)))
        assert expected in one_line(error)


def test_cifar_fixture_is_a_python2_pickle_as_the_release_is(tmp_path):
    write_cifar10(tmp_path)
    raw = (tmp_path / "cifar-10-batches-py" / "data_batch_1").read_bytes()
    opcodes = [(op.name, arg) for op, arg, _ in pickletools.genops(raw)]
    assert ("GLOBAL", "numpy.core.multiarray _reconstruct") in opcodes and ("SHORT_BINSTRING", "labels") in opcodes
    batch = pickle.loads(raw, encoding="latin1")  # how the release's pickles are read
    assert set(batch) == {"batch_label", "labels", "data", "filenames"} and batch["data"].shape == (60, 3072)
