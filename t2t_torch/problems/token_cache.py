"""On-disk cache of token-id sequences, memory-mapped for reading (replaces T2T's sharded TFRecord files).

One folder per split (and fingerprint) holds, per feature, `<feature>.tokens.bin` (int32 ids, all examples concatenated)
and `<feature>.offsets.npy` (int64, num_examples + 1 boundaries), plus `manifest.json`, written last. Writing streams
(memory stays bounded on a corpus of any size) into temporary files that are renamed into place, and the manifest only
appears once everything else is complete — so a half-written cache is never taken for a finished one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import torch.utils.data

from t2t_torch.errors import T2TUserError

MANIFEST = "manifest.json"
_FLUSH_EVERY = 1 << 20  # tokens buffered per feature before writing


class TokenCache:
    """The cache folder of one split."""

    def __init__(self, path: Path, features: tuple[str, ...]) -> None:
        self.path = Path(path)
        self.features = features

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
        return manifest is not None and manifest.get("fingerprint") == fingerprint

    def write(self, samples: Iterable[Mapping[str, list[int]]], fingerprint: str) -> int:
        """Stream `samples` into the cache; returns the number of examples written."""
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / MANIFEST).unlink(missing_ok=True)
        files = {f: open(self.path / f"{f}.tokens.bin.tmp", "wb") for f in self.features}
        buffers: dict[str, list[int]] = {f: [] for f in self.features}
        lengths: dict[str, list[int]] = {f: [] for f in self.features}
        try:
            for sample in samples:
                for f in self.features:
                    ids = sample[f]
                    buffers[f].extend(ids)
                    lengths[f].append(len(ids))
                    if len(buffers[f]) >= _FLUSH_EVERY:
                        np.asarray(buffers[f], dtype=np.int32).tofile(files[f])
                        buffers[f].clear()
            for f in self.features:
                np.asarray(buffers[f], dtype=np.int32).tofile(files[f])
        finally:
            for handle in files.values():
                handle.close()
        for f in self.features:
            offsets = np.zeros(len(lengths[f]) + 1, dtype=np.int64)
            np.cumsum(np.asarray(lengths[f], dtype=np.int64), out=offsets[1:])
            np.save(self.path / f"{f}.offsets.tmp.npy", offsets)
            os.replace(self.path / f"{f}.offsets.tmp.npy", self.path / f"{f}.offsets.npy")
            os.replace(self.path / f"{f}.tokens.bin.tmp", self.path / f"{f}.tokens.bin")
        count = len(lengths[self.features[0]])
        manifest = {"fingerprint": fingerprint, "num_examples": count, "features": list(self.features)}
        tmp = self.path / f"{MANIFEST}.tmp"
        tmp.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        os.replace(tmp, self.path / MANIFEST)
        return count

    def open(self, rename: Mapping[str, str] | None = None) -> TokenDataset:
        """Memory-map the cache; `rename` maps a stored feature to the name it is served under (for `_rev`)."""
        arrays = {}
        for f in self.features:
            try:
                offsets = np.load(self.path / f"{f}.offsets.npy")
                tokens = np.memmap(self.path / f"{f}.tokens.bin", dtype=np.int32, mode="r") if offsets[-1] else None
            except (OSError, ValueError) as error:
                raise T2TUserError(
                    f"corrupt or missing cache file in {self.path} ({error}): delete it and rerun"
                ) from error
            expected = int(offsets[-1])
            if (0 if tokens is None else len(tokens)) != expected:
                raise T2TUserError(
                    f"corrupt cache {self.path}/{f}.tokens.bin (truncated): delete {self.path} and rerun"
                )
            name = (rename or {}).get(f, f)
            arrays[name] = (tokens if tokens is not None else np.zeros(0, np.int32), offsets)
        return TokenDataset(arrays)


class TokenDataset(torch.utils.data.Dataset):
    """Examples as dicts of int64 numpy arrays, read from memory-mapped token arrays."""

    def __init__(self, arrays: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> None:
        self.arrays = dict(arrays)
        counts = {len(offsets) - 1 for _, offsets in self.arrays.values()}
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
        for name, (tokens, offsets) in self.arrays.items():
            out[name] = np.asarray(tokens[offsets[index] : offsets[index + 1]], dtype=np.int64)
        return out

    def feature_lengths(self, feature: str) -> np.ndarray:
        offsets = self.arrays[feature][1]
        return np.diff(offsets)

    def lengths(self) -> np.ndarray:
        """Per-example length used for bucketing: the longest of its features (T2T's `example_length`)."""
        return np.max(np.stack([self.feature_lengths(f) for f in self.arrays]), axis=0)
