"""Tiny offline stand-ins, in the real source formats, for the image problems that download or read the user's
files. `offline_config(name, folder)` writes them and returns the `problem.<key>` settings that make the problem
read them instead of downloading:

- MNIST format (`image_mnist`, `image_fashion_mnist`): the four gzipped IDX files torchvision downloads and
  Debian's `dataset-fashion-mnist` installs (20 train + 10 dev images of 28x28, labels 0..9).
- CIFAR (`image_cifar10*`, `image_cifar100*`, `image_cifar20*`): the release's folder of Python pickles
  (`cifar-10-batches-py/data_batch_1..5`, `test_batch`, `batches.meta`; `cifar-100-python/train`, `test`, `meta`),
  300 train + 10 test images; the `_plain` variants read the same files packed as the original `.tar.gz`.
- `image_folder`: an ImageFolder tree (train/ and dev/, 3 classes) of small PNG and JPEG files of several sizes.
- `image_imagenet`: train/<wnid>/ for 1000 wnids (one small JPEG each) and val/<wnid>/ for 10 of them.
- `image_imagenet32`, `image_imagenet64`: `train_data_batch_1.npz`, `train_data_batch_2.npz` (10 images each) and
  `val_data.npz` (10), with planar `data` rows and 1-based `labels`, in the folders the release's zips unpack to.
"""

from __future__ import annotations

import gzip
import struct
import tarfile
from pathlib import Path
from typing import Any

import numpy as np

MNIST_FORMAT = ("image_mnist", "image_fashion_mnist")
COUNTS = {"train": 20, "dev": 10}
FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
         "dev": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file's bytes: 2 zero bytes, type 0x08 (unsigned bytes), the number of dimensions, each dimension as
    a big-endian uint32, then the data."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    return bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_idx(path: Path, array: np.ndarray) -> Path:
    """`array` as an IDX file, gzipped when `path` ends in .gz (as the real downloads are)."""
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)
    return path


def tiny_split(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` 28x28 images, each a bright square at a place and size set by its label, on noise; labels cycle
    through 0..9 so every class is present."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 40, size=(count, 28, 28), dtype=np.uint8)
    labels = (np.arange(count) % 10).astype(np.uint8)
    for image, label in zip(images, labels, strict=True):
        top = 2 + 2 * int(label)
        image[top:top + 6, top:top + 6] = 255
    return images, labels


def write_mnist_folder(folder: Path, counts: dict[str, int] = COUNTS) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The four IDX files of an MNIST-format data set in `folder`; returns {split: (images, labels)} written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for seed, (split, (images_name, labels_name)) in enumerate(FILES.items()):
        images, labels = tiny_split(counts[split], seed)
        write_idx(folder / images_name, images)
        write_idx(folder / labels_name, labels)
        written[split] = (images, labels)
    return written


# CIFAR ------------------------------------------------------------------------------------------------------------
# 300 train images: more than two batches of the largest image hparams set (128), so the registry's model tests,
# which train on the first registered image problem (image_cifar10), take two real steps.
CIFAR_COUNTS = {"train": 300, "dev": 10}


def tiny_rgb(count: int, size: int, seed: int) -> np.ndarray:
    """`count` random uint8 RGB images (count, size, size, 3)."""
    return np.random.default_rng(seed).integers(0, 256, size=(count, size, size, 3), dtype=np.uint8)


def planar_rows(images: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) images as the releases store them: one row per image, the red, green then blue planes."""
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2).reshape(len(images), -1))


def py2_pickle(value: Any) -> bytes:
    """`value` (a dict of str, int, lists of them and 2-D uint8 arrays) pickled as the releases were: Python 2's
    cPickle, protocol 2, byte strings as py2 `str` and arrays as numpy 1's `numpy.core.multiarray._reconstruct`."""

    def text(data: bytes) -> bytes:
        return (b"U" + bytes([len(data)]) if len(data) < 256 else b"T" + struct.pack("<i", len(data))) + data

    def encode(item: Any) -> bytes:
        if isinstance(item, str):
            return text(item.encode("latin-1"))
        if isinstance(item, (int, np.integer)):
            return b"J" + struct.pack("<i", int(item))
        if isinstance(item, list):
            return b"](" + b"".join(encode(v) for v in item) + b"e"
        if isinstance(item, dict):
            return b"}(" + b"".join(encode(k) + encode(v) for k, v in item.items()) + b"u"
        array = np.ascontiguousarray(item, dtype=np.uint8)
        assert array.ndim == 2
        dtype = b"cnumpy\ndtype\n" + text(b"u1") + b"J\x00\x00\x00\x00J\x01\x00\x00\x00\x87R" \
            + b"(J\x03\x00\x00\x00" + text(b"|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffJ\x00\x00\x00\x00tb"
        return (b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nJ\x00\x00\x00\x00\x85" + text(b"b")
                + b"\x87R(J\x01\x00\x00\x00" + encode(array.shape[0]) + encode(array.shape[1]) + b"\x86" + dtype
                + b"\x89" + text(array.tobytes()) + b"tb")

    return b"\x80\x02" + encode(value) + b"."


def write_pickle(path: Path, content: dict[str, Any]) -> None:
    path.write_bytes(py2_pickle(content))


def write_cifar10(root: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """`root/cifar-10-batches-py/` with 5 data batches of 60 images, a test batch of 10 and batches.meta; returns
    {split: (images, labels)} as the reader must serve them."""
    from t2t_torch.problems.image.cifar import CIFAR10_LABELS

    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    images = {split: tiny_rgb(count, 32, seed) for seed, (split, count) in enumerate(CIFAR_COUNTS.items())}
    labels = {split: (np.arange(count) * 3 + seed) % 10 for seed, (split, count) in enumerate(CIFAR_COUNTS.items())}
    per_batch = CIFAR_COUNTS["train"] // 5
    for batch in range(5):
        rows = slice(per_batch * batch, per_batch * (batch + 1))
        write_pickle(folder / f"data_batch_{batch + 1}", {
            "batch_label": f"training batch {batch + 1} of 5", "labels": [int(v) for v in labels["train"][rows]],
            "data": planar_rows(images["train"][rows]), "filenames": [f"img_{i}.png" for i in range(per_batch)]})
    write_pickle(folder / "test_batch", {"batch_label": "testing batch 1 of 1", "data": planar_rows(images["dev"]),
                                         "labels": [int(v) for v in labels["dev"]],
                                         "filenames": [f"test_{i}.png" for i in range(10)]})
    write_pickle(folder / "batches.meta", {"label_names": list(CIFAR10_LABELS), "num_cases_per_batch": 4,
                                           "num_vis": 3072})
    return {split: (images[split], labels[split]) for split in CIFAR_COUNTS}


def write_cifar100(root: Path) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """`root/cifar-100-python/` with train (300 images), test (10) and meta; returns {split: (images, fine labels,
    coarse labels)}."""
    from t2t_torch.problems.image.cifar import CIFAR100_COARSE_LABELS, CIFAR100_FINE_LABELS

    folder = root / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for seed, (split, count) in enumerate(CIFAR_COUNTS.items()):
        images = tiny_rgb(count, 32, 10 + seed)
        fine = (np.arange(count) * 7 + seed) % 100
        coarse = fine % 20
        name = "train" if split == "train" else "test"
        write_pickle(folder / name, {"filenames": [f"{name}_{i}.png" for i in range(count)], "batch_label":
                                     f"{name}ing batch 1 of 1", "fine_labels": [int(v) for v in fine],
                                     "coarse_labels": [int(v) for v in coarse], "data": planar_rows(images)})
        written[split] = (images, fine, coarse)
    write_pickle(folder / "meta", {"fine_label_names": list(CIFAR100_FINE_LABELS),
                                   "coarse_label_names": list(CIFAR100_COARSE_LABELS)})
    return written


def pack_archive(root: Path, folder_name: str, archive_name: str) -> Path:
    """The release folder `root/folder_name` packed as the original .tar.gz (`root/archive_name`)."""
    archive = root / archive_name
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root / folder_name, arcname=folder_name)
    return archive


# Image folders ----------------------------------------------------------------------------------------------------
FOLDER_CLASSES = ("cat", "dog", "owl")


def write_image(path: Path, pixels: np.ndarray) -> Path:
    """`pixels` (H, W, 3) uint8 as an image file of the format its suffix names."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def write_image_folder(root: Path, per_class: dict[str, int] | None = None, size: int = 12
                       ) -> dict[str, list[tuple[str, np.ndarray]]]:
    """An ImageFolder tree root/<split>/<class>/<n>.png of size x size RGB PNGs (plus one smaller JPEG per train
    class); returns {split: [(relative path, pixels)]} of the PNGs."""
    per_class = per_class or {"train": 3, "dev": 2}
    rng = np.random.default_rng(5)
    written: dict[str, list[tuple[str, np.ndarray]]] = {}
    for split, count in per_class.items():
        written[split] = []
        for name in FOLDER_CLASSES:
            for i in range(count):
                pixels = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
                write_image(root / split / name / f"{i}.png", pixels)
                written[split].append((f"{name}/{i}.png", pixels))
            if split == "train":
                write_image(root / split / name / "photo.jpg", rng.integers(0, 256, (size + 4, size, 3), np.uint8))
    return written


def write_imagenet(root: Path, classes: int = 1000, val_classes: int = 10) -> list[str]:
    """root/train/<wnid>/ (one small JPEG each) and root/val/<wnid>/ for the first `val_classes`; returns the
    wnids."""
    wnids = [f"n{10000000 + 37 * i:08d}" for i in range(classes)]
    rng = np.random.default_rng(9)
    for split, names in (("train", wnids), ("val", wnids[:val_classes])):
        for wnid in names:
            write_image(root / split / wnid / f"{wnid}_1.JPEG", rng.integers(0, 256, (10, 14, 3), np.uint8))
    return wnids


def write_downsampled_imagenet(root: Path, size: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Imagenet{size}_train_npz/train_data_batch_{1,2}.npz and Imagenet{size}_val_npz/val_data.npz; returns
    {split: (images, 1-based labels)}."""
    written = {}
    for split, count, files in (("train", 20, ("train_data_batch_1", "train_data_batch_2")),
                                ("dev", 10, ("val_data",))):
        folder = root / f"Imagenet{size}_{'train' if split == 'train' else 'val'}_npz"
        folder.mkdir(parents=True, exist_ok=True)
        images = tiny_rgb(count, size, 20 + size + len(split))
        labels = (np.arange(count) * 97 + len(split)) % 1000 + 1
        per_file = count // len(files)
        for i, name in enumerate(files):
            rows = slice(i * per_file, (i + 1) * per_file)
            arrays = {"data": planar_rows(images[rows]), "labels": [int(v) for v in labels[rows]]}
            if split == "train":
                arrays["mean"] = planar_rows(images[rows]).mean(0)
            np.savez(folder / f"{name}.npz", **arrays)
        written[split] = (images, labels)
    return written


def offline_config(name: str, folder: Path) -> dict[str, Any] | None:
    """Settings under which the image problem `name` (or `name_rev`) prepares from tiny files in its real format
    written into `folder`; None when `name` is not one of this module's problems."""
    base = name.removesuffix("_rev")
    root = folder / base
    if base in MNIST_FORMAT:
        write_mnist_folder(root)
    elif base.startswith("image_cifar"):
        cifar10 = base in ("image_cifar10", "image_cifar10_plain")
        (write_cifar10 if cifar10 else write_cifar100)(root)
        if base.endswith("_plain"):
            release = ("cifar-10-batches-py", "cifar-10-python.tar.gz") if cifar10 else \
                ("cifar-100-python", "cifar-100-python.tar.gz")
            return {"data_files": {"root": str(pack_archive(root, *release))}}
    elif base == "image_folder":
        write_image_folder(root)
    elif base == "image_imagenet":
        write_imagenet(root)
    elif base in ("image_imagenet32", "image_imagenet64"):
        write_downsampled_imagenet(root, int(base.removeprefix("image_imagenet")))
    else:
        return None
    return {"data_files": {"root": str(root)}}
