"""Image classification from a local folder of images in torchvision's ImageFolder layout: `image_folder`, and
`ImageFolderProblem`, the base a user subclasses to register a folder of their own (no T2T counterpart: T2T's
image problems each wrote a generator; this is the image twin of `text2text_files`).

    python train.py problem=image_folder 'problem.data_files={root: ~/flowers}' problem.image_size=64 ...

`problem.data_files={root: <folder>}` with `<folder>/train/<class>/*.jpg` and `<folder>/dev/<class>/*.jpg` (`val/`
is taken when there is no `dev/`; `test/`, when present, is a third split), or `{train: <folder>, dev: <folder>}`
(and `test:`). Class ids follow the sorted names of the train subfolders (as ImageFolder numbers them); dev and
test may lack a class but not add one. Every image is decoded once with PIL, scaled to cover `image_size`
(an int for a square, or [height, width]; default 32, the size of the CIFAR recipes: raise it for photos) and
centre-cropped to it (the view of torchvision's `Resize` + `CenterCrop`), and stored in the uint8 example cache;
`channels` is 3 (RGB) or 1 (grey). The cache is keyed by the content of every image (image_files.folder_digest), so a
rewritten, added, removed or renamed image rebuilds it.

Bad input: a file PIL cannot decode (corrupt, truncated, not an image) is a one-line error naming it, unless
`skip_bad_images=true`, which leaves such files out and logs how many (and the first). An image of another mode
than the problem's (grey, RGBA, palette or CMYK in an RGB problem, colour in a grey one) is converted as
ImageFolder converts it (`.convert("RGB")`; RGBA loses its alpha), and the conversions are counted and logged per
split. A class folder without images, a dev class without a train folder and a split folder without class
folders are one-line errors.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from t2t_torch.errors import T2TUserError
from t2t_torch.problems.image.image2class import AUGMENT_KEYS, Image2ClassProblem
from t2t_torch.problems.problem import check_data_dir
from t2t_torch.problems.sources.file_identity import HASH_MEMO
from t2t_torch.problems.sources.image_files import (
    BadImageError,
    class_folders,
    cover_crop,
    folder_digest,
    list_images,
    open_image,
)
from t2t_torch.registry import register_problem

log = logging.getLogger(__name__)

SPLIT_KEYS = ("train", "dev", "test")
MODES = {3: "RGB", 1: "L"}


class ImageFolderProblem(Image2ClassProblem):
    """Images in class folders, decoded once to `image_size` x `channels` (see the module docstring)."""

    requires_download: ClassVar[bool] = True  # needs the user's folder
    data_files: ClassVar[Any] = None  # {root: <folder with train/ and dev/>} or {train: ..., dev: ..., test: ...}
    image_size: ClassVar[Any] = 32  # an int (square) or [height, width]
    channels: ClassVar[int] = 3  # 3: RGB, 1: grey
    skip_bad_images: ClassVar[bool] = False  # true: leave undecodable files out (counted and logged)
    config_keys = ("data_files", "image_size", "channels", "skip_bad_images", *AUGMENT_KEYS)
    serve_time_keys = ("data_files", *AUGMENT_KEYS)  # the images count by their content

    def __init__(self, was_reversed: bool = False, **config: Any) -> None:
        super().__init__(was_reversed, **config)
        self.height, self.width = self.checked_size()
        if isinstance(self.channels, bool) or self.channels not in MODES:
            raise T2TUserError(f"problem.channels of {self.name} must be 3 (RGB) or 1 (grey), got {self.channels!r}")
        if not isinstance(self.skip_bad_images, bool):
            raise T2TUserError(f"problem.skip_bad_images of {self.name} must be true or false, got"
                               f" {self.skip_bad_images!r}")
        self.folders = self.split_folders()
        self.splits = tuple(split for split in SPLIT_KEYS if split in self.folders) or ("train", "dev")

    def checked_size(self) -> tuple[int, int]:
        size = self.image_size
        pair = list(size) if isinstance(size, (list, tuple)) else [size, size]
        if len(pair) != 2 or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in pair):
            raise T2TUserError(f"problem.image_size of {self.name} must be a number of pixels or [height, width],"
                               f" got {size!r}")
        return pair[0], pair[1]

    def split_folders(self) -> dict[str, Path]:
        """{split: its folder} from `data_files` ({} when it is not set)."""
        files = self.data_files
        if files is None:
            return {}
        if not isinstance(files, Mapping) or not files or not (set(files) == {"root"} or set(files) <= set(SPLIT_KEYS)):
            raise T2TUserError(f"problem.data_files of {self.name} must be {{root: <folder with train/ and dev/>}} or"
                               f" {{train: <folder>, dev: <folder>}} (test: optional), got {files!r}")
        if set(files) != {"root"}:
            if not {"train", "dev"} <= set(files):
                raise T2TUserError(f"problem.data_files of {self.name} names {', '.join(files)}: give both train"
                                   " and dev folders (or {root: <folder with train/ and dev/>})")
            return {split: Path(str(files[split])).expanduser() for split in SPLIT_KEYS if split in files}
        root = Path(str(files["root"])).expanduser()
        dev = root / "val" if (root / "val").is_dir() and not (root / "dev").is_dir() else root / "dev"
        folders = {"train": root / "train", "dev": dev}
        if (root / "test").is_dir():
            folders["test"] = root / "test"
        return folders

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.height, self.width, self.channels

    def folder(self, split: str) -> Path:
        if not self.folders:
            raise T2TUserError(f"problem {self.name} reads a folder of images: pass problem.data_files={{root:"
                               " <folder with train/<class>/*.jpg and dev/<class>/*.jpg>}")
        return self.folders[split]

    def setting(self, split: str) -> str:
        return f"problem.data_files {split}"

    def class_names(self) -> tuple[str, ...]:
        """The sorted class folders of the train split."""
        return tuple(class_folders(self.folder("train"), self.setting("train")))

    def images(self, split: str) -> list[tuple[str, int]]:
        """(path relative to the split's folder, class id) of every image of `split`."""
        folder, known = self.folder(split), list(self.class_names())
        classes = known if split == "train" else class_folders(folder, self.setting(split))
        return list_images(folder, classes, self.setting(split), known=known)

    def input_identity(self, split: str, data_dir: Path) -> Any:
        entries = self.images(split)
        listing = hashlib.sha256(json.dumps(self.class_names()).encode()).hexdigest()
        return [listing, folder_digest(self.folder(split), entries, self.cache_dir(data_dir) / HASH_MEMO)]

    def describe_split(self, split: str, data_dir: Path) -> str:
        return f"the {split} split of {self.name}, read from {self.folder(split)},"

    def generate_data(self, data_dir: str | Path) -> None:
        data_dir = check_data_dir(data_dir)
        for split in self.splits:
            self.images(split)  # every split's layout is checked before any is prepared
        super().generate_data(data_dir)

    def generate_images(self, split: str, data_dir: Path) -> Iterator[tuple[np.ndarray, int]]:
        folder, mode = self.folder(split), MODES[self.channels]
        converted: Counter[str] = Counter()
        skipped: list[str] = []
        fix = "replace or delete it, or pass problem.skip_bad_images=true to leave such files out"
        for relative, label in self.images(split):
            try:
                image, original = open_image(folder / relative, mode, fix)
            except BadImageError:
                if not self.skip_bad_images:
                    raise
                skipped.append(relative)
                continue
            if original != mode:
                converted[original] += 1
            pixels = np.asarray(cover_crop(image, self.height, self.width), dtype=np.uint8)
            yield pixels.reshape(self.image_shape), label
        if converted:
            log.warning("%s/%s: converted %d images to %s (%s), as torchvision's ImageFolder does", self.name, split,
                        sum(converted.values()), mode, ", ".join(f"{n} {m}" for m, n in sorted(converted.items())))
        if skipped:
            log.warning("%s/%s: skipped %d unreadable images (skip_bad_images=true), the first %s", self.name,
                        split, len(skipped), folder / skipped[0])


@register_problem()
class ImageFolder(ImageFolderProblem):
    """Images in class folders of a local folder (train/, dev/), resized and centre-cropped to image_size."""
