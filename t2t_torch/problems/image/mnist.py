"""MNIST-format image problems (ports T2T's `data_generators/mnist.py` `image_mnist`, `image_fashion_mnist`), plus
`image_digits`, an offline twin of MNIST.

MNIST and Fashion-MNIST come from torchvision's downloaders (into `data_dir/<name>/torchvision/`) or, without
internet, from a local folder holding the four IDX files (`problem.data_files={root: <folder>}`, e.g. Debian's
`dataset-fashion-mnist` in /usr/share/datasets/fashion-mnist), read by the IDX parser below, gzipped or not. As in
T2T, the 60k training images are the `train` split and the 10k test images the `dev` split. Caches are keyed by
the sha256 of the local files (or by the md5 sums torchvision checks on download). T2T's MNIST problems do no
augmentation (both off by default); their per-image standardization is replaced by the image modality's fixed
scaling to [-1, 1].

`image_digits` is scikit-learn's 1,797 8x8 digits (intensities 0..16 scaled to 0..255), which ship inside the
installed package: every `dev_every`-th image (indices 0, 5, 10, ... by default) is the `dev` split.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from filelock import FileLock

from t2t_torch.errors import T2TUserError
from t2t_torch.problems.image.image2class import AUGMENT_KEYS, Image2ClassProblem
from t2t_torch.problems.problem import check_data_dir
from t2t_torch.problems.sources.data_files import data_files_root
from t2t_torch.problems.sources.file_identity import HASH_MEMO, content_sha256
from t2t_torch.registry import register_problem

IDX_UBYTE = 0x08  # the IDX type code of unsigned bytes, the only one MNIST's files use
# split -> (images, labels): the base names of the IDX files, as torchvision and Debian's packages name them.
MNIST_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
               "dev": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


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
