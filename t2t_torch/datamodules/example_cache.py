"""On-disk cache of examples, memory-mapped for reading (replaces T2T's sharded TFRecord files), for every modality.

One folder per split (and fingerprint) holds, per feature, `<feature>.data.bin` (all examples' rows concatenated,
in the feature's storage dtype) and `<feature>.offsets.npy` (int64, num_examples + 1 row boundaries), plus
`manifest.json`, written last, which records each feature's dtype and row shape. A row is what follows the varying
first dimension of the feature's `FeatureSpec.shape`: one token id, one 80-bin audio frame; a fixed-shape feature
(an image, a class label) is one row per example. Writing streams (memory stays bounded on a corpus of any size)
into temporary files that are renamed into place, and the manifest only appears once everything else is complete,
so a half-written cache is never taken for a finished one.

A float32 feature may be stored as float16 (`ExampleCache(..., storage={"inputs": "float16"})`, e.g. normalized
audio frames at half the disk and page cache); it is served as float32, and the manifest records the storage dtype.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch.utils.data

from t2t_torch.errors import T2TUserError
from t2t_torch.spec import FeatureSpec

MANIFEST = "manifest.json"
FORMAT = 2  # 1: int32 token ids only (`<feature>.tokens.bin`)
_FLUSH_BYTES = 1 << 24  # bytes buffered per feature before writing

# Served dtype -> stored dtype: token ids fit int32 and take half the disk.
STORAGE_DTYPES = {"int64": np.int32, "int32": np.int32, "uint8": np.uint8, "float32": np.float32}
NARROWER_STORAGE = {"float32": ("float16",)}  # served dtype -> the other storage dtypes it may be cached in


def rows_of(value: Any, feature: FeatureSpec, storage: np.dtype | None = None) -> np.ndarray:
    """An example's value as an array of rows (rows, *inner_shape) in the storage dtype (`storage`, default the
    served dtype's); a one-line error naming the feature when its shape is not the spec's."""
    array = np.asarray(value, dtype=storage or STORAGE_DTYPES[feature.dtype])
    if not feature.is_variable_length:
        array = array[None]
    inner = feature.inner_shape
    if array.ndim != len(inner) + 1 or tuple(array.shape[1:]) != inner:
        raise T2TUserError(f"an example's {feature.modality} feature has shape {np.asarray(value).shape}, its problem"
                           f" declares {feature.shape}: fix the problem's example generator")
    return array


class ExampleCache:
    """The cache folder of one split."""

    def __init__(self, path: Path, features: Mapping[str, FeatureSpec], storage: Mapping[str, str] | None = None
                 ) -> None:
        """`storage`: {feature: storage dtype} for features cached narrower than served (see NARROWER_STORAGE)."""
        self.path = Path(path)
        self.features = dict(features)
        self.storage = dict(storage or {})
        for f, dtype in self.storage.items():
            if dtype not in NARROWER_STORAGE.get(self.features[f].dtype, ()):
                raise ValueError(f"feature '{f}' is served as {self.features[f].dtype} and cannot be stored as {dtype}")

    def storage_dtype(self, feature: str) -> np.dtype:
        return np.dtype(self.storage.get(feature) or STORAGE_DTYPES[self.features[feature].dtype])

    def layout(self, feature: str) -> dict[str, Any]:
        """What the manifest records of `feature` (the storage dtype only when it is not the default one)."""
        spec = self.features[feature]
        entry = {"dtype": spec.dtype, "inner_shape": list(spec.inner_shape), "variable_length": spec.is_variable_length}
        return {**entry, "storage": self.storage[feature]} if feature in self.storage else entry

    def manifest(self) -> dict | None:
        try:
            return json.loads((self.path / MANIFEST).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            raise T2TUserError(
                f"corrupt cache manifest {self.path / MANIFEST} ({error}): delete {self.path} and rerun"
            ) from error

    def is_complete(self, fingerprint: str) -> bool:
        manifest = self.manifest()
        return manifest is not None and manifest.get("fingerprint") == fingerprint and manifest.get("format") == FORMAT

    def write(self, samples: Iterable[Mapping[str, Any]], fingerprint: str) -> int:
        """Stream `samples` (dicts of lists or arrays, one entry per feature) into the cache; returns their count."""
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / MANIFEST).unlink(missing_ok=True)
        names = list(self.features)
        files = {f: open(self.path / f"{f}.data.bin.tmp", "wb") for f in names}
        buffers: dict[str, list[np.ndarray]] = {f: [] for f in names}
        buffered = dict.fromkeys(names, 0)
        lengths: dict[str, list[int]] = {f: [] for f in names}
        try:
            for sample in samples:
                for f in names:
                    rows = rows_of(sample[f], self.features[f], self.storage_dtype(f))
                    buffers[f].append(rows)
                    buffered[f] += rows.nbytes
                    lengths[f].append(len(rows))
                    if buffered[f] >= _FLUSH_BYTES:
                        self._flush(files[f], buffers[f])
                        buffered[f] = 0
            for f in names:
                self._flush(files[f], buffers[f])
        finally:
            for handle in files.values():
                handle.close()
        for f in names:
            offsets = np.zeros(len(lengths[f]) + 1, dtype=np.int64)
            np.cumsum(np.asarray(lengths[f], dtype=np.int64), out=offsets[1:])
            np.save(self.path / f"{f}.offsets.tmp.npy", offsets)
            os.replace(self.path / f"{f}.offsets.tmp.npy", self.path / f"{f}.offsets.npy")
            os.replace(self.path / f"{f}.data.bin.tmp", self.path / f"{f}.data.bin")
        count = len(lengths[names[0]])
        manifest = {"format": FORMAT, "fingerprint": fingerprint, "num_examples": count,
                    "features": {f: self.layout(f) for f in names}}
        tmp = self.path / f"{MANIFEST}.tmp"
        tmp.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        os.replace(tmp, self.path / MANIFEST)
        return count

    @staticmethod
    def _flush(handle: Any, buffer: list[np.ndarray]) -> None:
        if buffer:
            np.concatenate(buffer).tofile(handle)
        buffer.clear()

    def open(self, rename: Mapping[str, str] | None = None) -> ExampleDataset:
        """Memory-map the cache; `rename` maps a stored feature to the name it is served under (for `_rev`)."""
        manifest = self.manifest() or {}
        arrays = {}
        for f, feature in self.features.items():
            stored = (manifest.get("features") or {}).get(f)
            expected = self.layout(f)
            if stored != expected:
                raise T2TUserError(f"cache {self.path} stores feature '{f}' as {stored}, its problem serves {expected}:"
                                   f" delete {self.path} and rerun")
            dtype = self.storage_dtype(f)
            try:
                offsets = np.load(self.path / f"{f}.offsets.npy")
                row_size = int(np.prod(feature.inner_shape, dtype=np.int64))
                data = None
                if offsets[-1]:
                    data = np.memmap(self.path / f"{f}.data.bin", dtype=dtype, mode="r")
            except (OSError, ValueError) as error:
                raise T2TUserError(f"corrupt or missing cache file in {self.path} ({error}): delete it and rerun") \
                    from error
            if (0 if data is None else len(data)) != int(offsets[-1]) * row_size:
                raise T2TUserError(f"corrupt cache {self.path}/{f}.data.bin (truncated): delete {self.path} and rerun")
            data = np.zeros(0, dtype) if data is None else data
            arrays[(rename or {}).get(f, f)] = (data.reshape(-1, *feature.inner_shape), offsets, feature)
        return ExampleDataset(arrays)


class ExampleDataset(torch.utils.data.Dataset):
    """Examples as dicts of numpy arrays of each feature's served dtype and shape, read from memory maps."""

    def __init__(self, arrays: Mapping[str, tuple[np.ndarray, np.ndarray, FeatureSpec]]) -> None:
        self.arrays = dict(arrays)
        counts = {len(offsets) - 1 for _, offsets, _ in self.arrays.values()}
        if len(counts) != 1:
            raise T2TUserError("corrupt cache: features hold different numbers of examples; delete it and rerun")
        self._len = counts.pop()

    @property
    def features(self) -> tuple[str, ...]:
        return tuple(self.arrays)

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        out = {}
        for name, (data, offsets, feature) in self.arrays.items():
            rows = np.asarray(data[offsets[index]: offsets[index + 1]], dtype=feature.dtype)
            out[name] = rows if feature.is_variable_length else rows[0]
        return out

    def stored_rows(self, feature: str) -> np.ndarray:
        """Every example's rows of `feature`, concatenated (a memory map in the storage dtype; for whole-split
        statistics such as vocabulary use)."""
        return self.arrays[feature][0]

    def feature_lengths(self, feature: str) -> np.ndarray:
        """Rows per example of `feature` (1 for fixed-shape features)."""
        return np.diff(self.arrays[feature][1])

    def lengths(self, feature: str | None = None) -> np.ndarray:
        """Per-example length used for bucketing: `feature`'s, or the longest of the variable-length features
        (T2T's `example_length`); 1 per example when none varies."""
        names = [feature] if feature else [f for f, (_, _, spec) in self.arrays.items() if spec.is_variable_length]
        if not names:
            return np.ones(len(self), dtype=np.int64)
        return np.max(np.stack([self.feature_lengths(f) for f in names]), axis=0)
