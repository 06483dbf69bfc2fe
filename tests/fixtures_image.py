"""Tiny offline stand-ins, in the real IDX format, for the MNIST-format image problems (`image_mnist`,
`image_fashion_mnist`): `offline_config(name, folder)` writes the four gzipped IDX files torchvision downloads and
Debian's `dataset-fashion-mnist` installs (20 train + 10 dev images of 28x28, labels 0..9) and returns the
`problem.<key>` settings that make the problem read them instead of downloading."""

from __future__ import annotations

import gzip
import struct
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


def offline_config(name: str, folder: Path) -> dict[str, Any] | None:
    """Settings under which the MNIST-format problem `name` (or `name_rev`) prepares from tiny IDX files written
    into `folder`; None when `name` is not one of this module's problems."""
    base = name.removesuffix("_rev")
    if base not in MNIST_FORMAT:
        return None
    root = folder / base
    write_mnist_folder(root)
    return {"data_files": {"root": str(root)}}
