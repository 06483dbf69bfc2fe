"""Image files on disk, shared by the folder-based image problems (`image_folder`, `image_imagenet`): the class
folders of torchvision's ImageFolder layout, decoding one file with PIL (with a one-line error naming a broken
file), the resize + crop views, and the content identity of a whole folder of images.

- Layout: `<split>/<class>/**/<image>` as torchvision's `ImageFolder` reads it (its `IMG_EXTENSIONS` and
  `make_dataset`: files of other extensions are ignored, class ids follow the sorted class names). One deliberate
  difference: hidden folders (`.ipynb_checkpoints`, `.DS_Store` folders) are not classes.
- Decoding: `open_image` reads the whole file (so a truncated file fails here, not in a later step) and converts
  it to the problem's mode, "RGB" or "L" (as ImageFolder's `.convert("RGB")`), returning the file's own mode so
  callers can count conversions (grey, RGBA, palette or CMYK images in an RGB problem). RGBA -> RGB drops alpha.
- Views: `cover_crop` scales an image to cover (height, width) and cuts the centre (the view of torchvision's
  `Resize` + `CenterCrop`, computed as one PIL resize of the centre box, so pixels can differ from theirs by a
  few levels); bicubic, antialiased when shrinking.
- Identity: `folder_digest` hashes the sorted (relative path, class, sha256 of bytes) listing; each file's sha256
  is remembered under its stat in the same memo file (and format) as `file_identity.content_sha256`, read and
  written once per folder rather than once per file, with its rule for recently changed files (hashed again).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from t2t_torch.errors import T2TUserError
from t2t_torch.problems.sources.file_identity import RACY_WINDOW_NS, file_sha256, read_memo, write_memo

if TYPE_CHECKING:
    from PIL import Image


class BadImageError(T2TUserError):
    """A file that PIL cannot decode (corrupt, truncated, not an image): its message names the file."""


def class_folders(split_dir: Path, setting: str, hint: str = "") -> list[str]:
    """The sorted, non-hidden subfolder names of `split_dir` (its classes); a one-line error naming the layout (and
    ending in `hint`) when it is not a folder or holds no class folders."""
    if not split_dir.is_dir():
        raise T2TUserError(f"{setting} folder '{split_dir}' does not exist: lay the images out as"
                           f" {split_dir}/<class name>/<image>.jpg{hint}")
    entries = list(os.scandir(split_dir))
    classes = sorted(e.name for e in entries if e.is_dir() and not e.name.startswith("."))
    if not classes:
        flat = sum(1 for e in entries if e.is_file() and is_image_name(e.name))
        held = f"holds {flat} image files but" if flat else "holds"
        raise T2TUserError(f"{setting} folder '{split_dir}' {held} no class folders: move each image into"
                           f" {split_dir}/<class name>/ (torchvision's ImageFolder layout){hint}")
    return classes


def is_image_name(name: str) -> bool:
    from torchvision.datasets.folder import IMG_EXTENSIONS, has_file_allowed_extension

    return has_file_allowed_extension(name, IMG_EXTENSIONS)


def list_images(split_dir: Path, classes: list[str], setting: str, known: list[str] | None = None
                ) -> list[tuple[str, int]]:
    """(path relative to `split_dir`, class id) of every image under the class folders `classes` of `split_dir`,
    in ImageFolder's order. Ids index `known` (the training split's classes; default `classes`): a class of
    `classes` that is not in `known`, or a class folder without images, is a one-line error naming it."""
    from torchvision.datasets.folder import IMG_EXTENSIONS, make_dataset

    known = classes if known is None else known
    unknown = [name for name in classes if name not in known]
    if unknown:
        raise T2TUserError(f"{setting} folder '{split_dir}' has the class folders {', '.join(unknown[:5])}"
                           f"{' ...' if len(unknown) > 5 else ''} that the training split has no folder for:"
                           " rename or remove them (every class must have training images)")
    ids = {name: label for label, name in enumerate(known)}
    index = {name: ids[name] for name in classes}
    found = make_dataset(str(split_dir), index, extensions=IMG_EXTENSIONS, allow_empty=True)
    used = {label for _, label in found}
    empty = [name for name in classes if index[name] not in used]
    if empty:
        raise T2TUserError(f"class folder '{split_dir / empty[0]}' holds no images (extensions"
                           f" {', '.join(IMG_EXTENSIONS)}): add images or remove the folder")
    prefix = os.path.join(str(split_dir), "")
    return [(path[len(prefix):].replace(os.sep, "/"), label) for path, label in found]


def open_image(path: Path, mode: str, fix: str) -> tuple[Image.Image, str]:
    """(the fully decoded image converted to `mode`, the file's own mode); a `BadImageError` naming `path` and
    `fix` when PIL cannot read it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
            original = image.mode
            converted = image if original == mode else image.convert(mode)
            converted.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise BadImageError(f"{path} is not a readable image ({reason}): {fix}") from None
    return converted, original


def cover_crop(image: Image.Image, height: int, width: int) -> Image.Image:
    """`image` scaled (bicubic) to cover height x width, its centre cut out."""
    from PIL import Image

    scale = max(height / image.height, width / image.width)
    box_w, box_h = width / scale, height / scale
    left, top = (image.width - box_w) / 2, (image.height - box_h) / 2
    return image.resize((width, height), Image.Resampling.BICUBIC, box=(left, top, left + box_w, top + box_h))


def folder_digest(root: Path, entries: list[tuple[str, int]], memo_file: Path) -> str:
    """sha256 of the (relative path, class id, sha256 of the file's bytes) of every entry under `root`."""
    memo = read_memo(memo_file)
    started = time.time_ns()
    digest = hashlib.sha256()
    changed_memo = False
    for relative, label in entries:
        path = str((root / relative).resolve())
        stat = os.stat(path)
        key = [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino]
        entry = memo.get(path)
        if isinstance(entry, dict) and entry.get("stat") == key and isinstance(entry.get("sha256"), str):
            sha = entry["sha256"]
        else:
            sha = file_sha256(path)
            settled = started - max(stat.st_mtime_ns, stat.st_ctime_ns) > RACY_WINDOW_NS  # see file_identity
            if settled and os.stat(path).st_ctime_ns == stat.st_ctime_ns:
                memo[path] = {"stat": key, "sha256": sha}
                changed_memo = True
        digest.update(json.dumps([relative, label, sha]).encode())
    if changed_memo:
        write_memo(memo_file, {**read_memo(memo_file), **memo})
    return digest.hexdigest()
