"""Image classification problems (ports T2T's `data_generators/image_utils.py` `Image2ClassProblem` and
`data_generators/mnist.py` `image_mnist`, `image_fashion_mnist`), plus `image_digits`, an offline twin of MNIST.

An `Image2ClassProblem` serves uint8 images (H, W, C) as `inputs` (the image modality) and one class id as `targets`
(the class-label modality), batched by a number of images (T2T's `batch_size_means_tokens=False`); the class names
are in the spec's `extra["labels"]`. A subclass sets `image_shape` and `class_labels` and writes one hook:
`generate_arrays(split, data_dir)` -> (uint8 images (N, H, W, C), integer labels (N,)) when a split fits in memory,
or the lowest-level `generate_images(split, data_dir)`, a generator of (image, label) pairs. A folder of images in
torchvision's ImageFolder layout is `ImageFolderProblem` (image_folder.py). Images are decoded once into the
example cache; augmentation happens as examples are served (`preprocess_example`), never in the cache:
`augment_shift=k` translates each training image by up to k pixels (zero padding, then a random crop back to
H x W) and `augment_flip=true` mirrors it with probability 1/2, drawn from the numpy generator the data loader
passes (image_augment.py: T2T's CIFAR augmentation is k=4 with flips), so it is the same after a resume;
`augment_on_device=true` keeps those draws but leaves the pixel work to `finish_batch`, on the whole batch on the
training device (scripts/bench_vision.py measures both). T2T's
MNIST problems do no augmentation (both off by default); their per-image standardization is replaced by the
image modality's fixed scaling to [-1, 1]. Image-to-class problems have no `_rev` (T2T's label-to-image
generation problems are not ported).

MNIST and Fashion-MNIST come from torchvision's downloaders (into `data_dir/<name>/torchvision/`) or, without
internet, from a local folder holding the four IDX files (`problem.data_files={root: <folder>}`, e.g. Debian's
`dataset-fashion-mnist` in /usr/share/datasets/fashion-mnist), read by the IDX parser below, gzipped or not. As in
T2T, the 60k training images are the `train` split and the 10k test images the `dev` split. Caches are keyed by
the sha256 of the local files (or by the md5 sums torchvision checks on download).

`image_digits` is scikit-learn's 1,797 8x8 digits (intensities 0..16 scaled to 0..255), which ship inside the
installed package: every `dev_every`-th image (indices 0, 5, 10, ... by default) is the `dev` split.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from filelock import FileLock

from t2t_torch.errors import T2TUserError
from t2t_torch.problems import image_augment
from t2t_torch.problems.file_identity import HASH_MEMO, content_sha256
from t2t_torch.problems.problem import CachedProblem, check_data_dir
from t2t_torch.registry import register_problem
from t2t_torch.spec import FeatureSpec, ProblemSpec, class_label_feature

IDX_UBYTE = 0x08  # the IDX type code of unsigned bytes, the only one MNIST's files use
# split -> (images, labels): the base names of the IDX files, as torchvision and Debian's packages name them.
MNIST_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
               "dev": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
DIGIT_LABELS = tuple(str(digit) for digit in range(10))
# The serve-time augmentation settings of every image problem (never part of a cache's identity).
AUGMENT_KEYS = ("augment_shift", "augment_flip", "augment_on_device")
AUGMENT_PARAMS = "augment_params"  # the batch key of (top, left, flipped) per image, with augment_on_device


def read_idx(path: str | Path, ndim: int, fix: str = "replace it with the original file") -> np.ndarray:
    """The uint8 array of an IDX file (gzipped or not): 2 zero bytes, the type code, the number of dimensions,
    each dimension as a big-endian uint32, then the data. A one-line error naming the file when it is not one."""
    path = Path(path)

    def bad(reason: str) -> T2TUserError:
        return T2TUserError(f"{path} is not a valid IDX file ({reason}): {fix}")

    try:
        with open(path, "rb") as handle:
            gzipped = handle.read(2) == b"\x1f\x8b"
        with (gzip.open(path, "rb") if gzipped else open(path, "rb")) as handle:
            raw = handle.read()
    except (OSError, EOFError, zlib.error) as error:  # gzip.BadGzipFile is an OSError
        message = (str(error).splitlines() or [type(error).__name__])[0]
        raise bad(f"unreadable: {message}") from None
    if len(raw) < 4 or raw[0] or raw[1]:
        raise bad("no IDX header")
    if raw[2] != IDX_UBYTE:
        raise bad(f"type code 0x{raw[2]:02x}, expected unsigned bytes 0x{IDX_UBYTE:02x}")
    if raw[3] != ndim:
        raise bad(f"{raw[3]} dimensions, expected {ndim}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise bad("truncated header")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    if len(raw) - header != math.prod(dims):
        raise bad(f"{len(raw) - header} data bytes, its header announces {'x'.join(map(str, dims))}"
                  f" = {math.prod(dims)}: truncated or padded")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def data_files_root(problem: Any, what: str) -> Path | None:
    """The path of `problem.data_files` given as `{root: <path>}` (or the bare path); None when it is unset (the
    problem downloads); a one-line error describing `what` the root must be otherwise."""
    files = problem.data_files
    if files is None:
        return None
    if isinstance(files, Mapping) and set(files) == {"root"}:
        files = files["root"]
    if not isinstance(files, (str, Path)):
        raise T2TUserError(f"problem.data_files of {problem.name} must be {{root: <{what}>}}, got {files!r}")
    return Path(files).expanduser()


class Image2ClassProblem(CachedProblem):
    """Base of image -> class problems: a subclass sets `image_shape` and `class_labels` and writes
    `generate_arrays` (a split in memory) or `generate_images` (a generator of pairs)."""

    input_modality = "image"
    target_modality = "class_label"
    batch_size_means_tokens = False  # hparams.batching.batch_size counts images
    eval_metrics = ("accuracy", "accuracy_top5")
    reversible: ClassVar[bool] = False  # label -> image generation is not ported: no `_rev`
    image_shape: ClassVar[tuple[int, int, int]] = (28, 28, 1)
    class_labels: ClassVar[tuple[str, ...]] = DIGIT_LABELS
    augment_shift: ClassVar[int] = 0  # training images translated by up to this many pixels (0: none)
    augment_flip: ClassVar[bool] = False  # training images mirrored left-right with probability 1/2
    augment_on_device: ClassVar[bool] = False  # the loader only draws; finish_batch crops/flips the batch there
    config_keys = AUGMENT_KEYS
    serve_time_keys: ClassVar[tuple[str, ...]] = AUGMENT_KEYS  # not in the cache's identity

    def __init__(self, was_reversed: bool = False, **config: Any) -> None:
        super().__init__(was_reversed, **config)  # `_rev`: a one-line error there (`reversible` is False)
        if isinstance(self.augment_shift, bool) or not isinstance(self.augment_shift, int) or self.augment_shift < 0:
            raise T2TUserError(f"problem.augment_shift of {self.name} must be a whole number of pixels >= 0,"
                               f" got {self.augment_shift!r}")
        for key in ("augment_flip", "augment_on_device"):
            if not isinstance(getattr(self, key), bool):
                raise T2TUserError(f"problem.{key} of {self.name} must be true or false, got {getattr(self, key)!r}")

    def class_names(self) -> tuple[str, ...]:
        """The name of each class id (`class_labels`; problems whose classes come from their data override it)."""
        return tuple(self.class_labels)

    @property
    def num_classes(self) -> int:
        return len(self.class_names())

    def stored_spec(self, data_dir: str | Path | None) -> ProblemSpec:
        labels = self.class_names()
        image = FeatureSpec("image", vocab_size=256, shape=tuple(self.image_shape), dtype="uint8", pad_value=0,
                            append_eos=False)
        return ProblemSpec(features={"inputs": image, "targets": class_label_feature(len(labels))},
                           batch_size_means_tokens=False, eval_metrics=self.eval_metrics,
                           decode_metrics=self.decode_metrics, extra={"labels": list(labels)})

    # Serving ----------------------------------------------------------------------------------------------------
    @property
    def augments(self) -> bool:
        return self.augment_shift > 0 or self.augment_flip

    def preprocess_example(self, example: dict[str, Any], split: str, rng: Any) -> dict[str, Any]:
        """On `train` only: a random shift by up to `augment_shift` pixels and, with `augment_flip`, a random
        horizontal flip (image_augment.py; T2T's MNIST problems: neither)."""
        if split != "train" or not self.augments:
            return example
        aug = image_augment.draw(rng, self.augment_shift, self.augment_flip)
        if self.augment_on_device:  # the same draws, applied to the whole batch by finish_batch
            return {**example, AUGMENT_PARAMS: np.asarray(aug, dtype=np.int64)}
        return {**example, "inputs": image_augment.apply(example["inputs"], aug, self.augment_shift)}

    def finish_batch(self, batch: dict[str, Any]) -> dict[str, Any]:
        """With `augment_on_device`: the training batch cropped and flipped on its device, from the draws
        `preprocess_example` left (the same pixels as the per-example path)."""
        if AUGMENT_PARAMS not in batch:
            return batch
        batch = dict(batch)
        params = batch.pop(AUGMENT_PARAMS)
        batch["inputs"] = image_augment.apply_batch(batch["inputs"], params, self.augment_shift)
        return batch

    # Preparation ------------------------------------------------------------------------------------------------
    def generate_arrays(self, split: str, data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
        """(uint8 images (N, H, W, C) of `image_shape`, integer class ids (N,)) of `split`."""
        raise NotImplementedError(f"problem {self.name} writes neither generate_arrays nor generate_images")

    def generate_images(self, split: str, data_dir: Path) -> Iterator[tuple[np.ndarray, int]]:
        """Yield (uint8 image of `image_shape`, class id) pairs of `split` (default: from `generate_arrays`)."""
        images, labels = self.generate_arrays(split, data_dir)
        images, labels = np.asarray(images), np.asarray(labels)
        where = f"generate_arrays of {self.name} ({split})"
        if images.dtype != np.uint8 or images.shape[1:] != tuple(self.image_shape):
            raise T2TUserError(f"{where} returned {images.dtype} images of shape {images.shape}, the problem declares"
                               f" uint8 (N, {', '.join(map(str, self.image_shape))}): fix the images or image_shape")
        if not np.issubdtype(labels.dtype, np.integer) or labels.shape != (len(images),):
            raise T2TUserError(f"{where} returned {labels.dtype} labels of shape {labels.shape} for {len(images)}"
                               f" images: return one integer class id per image")
        for image, label in zip(images, labels, strict=True):
            yield image, int(label)

    def generate_encoded_samples(self, split: str, data_dir: Path) -> Iterator[dict[str, Any]]:
        num_classes = self.num_classes
        for image, label in self.generate_images(split, data_dir):
            if not 0 <= int(label) < num_classes:
                raise T2TUserError(f"{self.describe_split(split, data_dir)} holds the label {int(label)}, outside"
                                   f" the {num_classes} classes of {self.name}: fix its label file")
            yield {"inputs": image, "targets": int(label)}

    def input_identity(self, split: str, data_dir: Path) -> Any:
        """What the images of `split` are read from, by content (overridden by each problem)."""
        return None

    def fingerprint_parts(self, split: str, data_dir: Path) -> list[Any]:
        settings = {k: v for k, v in self.config().items() if k not in self.serve_time_keys}
        return [type(self).__qualname__, self.cache_version, settings, split, self.input_identity(split, data_dir)]


class MnistProblem(Image2ClassProblem):
    """MNIST-format problems: torchvision's download or `data_files={root: <folder with the four IDX files>}`."""

    requires_download: ClassVar[bool] = True
    torchvision_class: ClassVar[str] = "MNIST"  # the torchvision.datasets class that downloads it
    data_files: ClassVar[Any] = None  # {root: <folder>} (or the folder itself): read it instead of downloading
    config_keys = ("data_files", *AUGMENT_KEYS)
    serve_time_keys = ("data_files", *AUGMENT_KEYS)  # local files count by their content instead

    def __init__(self, was_reversed: bool = False, **config: Any) -> None:
        super().__init__(was_reversed, **config)
        self.local_root()  # a malformed setting fails now, before any work

    def local_root(self) -> Path | None:
        """The folder of `data_files`, or None when the problem downloads."""
        return data_files_root(self, f"folder with {MNIST_FILES['train'][0]}.gz, ...")

    def download_root(self, data_dir: Path) -> Path:
        """torchvision's `root`: it downloads into `<root>/<class>/raw/`."""
        return self.cache_dir(data_dir) / "torchvision"

    def files_folder(self, data_dir: Path) -> Path:
        local = self.local_root()
        return local if local is not None else self.download_root(data_dir) / self.torchvision_class / "raw"

    def idx_files(self, split: str, data_dir: Path) -> tuple[Path, Path]:
        """(images, labels) of `split`: `<name>` or `<name>.gz` in the files' folder; a one-line error if absent."""
        folder = self.files_folder(data_dir)
        found = []
        for base in MNIST_FILES[split]:
            candidates = [folder / base, folder / f"{base}.gz"]
            path = next((p for p in candidates if p.is_file()), None)
            if path is None:
                where = (f"problem.data_files folder {folder}" if self.local_root() is not None
                         else f"the download folder {folder}")
                raise T2TUserError(f"{where} has no {base}.gz (nor {base}): point problem.data_files={{root: ...}}"
                                   f" at the folder holding the four IDX files of {self.torchvision_class}"
                                   f" ({', '.join(f'{b}.gz' for pair in MNIST_FILES.values() for b in pair)})")
            found.append(path)
        return found[0], found[1]

    def generate_data(self, data_dir: str | Path) -> None:
        data_dir = check_data_dir(data_dir)
        if self.local_root() is None:
            self.download(data_dir)
        elif not self.local_root().is_dir():
            raise T2TUserError(f"problem.data_files root '{self.local_root()}' of {self.name} is not a folder: pass"
                               f" the folder holding the four IDX files")
        for split in self.splits:
            self.idx_files(split, data_dir)  # every file is there before any split is prepared
        super().generate_data(data_dir)

    def download(self, data_dir: Path) -> None:
        """torchvision's download (only when its files are not there yet), under a lock shared by processes."""
        root = self.download_root(data_dir)
        raw = root / self.torchvision_class / "raw"
        if all((raw / base).is_file() for pair in MNIST_FILES.values() for base in pair):
            return
        root.mkdir(parents=True, exist_ok=True)
        with FileLock(str(root) + ".lock"):
            from urllib.error import URLError

            import torchvision.datasets  # slow to import: only when a problem downloads

            try:
                getattr(torchvision.datasets, self.torchvision_class)(str(root), train=True, download=True)
            except (URLError, OSError, RuntimeError) as error:
                message = (str(error).strip().splitlines() or [type(error).__name__])[0]
                raise T2TUserError(
                    f"could not download {self.torchvision_class} into {raw} ({message}): without internet, pass"
                    f" problem.data_files={{root: <folder with {MNIST_FILES['train'][0]}.gz and the other three IDX"
                    f" files>}} (Fashion-MNIST: apt-get install dataset-fashion-mnist, then"
                    f" root=/usr/share/datasets/fashion-mnist)"
                ) from None

    def input_identity(self, split: str, data_dir: Path) -> Any:
        if self.local_root() is None:  # a download is named by the md5 sums torchvision checks
            import torchvision.datasets

            resources = getattr(torchvision.datasets, self.torchvision_class).resources
            return ["torchvision", self.torchvision_class, sorted(md5 for _, md5 in resources)]
        memo = self.cache_dir(data_dir) / HASH_MEMO
        return [content_sha256(path, memo) for path in self.idx_files(split, data_dir)]

    def describe_split(self, split: str, data_dir: Path) -> str:
        images, labels = self.idx_files(split, data_dir)
        return f"the {split} split of {self.name}, read from {images} and {labels},"

    def generate_images(self, split: str, data_dir: Path) -> Iterator[tuple[np.ndarray, int]]:
        images_file, labels_file = self.idx_files(split, data_dir)
        fix = ("replace it with the original file" if self.local_root() is not None
               else f"delete {self.download_root(data_dir)} to download it again")
        images, labels = read_idx(images_file, 3, fix), read_idx(labels_file, 1, fix)
        height, width, _ = self.image_shape
        if images.shape[1:] != (height, width):
            raise T2TUserError(f"{images_file} holds {images.shape[1]}x{images.shape[2]} images, {self.name} reads"
                               f" {height}x{width} ones: point problem.data_files at {self.torchvision_class}'s files")
        if len(images) != len(labels):
            raise T2TUserError(f"{images_file} holds {len(images)} images but {labels_file} {len(labels)} labels:"
                               f" {fix}")
        for image, label in zip(images, labels, strict=True):
            yield image[..., None], int(label)


@register_problem()
class ImageMnist(MnistProblem):
    """MNIST handwritten digits, 28x28 grey: 60k train, the 10k test images as dev (T2T's image_mnist)."""


@register_problem()
class ImageFashionMnist(MnistProblem):
    """Fashion-MNIST clothing images, 28x28 grey, 10 classes: 60k train, the 10k test images as dev."""

    torchvision_class = "FashionMNIST"
    class_labels = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                    "Ankle boot")  # T2T's class_labels


@register_problem()
class ImageDigits(Image2ClassProblem):
    """scikit-learn's 1,797 8x8 digits (no download): every dev_every-th image (0, 5, 10, ...) is dev."""

    image_shape = (8, 8, 1)
    dev_every: ClassVar[int] = 5
    config_keys = ("dev_every", *AUGMENT_KEYS)

    def __init__(self, was_reversed: bool = False, **config: Any) -> None:
        super().__init__(was_reversed, **config)
        if isinstance(self.dev_every, bool) or not isinstance(self.dev_every, int) or self.dev_every < 2:
            raise T2TUserError(f"problem.dev_every of {self.name} must be a whole number >= 2 (every n-th image is"
                               f" dev), got {self.dev_every!r}")

    @staticmethod
    def source_file() -> Path:
        """The CSV scikit-learn's `load_digits` reads."""
        import sklearn.datasets

        return Path(sklearn.datasets.__file__).parent / "data" / "digits.csv.gz"

    def input_identity(self, split: str, data_dir: Path) -> Any:
        return content_sha256(self.source_file(), self.cache_dir(data_dir) / HASH_MEMO)

    def generate_images(self, split: str, data_dir: Path) -> Iterator[tuple[np.ndarray, int]]:
        from sklearn.datasets import load_digits

        digits = load_digits()
        images = np.rint(digits.images * (255 / 16)).clip(0, 255).astype(np.uint8)[..., None]  # 0..16 -> 0..255
        dev = np.arange(len(images)) % self.dev_every == 0
        chosen = dev if split == "dev" else ~dev
        for image, label in zip(images[chosen], digits.target[chosen], strict=True):
            yield image, int(label)
