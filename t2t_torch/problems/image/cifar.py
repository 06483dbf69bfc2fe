"""CIFAR-10, CIFAR-100 and its 20 superclasses as image classification problems (ports T2T's
`data_generators/cifar.py`: `image_cifar10`, `image_cifar10_plain`, `image_cifar100`, `image_cifar100_plain`,
`image_cifar20`, `image_cifar20_plain`).

Images are 32x32 RGB. As in T2T the 50k training images are `train` and the 10k test images `dev`. The problems
without `_plain` augment training images as T2T's `cifar_image_augmentation` does: 4 pixels of zero padding, a
random 32x32 crop and a random horizontal flip (`augment_shift=4`, `augment_flip=true`, image_augment.py); the
`_plain` ones do not. A problem and its `_plain` twin share one download and one pixel cache (augmentation
happens as examples are served). T2T's per-image standardization is replaced by the image modality's fixed scaling
to [-1, 1]. `image_cifar20` serves CIFAR-100's `coarse_labels`.

Sources: torchvision's download of the original archive (its md5 checked, then every extracted file's) into
`data_dir/image_cifar10/torchvision/` (`image_cifar100/` for CIFAR-100 and -20), or, offline,
`problem.data_files={root: <folder>}` with the folder holding `cifar-10-batches-py/` (`cifar-100-python/`), being
that folder itself, or holding the original `cifar-10-python.tar.gz` (`cifar-100-python.tar.gz`; `root` may also
name the archive), read without extracting. The batches are the original Python pickles (`data`: N x 3072 uint8,
the red, green then blue 32x32 planes; `labels` / `fine_labels` / `coarse_labels`), unpickled by an unpickler that
only builds numpy arrays, so a file that is not a CIFAR batch cannot run code. The label names are checked against
the release's `batches.meta` / `meta` file, and a missing or damaged file is a one-line error naming it.

Deliberate difference from T2T: T2T's hard-coded CIFAR-100 `class_labels` list the classes in superclass order and
its CIFAR-20 names are reworded, neither matching the ids in the files; the names here are the meta file's own.
T2T's `_tune` variants (48k train / 2k dev held out of train) and the generation variants are not ported.
"""

from __future__ import annotations

import io
import pickle
import tarfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from filelock import FileLock

from t2t_torch.errors import T2TUserError
from t2t_torch.problems.image.image2class import AUGMENT_KEYS, Image2ClassProblem
from t2t_torch.problems.problem import check_data_dir
from t2t_torch.problems.sources.data_files import data_files_root
from t2t_torch.problems.sources.file_identity import HASH_MEMO, content_sha256
from t2t_torch.registry import register_problem_variant

CIFAR10_LABELS = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR100_FINE_LABELS = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle", "bowl", "boy",
    "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle", "chair", "chimpanzee", "clock",
    "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish",
    "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard", "lion",
    "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain", "mouse", "mushroom", "oak_tree", "orange",
    "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree", "plain", "plate", "poppy", "porcupine",
    "possum", "rabbit", "raccoon", "ray", "road", "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk",
    "skyscraper", "snail", "snake", "spider", "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank",
    "telephone", "television", "tiger", "tractor", "train", "trout", "tulip", "turtle", "wardrobe", "whale",
    "willow_tree", "wolf", "woman", "worm")
CIFAR100_COARSE_LABELS = (
    "aquatic_mammals", "fish", "flowers", "food_containers", "fruit_and_vegetables", "household_electrical_devices",
    "household_furniture", "insects", "large_carnivores", "large_man-made_outdoor_things",
    "large_natural_outdoor_scenes", "large_omnivores_and_herbivores", "medium_mammals", "non-insect_invertebrates",
    "people", "reptiles", "small_mammals", "trees", "vehicles_1", "vehicles_2")
IMAGE_SIZE = 32


@dataclass(frozen=True)
class CifarRelease:
    """One of the two archives and the label set read from it."""

    torchvision_class: str  # the torchvision.datasets class whose url and md5 sums are used
    archive: str  # the original archive's file name
    folder: str  # the folder inside the archive
    files: Mapping[str, tuple[str, ...]]  # split -> batch files
    meta: str  # the file of label names
    names_key: str  # the label names in `meta`
    labels_key: str  # the labels in each batch
    cache_name: str  # the folder under data_dir shared by the problems of this archive


CIFAR10 = CifarRelease("CIFAR10", "cifar-10-python.tar.gz", "cifar-10-batches-py",
                       {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "dev": ("test_batch",)},
                       "batches.meta", "label_names", "labels", "image_cifar10")
CIFAR100 = CifarRelease("CIFAR100", "cifar-100-python.tar.gz", "cifar-100-python",
                        {"train": ("train",), "dev": ("test",)}, "meta", "fine_label_names", "fine_labels",
                        "image_cifar100")
CIFAR20 = replace(CIFAR100, names_key="coarse_label_names", labels_key="coarse_labels")

# What a CIFAR pickle may build: numpy arrays (and bytes, which protocol 2 pickles through _codecs.encode).
_ALLOWED = {("numpy._core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "scalar"), ("numpy", "ndarray"),
            ("numpy", "dtype"), ("_codecs", "encode")}


class _ArraysOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        module = module.replace("numpy.core", "numpy._core")  # files pickled by numpy 1 name the old package
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"it pickles {module}.{name}, not numpy arrays")
        return super().find_class(module, name)


def unpickle_batch(raw: bytes, where: str, fix: str) -> dict[str, Any]:
    """The dict a CIFAR pickle holds (Python 2 pickles: latin-1 strings, as the originals are read)."""
    try:
        batch = _ArraysOnlyUnpickler(io.BytesIO(raw), encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise T2TUserError(f"{where} is not a readable CIFAR batch ({reason}): {fix}") from None
    if not isinstance(batch, dict):
        raise T2TUserError(f"{where} holds a {type(batch).__name__}, not a CIFAR batch dict: {fix}")
    return batch


def batch_arrays(batch: dict[str, Any], labels_key: str, where: str, fix: str) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 images (N, 32, 32, 3), int64 labels (N,)) of an unpickled batch: its planar rows made HWC."""
    data, labels = batch.get("data"), batch.get(labels_key)
    size = 3 * IMAGE_SIZE * IMAGE_SIZE
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != size:
        shape = getattr(data, "shape", None)
        raise T2TUserError(f"{where} has no uint8 'data' of N x {size} pixels (found {shape}): {fix}")
    if labels is None or len(labels) != len(data):
        raise T2TUserError(f"{where} holds {len(data)} images but {0 if labels is None else len(labels)}"
                           f" '{labels_key}': {fix}")
    images = data.reshape(len(data), 3, IMAGE_SIZE, IMAGE_SIZE).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), np.asarray(labels, dtype=np.int64)


class CifarProblem(Image2ClassProblem):
    """A CIFAR label set: torchvision's download or `data_files={root: <folder or archive>}`."""

    requires_download: ClassVar[bool] = True
    release: ClassVar[CifarRelease] = CIFAR10
    image_shape = (IMAGE_SIZE, IMAGE_SIZE, 3)
    class_labels = CIFAR10_LABELS
    augment_shift = 4  # T2T's cifar_image_augmentation: pad 4, crop 32x32, flip
    augment_flip = True
    data_files: ClassVar[Any] = None  # {root: <folder or .tar.gz>}: read it instead of downloading
    config_keys = ("data_files", *AUGMENT_KEYS)
    serve_time_keys = ("data_files", *AUGMENT_KEYS)  # local files count by their content

    def __init__(self, was_reversed: bool = False, **config: Any) -> None:
        super().__init__(was_reversed, **config)
        self.local_root()  # a malformed setting fails now, before any work

    def local_root(self) -> Path | None:
        return data_files_root(self, f"folder holding {self.release.folder}/ or {self.release.archive}")

    def cache_dir(self, data_dir: str | Path) -> Path:
        return Path(data_dir) / self.release.cache_name  # shared with the `_plain` twin (and CIFAR-100 / -20)

    def download_root(self, data_dir: Path) -> Path:
        return self.cache_dir(data_dir) / "torchvision"

    def source(self, data_dir: Path) -> Path:
        """The folder of the batch files or the archive holding them; a one-line error when there is neither."""
        root, release = self.local_root(), self.release
        if root is None:
            return self.download_root(data_dir) / release.folder
        if root.is_file():
            return root
        for candidate in (root / release.folder, root):
            if (candidate / release.meta).is_file():
                return candidate
        if (root / release.archive).is_file():
            return root / release.archive
        raise T2TUserError(f"problem.data_files root '{root}' of {self.name} holds neither {release.folder}/ (with"
                           f" {release.meta}) nor {release.archive}: point it at the folder holding one of them")

    def fix(self, data_dir: Path) -> str:
        if self.local_root() is None:
            return f"delete {self.download_root(data_dir)} to download it again"
        return f"replace it with the original file from {self.release.archive}"

    def split_files(self, split: str) -> tuple[str, ...]:
        return (*self.release.files[split], self.release.meta)

    def read_files(self, names: tuple[str, ...], data_dir: Path) -> dict[str, bytes]:
        """The bytes of the release's files `names`, from its folder or in one pass over its archive."""
        source, fix = self.source(data_dir), self.fix(data_dir)
        if source.is_dir():
            return {name: self.folder_file(source, name, fix).read_bytes() for name in names}
        wanted = {f"{self.release.folder}/{name}": name for name in names}
        found: dict[str, bytes] = {}
        try:
            with tarfile.open(source, "r:gz") as archive:
                for member in archive:
                    if member.name in wanted and member.isfile():
                        found[wanted[member.name]] = archive.extractfile(member).read()
        except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise T2TUserError(f"{source} is not a readable {self.release.archive} ({reason}): {fix}") from None
        missing = [member for member, name in wanted.items() if name not in found]
        if missing:
            raise T2TUserError(f"{source} has no {missing[0]}: {fix}")
        return found

    def folder_file(self, folder: Path, name: str, fix: str) -> Path:
        path = folder / name
        if not path.is_file():
            held = dict.fromkeys(n for split in self.splits for n in self.split_files(split))
            raise T2TUserError(f"{folder} has no {name} (the {self.release.folder} folder of {self.release.archive}"
                               f" holds {', '.join(held)}): {fix}")
        return path

    def input_identity(self, split: str, data_dir: Path) -> Any:
        if self.local_root() is None:  # a download is named by the md5 sum torchvision checks
            import torchvision.datasets

            return ["torchvision", self.release.torchvision_class,
                    getattr(torchvision.datasets, self.release.torchvision_class).tgz_md5]
        source, memo = self.source(data_dir), self.cache_dir(data_dir) / HASH_MEMO
        if source.is_file():
            return content_sha256(source, memo)
        fix = self.fix(data_dir)
        return [content_sha256(self.folder_file(source, name, fix), memo) for name in self.split_files(split)]

    def fingerprint_parts(self, split: str, data_dir: Path) -> list[Any]:
        """As Image2ClassProblem's, keyed by the label set instead of the class (shared with `_plain`)."""
        return [self.release.labels_key, *super().fingerprint_parts(split, data_dir)[1:]]

    def describe_split(self, split: str, data_dir: Path) -> str:
        return f"the {split} split of {self.name}, read from {self.source(data_dir)},"

    def generate_data(self, data_dir: str | Path) -> None:
        data_dir = check_data_dir(data_dir)
        if self.local_root() is None:
            self.download(data_dir)
        for split in self.splits:
            self.input_identity(split, data_dir)  # every file is there before any split is prepared
        super().generate_data(data_dir)

    def download(self, data_dir: Path) -> None:
        """torchvision's download and extraction (once; md5 of the archive and of each file checked), under a lock
        shared by processes."""
        root = self.download_root(data_dir)
        done = root / f".{self.release.folder}.verified"
        if done.is_file():
            return
        root.mkdir(parents=True, exist_ok=True)
        with FileLock(str(root) + ".lock"):
            if done.is_file():
                return
            from urllib.error import URLError

            import torchvision.datasets
            from torchvision.datasets.utils import check_integrity, download_and_extract_archive

            dataset = getattr(torchvision.datasets, self.release.torchvision_class)
            try:
                download_and_extract_archive(dataset.url, str(root), filename=dataset.filename, md5=dataset.tgz_md5,
                                             remove_finished=True)
            except (URLError, OSError, RuntimeError) as error:
                message = (str(error).strip().splitlines() or [type(error).__name__])[0]
                raise T2TUserError(f"could not download {dataset.url} into {root} ({message}): without internet,"
                                   f" pass problem.data_files={{root: <folder holding {self.release.archive} or"
                                   f" {self.release.folder}/>}}") from None
            for name, md5 in [*dataset.train_list, *dataset.test_list, [dataset.meta["filename"], dataset.meta["md5"]]]:
                if not check_integrity(str(root / self.release.folder / name), md5):
                    raise T2TUserError(f"{root / self.release.folder / name} does not have the md5 sum torchvision"
                                       f" expects: delete {root} to download it again")
            done.touch()

    def generate_arrays(self, split: str, data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
        names = self.split_files(split)
        raw = self.read_files(names, data_dir)
        source, fix = self.source(data_dir), self.fix(data_dir)
        meta_where = f"{source}:{self.release.meta}" if source.is_file() else str(source / self.release.meta)
        meta = unpickle_batch(raw[self.release.meta], meta_where, fix)
        names_found = tuple(meta.get(self.release.names_key) or ())
        if names_found != self.class_names():
            raise T2TUserError(f"{meta_where} names the classes {', '.join(names_found[:4]) or 'nothing'} ..., not"
                               f" the {self.num_classes} of the original release ({', '.join(self.class_names()[:4])}"
                               f" ...): {fix}")
        images, labels = [], []
        for name in self.release.files[split]:
            where = f"{source}:{name}" if source.is_file() else str(source / name)
            batch_images, batch_labels = batch_arrays(unpickle_batch(raw[name], where, fix), self.release.labels_key,
                                                      where, fix)
            images.append(batch_images)
            labels.append(batch_labels)
        return np.concatenate(images), np.concatenate(labels)


# T2T's CIFAR problems, one registration each: a release and its labels; every `_plain` twin is the same data without
# augmentation (it shares the download and the pixel cache).
for _name, _release, _labels, _doc in (
    ("image_cifar10", CIFAR10, CIFAR10_LABELS,
     "CIFAR-10, 32x32 RGB, 10 classes: 50k train, the 10k test images as dev"),
    ("image_cifar100", CIFAR100, CIFAR100_FINE_LABELS, "CIFAR-100, 32x32 RGB, 100 fine classes: 50k train, the"
     " 10k test images as dev"),
    ("image_cifar20", CIFAR20, CIFAR100_COARSE_LABELS, "CIFAR-100's images with its 20 coarse (superclass) labels"),
):
    register_problem_variant(_name, CifarProblem, f"{_doc}; T2T's pad-crop-flip augmentation.", release=_release,
                             class_labels=_labels)
    register_problem_variant(f"{_name}_plain", CifarProblem, f"{_doc}; no augmentation.", release=_release,
                             class_labels=_labels, augment_shift=0, augment_flip=False)
