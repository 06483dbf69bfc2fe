"""One split of a dataset on the Hugging Face Hub, loaded with `datasets.load_dataset` into a cache under data_dir
(the download side shared by the translation, language-modelling, classification and summarization problems).

`HFSource(path, name, split, data_files)` names the split; `load(data_dir, hint)` returns the `datasets.Dataset`
(imported lazily: only problems that download pay for it), turning what the Hub raises when it cannot be reached
(`hub_errors`) into one line that ends in `hint` (how to read local files instead); `rows(data_dir, hint,
columns)` streams its rows as dicts, with a one-line error when the dataset lacks a column the problem reads.
`HubProblem` is the mixin of problems whose splits are `sources`: their cache identity and error messages name the
source.
"""

from __future__ import annotations

import importlib
import urllib.error
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from t2t_torch.errors import T2TUserError

HF_CACHE = "hf_datasets"  # under data_dir: the Hugging Face datasets cache
BATCH = 1000  # rows read from the Arrow table at a time
OFFLINE_HINT = "check the connection, or read local files with problem.data_files=..."


def hub_errors() -> tuple[type[BaseException], ...]:
    """What `datasets.load_dataset` raises when the Hub cannot be reached or no longer serves a dataset: the
    builtin ConnectionError (its "Couldn't reach ... on the Hub") and TimeoutError, the Hub client's HTTP errors
    (`huggingface_hub` over httpx2; requests and aiohttp where fsspec reads through them), and a dataset missing on
    the Hub (`DatasetNotFoundError`)."""
    import datasets.exceptions
    import huggingface_hub.errors

    errors: list[type[BaseException]] = [
        ConnectionError, TimeoutError, urllib.error.URLError,
        huggingface_hub.errors.HfHubHTTPError, huggingface_hub.errors.LocalEntryNotFoundError,
        datasets.exceptions.DatasetNotFoundError,
    ]
    for module, name in (("httpx2", "HTTPError"), ("httpx", "HTTPError"), ("requests", "RequestException"),
                         ("aiohttp", "ClientError")):
        try:
            errors.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):  # an optional HTTP client that is not installed
            continue
    return tuple(errors)


@dataclass(frozen=True)
class HFSource:
    """One split of a Hub dataset (`data_files`: a file pattern, for repositories read as plain Parquet files)."""

    path: str
    name: str | None
    split: str
    data_files: str | None = None

    def describe(self) -> str:
        where = self.data_files if self.path == "parquet" and self.data_files else self.path
        return f"{where}" + (f" ({self.name})" if self.name else "") + f" split {self.split}"

    def load(self, data_dir: Path, hint: str = OFFLINE_HINT) -> Any:
        import datasets  # slow to import: only when a problem downloads

        kwargs: dict[str, Any] = {"split": self.split, "cache_dir": str(Path(data_dir) / HF_CACHE)}
        if self.data_files is not None:
            kwargs["data_files"] = {self.split: self.data_files}
        try:
            return datasets.load_dataset(self.path, self.name, **kwargs)
        except hub_errors() as error:  # anything else is a bug and keeps its traceback
            reason = " ".join(str(error).split())[:200]
            raise T2TUserError(f"could not load {self.describe()} ({type(error).__name__}: {reason}): {hint}") \
                from error

    def rows(self, data_dir: Path, hint: str = OFFLINE_HINT, columns: Sequence[str] = ()) -> Iterator[dict[str, Any]]:
        """The split's rows as dicts; a one-line error when one of `columns` is missing."""
        dataset = self.load(data_dir, hint)
        missing = [column for column in columns if column not in dataset.column_names]
        if missing:
            raise T2TUserError(f"{self.describe()} has columns {sorted(dataset.column_names)}, not"
                               f" {', '.join(missing)}: the dataset changed on the Hub; read local files with"
                               " problem.data_files=...")
        for batch in dataset.iter(batch_size=BATCH):
            names = list(batch)
            for values in zip(*(batch[n] for n in names), strict=True):
                yield dict(zip(names, values, strict=True))


def hf_sources(path: str, name: str | None, data_files: str | None = None,
               mapping: dict[str, str] | None = None) -> dict[str, HFSource]:
    """Our splits from a dataset's splits (by default train / validation / test -> train / dev / test);
    `data_files` may hold `{split}` for the dataset's split name."""
    mapping = mapping or {"train": "train", "dev": "validation", "test": "test"}
    return {ours: HFSource(path, name, theirs, data_files.format(split=theirs) if data_files else None)
            for ours, theirs in mapping.items()}


class HubProblem:
    """Mixin (before the problem's base class) for problems whose splits are `sources` on the Hub, or local files
    when `problem.data_files` is given."""

    sources: ClassVar[dict[str, HFSource]] = {}
    data_files: Any
    name: str

    def source_identity(self, split: str) -> Any:
        return self.sources[split].describe()  # a download is named by its source

    def describe_split(self, split: str, data_dir: Path) -> str:
        if self.data_files is not None:
            return super().describe_split(split, data_dir)  # type: ignore[misc]
        return f"the {split} split of {self.name}, read from {self.sources[split].describe()},"
