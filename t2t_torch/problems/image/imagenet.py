"""ImageNet (ILSVRC-2012) classification: `image_imagenet` from the full-size JPEGs, decoded as they are served, and
`image_imagenet32` / `image_imagenet64`, the downsampled ImageNet of Chrabaszcz et al. (2017), decoded once into the
uint8 example cache (ports T2T's `data_generators/imagenet.py`).

`image_imagenet` reads an ImageNet the user already has (it needs a login at image-net.org, so nothing downloads),
laid out as torchvision's `ImageNet` class builds it from the ILSVRC-2012 archives: `<root>/train/<wnid>/*.JPEG`
(the 1.28M training images, `train`) and `<root>/val/<wnid>/*.JPEG` (the 50k validation images, `dev`, as in T2T);
`problem.data_files={root: <root>}`. Class ids follow the sorted wnids (ImageFolder's order) and are named by them.
The 1.28M images are not decoded into a cache: preparing only indexes them (relative paths and labels, keyed by the
listing, under `data_dir/image_imagenet/<split>.<fingerprint>/`), and each image is decoded in
`preprocess_example`: on `train` T2T's Inception crop (a random box of 8% to 100% of the area with aspect ratio
3/4 to 4/3, resized to `image_size` bicubic) and a random horizontal flip, from the data loader's numpy generator;
on `dev` T2T's eval view (the shorter side resized to `image_size` + 32, the centre `image_size` square). A served
example is (image_size, image_size, 3) uint8; the dataset's unprocessed `inputs` is an `ImageFile` that turns into
the eval view as a numpy array, so direct readers of the dataset see eval images. Every image is converted to RGB
as it is decoded (the real training set holds a few CMYK and grey JPEGs); a file PIL cannot decode is a one-line
error naming it when it is served.

`image_imagenet32` / `image_imagenet64` read the npz files of image-net.org's "Downsampled ImageNet" (a login
again): `train_data_batch_<n>.npz` and `val_data.npz` anywhere under `problem.data_files={root: <folder>}`, each
with `data` (N x 3*H*W uint8, the red, green then blue planes) and `labels` (1..1000, served as class ids 0..999
named by the files' ids). Training images are flipped at random (`augment_flip`), as T2T's ImageNet training is.

Deliberate differences from T2T: T2T's `image_imagenet` decoded at 299x299 (Inception) and `image_imagenet224` at
224; here `image_imagenet` takes `image_size` (default 224; 299 is T2T's). T2T's crop made one attempt at a box,
falling back to the centre square; here up to 10 attempts (torchvision's `RandomResizedCrop`), then the same
fallback. T2T's mean/stddev normalization is replaced by the image modality's fixed scaling. T2T's
`image_imagenet32` / `image_imagenet64` rescaled the full-size images (and `image_imagenet32_gen` read
image-net.org/small's PNGs with a constant label); here they are the labelled downsampled npz release.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch.utils.data
from filelock import FileLock

from t2t_torch.errors import T2TUserError
from t2t_torch.problems.image.image2class import AUGMENT_KEYS, Image2ClassProblem
from t2t_torch.problems.problem import check_data_dir
from t2t_torch.problems.sources.file_identity import HASH_MEMO, content_sha256
from t2t_torch.problems.sources.image_files import class_folders, list_images, open_image
from t2t_torch.registry import register_problem

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

NUM_CLASSES = 1000
AREA_RANGE = (0.08, 1.0)  # T2T's _random_crop: area_range, aspect_ratio_range
ASPECT_RANGE = (3 / 4, 4 / 3)
CROP_ATTEMPTS = 10
EVAL_MARGIN = 32  # T2T's preprocess_for_eval: the shorter side is resized to image_size + 32 before the centre crop
INDEX_FORMAT = 1
SPLIT_FOLDERS = {"train": "train", "dev": "val"}
LAYOUT = ("lay ImageNet out as <root>/train/<wnid>/*.JPEG and <root>/val/<wnid>/*.JPEG (torchvision.datasets."
          "ImageNet(<root>, split='train') and split='val' build it from ILSVRC2012_img_train.tar,"
          " ILSVRC2012_img_val.tar and ILSVRC2012_devkit_t12.tar.gz)")


def random_area_box(width: int, height: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of T2T's Inception crop: area fraction uniform in AREA_RANGE, aspect ratio
    log-uniform in ASPECT_RANGE, placed uniformly; the centre square when CROP_ATTEMPTS boxes do not fit."""
    for _ in range(CROP_ATTEMPTS):
        area = width * height * rng.uniform(*AREA_RANGE)
        aspect = math.exp(rng.uniform(math.log(ASPECT_RANGE[0]), math.log(ASPECT_RANGE[1])))
        box_w, box_h = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
        if 0 < box_w <= width and 0 < box_h <= height:
            top, left = int(rng.integers(0, height - box_h + 1)), int(rng.integers(0, width - box_w + 1))
            return left, top, left + box_w, top + box_h
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


def train_view(image: Image.Image, size: int, rng: np.random.Generator) -> np.ndarray:
    """The random-area crop of `image` resized to size x size, flipped left-right with probability 1/2."""
    from PIL import Image

    crop = image.resize((size, size), Image.Resampling.BICUBIC, box=random_area_box(image.width, image.height, rng))
    if rng.integers(0, 2):
        crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return np.asarray(crop, dtype=np.uint8)


def eval_view(image: Image.Image, size: int) -> np.ndarray:
    """T2T's eval view: the shorter side resized (bicubic) to size + 32, then the centre size x size."""
    from PIL import Image

    short = size + EVAL_MARGIN
    if image.height > image.width:
        shape = (short, int(image.height / image.width * short))
    else:
        shape = (int(image.width / image.height * short), short)
    resized = image.resize(shape, Image.Resampling.BICUBIC)
    left, top = (shape[0] - size + 1) // 2, (shape[1] - size + 1) // 2
    return np.asarray(resized.crop((left, top, left + size, top + size)), dtype=np.uint8)


@dataclass(frozen=True)
class ImageFile:
    """An image served undecoded: `preprocess_example` decodes it; as a numpy array it is its eval view."""

    path: str
    size: int

    def decode(self) -> Image.Image:
        return open_image(Path(self.path), "RGB", "replace or delete it, then rerun (its index is rebuilt)")[0]

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        return np.asarray(eval_view(self.decode(), self.size), dtype=dtype)


class ImageFileDataset(torch.utils.data.Dataset):
    """The examples of an index: {"inputs": ImageFile, "targets": int64 class id}."""

    def __init__(self, folder: Path, paths: np.ndarray, labels: np.ndarray, size: int) -> None:
        self.prefix, self.paths, self.labels, self.size = os.path.join(str(folder), ""), paths, labels, size

    @property
    def features(self) -> tuple[str, ...]:
        return ("inputs", "targets")

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, Any]:
        path = self.prefix + self.paths[index].decode("utf-8")
        return {"inputs": ImageFile(path, self.size), "targets": np.asarray(self.labels[index], dtype=np.int64)}

    def lengths(self, feature: str | None = None) -> np.ndarray:
        return np.ones(len(self), dtype=np.int64)


@register_problem()
class ImageImagenet(Image2ClassProblem):
    """ImageNet from a local folder (train/<wnid>/, val/<wnid>/), decoded as served: Inception crop + flip."""

    requires_download: ClassVar[bool] = True  # needs the user's copy (no download)
    data_files: ClassVar[Any] = None  # {root: <folder with train/ and val/>}
    image_size: ClassVar[int] = 224
    config_keys = ("data_files", "image_size")
    serve_time_keys = ("data_files", "image_size")

    def __init__(self, was_reversed: bool = False, **config: Any) -> None:
        super().__init__(was_reversed, **config)
        if isinstance(self.image_size, bool) or not isinstance(self.image_size, int) or self.image_size < 1:
            raise T2TUserError(f"problem.image_size of {self.name} must be a number of pixels, got"
                               f" {self.image_size!r}")
        self.root()

    def root(self) -> Path | None:
        files = self.data_files
        if files is None:
            return None
        if not (isinstance(files, Mapping) and set(files) == {"root"}):
            raise T2TUserError(f"problem.data_files of {self.name} must be {{root: <folder with train/ and val/>}},"
                               f" got {files!r}")
        return Path(str(files["root"])).expanduser()

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.image_size, self.image_size, 3

    @property
    def augments(self) -> bool:
        return True  # every split is decoded in preprocess_example

    def folder(self, split: str) -> Path:
        root = self.root()
        if root is None:
            raise T2TUserError(f"problem {self.name} reads an ImageNet you already have (no download: image-net.org"
                               f" needs a login): pass problem.data_files={{root: <folder>}} and {LAYOUT}")
        return root / SPLIT_FOLDERS[split]

    def class_names(self) -> tuple[str, ...]:
        """The sorted wnids of train/, which must be ImageNet's 1000."""
        names = class_folders(self.folder("train"), "problem.data_files train", f"; {LAYOUT}")
        if len(names) != NUM_CLASSES:
            raise T2TUserError(f"{self.folder('train')} holds {len(names)} class folders, ImageNet has {NUM_CLASSES}:"
                               " finish extracting it (ILSVRC2012_img_train.tar holds one tar per class), or use"
                               " problem=image_folder for a subset")
        return tuple(names)

    def index_entries(self, split: str) -> list[tuple[str, int]]:
        known = list(self.class_names())
        folder = self.folder(split)
        setting = f"problem.data_files {SPLIT_FOLDERS[split]}"
        classes = known if split == "train" else class_folders(folder, setting, f"; {LAYOUT}")
        return list_images(folder, classes, setting, known=known)

    def index_folder(self, split: str, data_dir: Path, entries: list[tuple[str, int]]) -> Path:
        """The index's folder under data_dir, named by a hash of the listing (the images are read when served)."""
        blob = json.dumps([INDEX_FORMAT, type(self).__qualname__, self.cache_version, split, self.class_names(),
                           entries])
        return self.cache_dir(data_dir) / f"{split}.{hashlib.sha256(blob.encode()).hexdigest()[:16]}"

    def generate_data(self, data_dir: str | Path) -> None:
        data_dir = check_data_dir(data_dir)
        listings = {split: self.index_entries(split) for split in self.splits}  # every layout checked first
        for split, entries in listings.items():
            folder = self.index_folder(split, data_dir, entries)
            folder.parent.mkdir(parents=True, exist_ok=True)
            with FileLock(str(folder) + ".lock"):
                if (folder / "manifest.json").is_file():
                    continue
                folder.mkdir(exist_ok=True)
                paths = np.array([relative.encode("utf-8") for relative, _ in entries], dtype=bytes)
                np.save(folder / "paths.tmp.npy", paths)
                np.save(folder / "labels.tmp.npy", np.array([label for _, label in entries], dtype=np.int64))
                os.replace(folder / "paths.tmp.npy", folder / "paths.npy")
                os.replace(folder / "labels.tmp.npy", folder / "labels.npy")
                manifest = {"format": INDEX_FORMAT, "num_examples": len(entries), "split": split}
                (folder / "manifest.tmp.json").write_text(json.dumps(manifest), encoding="utf-8")
                os.replace(folder / "manifest.tmp.json", folder / "manifest.json")
                log.info("Indexed %d images of %s/%s into %s", len(entries), self.name, split, folder)

    def dataset(self, split: str, data_dir: str | Path) -> ImageFileDataset:
        if split not in self.splits:
            raise T2TUserError(f"problem {self.name} has no split '{split}'; its splits: {', '.join(self.splits)}")
        folder = self.index_folder(split, Path(data_dir), self.index_entries(split))
        if not (folder / "manifest.json").is_file():
            raise T2TUserError(f"no prepared index for {self.name}/{split} in {data_dir} (or the folder changed"
                               f" since): run `t2t-datagen problem={self.name} data_dir={data_dir}` (train.py does"
                               " this itself)")
        try:
            paths, labels = np.load(folder / "paths.npy"), np.load(folder / "labels.npy")
        except (OSError, ValueError) as error:
            raise T2TUserError(f"corrupt index in {folder} ({error}): delete it and rerun") from None
        if len(paths) != len(labels):
            raise T2TUserError(f"corrupt index in {folder} ({len(paths)} paths, {len(labels)} labels): delete it")
        return ImageFileDataset(self.folder(split), paths, labels, self.image_size)

    def preprocess_example(self, example: dict[str, Any], split: str, rng: Any) -> dict[str, Any]:
        """Decode the image: the Inception crop + flip on `train`, the eval view on `dev`."""
        image = example["inputs"].decode()
        pixels = train_view(image, self.image_size, rng) if split == "train" else eval_view(image, self.image_size)
        return {**example, "inputs": pixels}


class DownsampledImagenet(Image2ClassProblem):
    """Chrabaszcz et al.'s downsampled ImageNet npz files, from `data_files={root: <folder>}`."""

    requires_download: ClassVar[bool] = True  # image-net.org needs a login
    size: ClassVar[int] = 32
    class_labels = tuple(str(label) for label in range(1, NUM_CLASSES + 1))  # the files' own ids
    augment_flip = True
    data_files: ClassVar[Any] = None
    config_keys = ("data_files", *AUGMENT_KEYS)
    serve_time_keys = ("data_files", *AUGMENT_KEYS)  # the files count by their content

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.size, self.size, 3

    def where_to_get(self) -> str:
        return (f"download the Downsampled ImageNet {self.size}x{self.size} train and val npz archives from"
                f" https://image-net.org/download-images.php (a login is needed), unzip them into one folder and pass"
                f" problem.data_files={{root: <that folder>}}")

    def root(self) -> Path:
        files = self.data_files
        if files is None:
            raise T2TUserError(f"problem {self.name} has no download: {self.where_to_get()}")
        if not (isinstance(files, Mapping) and set(files) == {"root"}):
            raise T2TUserError(f"problem.data_files of {self.name} must be {{root: <folder>}}, got {files!r}")
        return Path(str(files["root"])).expanduser()

    def files(self, split: str) -> list[Path]:
        """train: every train_data_batch_<n>.npz under the root, by n; dev: val_data.npz."""
        root = self.root()
        if split == "train":
            found = sorted(root.rglob("train_data_batch_*.npz"), key=lambda p: int(re.sub(r"\D", "", p.stem) or 0))
        else:
            found = sorted(root.rglob("val_data.npz"))[:1]
        if not found:
            name = "train_data_batch_<n>.npz" if split == "train" else "val_data.npz"
            raise T2TUserError(f"problem.data_files root '{root}' of {self.name} holds no {name}:"
                               f" {self.where_to_get()}")
        return found

    def input_identity(self, split: str, data_dir: Path) -> Any:
        return [content_sha256(path, self.cache_dir(data_dir) / HASH_MEMO) for path in self.files(split)]

    def describe_split(self, split: str, data_dir: Path) -> str:
        return f"the {split} split of {self.name}, read from {', '.join(map(str, self.files(split)))},"

    def generate_data(self, data_dir: str | Path) -> None:
        data_dir = check_data_dir(data_dir)
        for split in self.splits:
            self.files(split)  # every split's files are there before any is prepared
        super().generate_data(data_dir)

    def generate_images(self, split: str, data_dir: Path) -> Iterator[tuple[np.ndarray, int]]:
        fix = f"replace it with the original file ({self.where_to_get()})"
        pixels = 3 * self.size * self.size
        for path in self.files(split):
            try:
                with np.load(path, allow_pickle=False) as npz:
                    data, labels = npz["data"], npz["labels"]
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
                reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
                raise T2TUserError(f"{path} is not a readable Downsampled ImageNet npz file ({reason}): {fix}") \
                    from None
            if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != pixels or len(labels) != len(data):
                raise T2TUserError(f"{path} holds {data.dtype} data of shape {data.shape} and {len(labels)} labels,"
                                   f" {self.name} reads N x {pixels} uint8 pixels (3x{self.size}x{self.size}) and N"
                                   f" labels: point problem.data_files at the {self.size}x{self.size} files")
            labels = np.asarray(labels, dtype=np.int64)
            if len(labels) and not (labels.min() >= 1 and labels.max() <= NUM_CLASSES):
                raise T2TUserError(f"{path} holds the label {labels.min() if labels.min() < 1 else labels.max()},"
                                   f" outside the files' 1..{NUM_CLASSES}: {fix}")
            images = data.reshape(len(data), 3, self.size, self.size).transpose(0, 2, 3, 1)
            for image, label in zip(images, labels, strict=True):
                yield np.ascontiguousarray(image), int(label) - 1


@register_problem()
class ImageImagenet32(DownsampledImagenet):
    """Downsampled ImageNet 32x32 (Chrabaszcz et al. 2017, npz files): 1.28M train, the 50k val images as dev."""


@register_problem()
class ImageImagenet64(DownsampledImagenet):
    """Downsampled ImageNet 64x64 (Chrabaszcz et al. 2017, npz files): 1.28M train, the 50k val images as dev."""

    size = 64
