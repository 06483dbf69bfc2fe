"""Reading a sharded checkpoint directory, as Lightning's FSDP strategy writes it with `state_dict_type="sharded"`.

Lightning 2.6 (`lightning/pytorch/strategies/fsdp.py` `save_checkpoint`) turns the checkpoint path into a folder that
holds `torch.distributed.checkpoint` files (`.metadata` and one `__<rank>_0.distcp` per rank) with the weights under
`model` and each optimizer's state under `optimizer_<i>`, and `meta.pt` (`torch.save`, rank 0) with everything else
of the checkpoint dictionary: step, loops, callbacks, `hyper_parameters`, stored vocabularies. Lightning itself knows
such a folder by its `meta.pt` (`_is_sharded_checkpoint`), and so does `is_sharded_checkpoint`.

Everything is read in this one process, without a process group. As for single files (`atomic_io.py`), nothing that
could run code is loaded: `meta.pt` loads with `weights_only=True`, `.metadata` (a pickle) only with the classes of
a checkpoint's metadata, and non-tensor items with `weights_only=True`. Whole weights are only read when asked
(`read_sharded_state_dict`), assembled from every rank's shards into full tensors.
"""

from __future__ import annotations

import io
import pickle
import warnings
from pathlib import Path
from typing import Any

import torch

from t2t_torch.checkpoints.atomic_io import load_checkpoint_file
from t2t_torch.errors import T2TUserError

META_FILE = "meta.pt"  # Lightning's `_METADATA_FILENAME`: the non-tensor part of the checkpoint
DCP_METADATA = ".metadata"  # torch.distributed.checkpoint's index of every tensor and its shards
MODEL_KEY = "model"  # where Lightning's sharded save puts the state_dict
OPTIMIZER_PREFIX = "optimizer_"
FIX = "pass a checkpoint written by t2t-train"

_ALLOWED = {("torch.distributed.checkpoint.filesystem", "_StorageInfo"), ("torch", "Size"),
            ("torch.serialization", "_get_layout"), ("collections", "OrderedDict"),
            *(("pathlib", name) for name in ("Path", "PosixPath", "WindowsPath", "PurePosixPath", "PureWindowsPath"))}


def is_sharded_checkpoint(path: str | Path) -> bool:
    """Whether `path` is a folder Lightning's sharded save wrote (it holds `meta.pt`)."""
    path = Path(path)
    return path.is_dir() and (path / META_FILE).is_file()


def read_sharded_meta(path: Path) -> dict[str, Any]:
    """The checkpoint dictionary less its weights and optimizer states (`meta.pt`), with one-line errors."""
    return load_checkpoint_file(path / META_FILE, mmap=True)


class _MetadataUnpickler(pickle.Unpickler):
    """Only what torch.distributed.checkpoint writes into `.metadata`: its metadata classes, sizes, dtypes, paths."""

    def find_class(self, module: str, name: str) -> Any:
        import torch.distributed.checkpoint.metadata as metadata_classes

        if (module, name) in _ALLOWED or (module == metadata_classes.__name__
                                          and isinstance(getattr(metadata_classes, name, None), type)):
            return super().find_class(module, name)
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        raise pickle.UnpicklingError(f"{module}.{name}")


def read_dcp_metadata(path: Path) -> Any:
    """The `torch.distributed.checkpoint` Metadata of the folder `path`, unpickled with only metadata classes."""
    file = path / DCP_METADATA
    if not file.is_file():
        raise T2TUserError(f"cannot read sharded checkpoint '{path}': it holds {META_FILE} but no {DCP_METADATA}"
                           f" (an interrupted save?): {FIX}")
    try:
        with open(file, "rb") as handle:
            metadata = _MetadataUnpickler(handle).load()
        if not isinstance(getattr(metadata, "state_dict_metadata", None), dict):
            raise pickle.UnpicklingError(type(metadata).__name__)
    except pickle.UnpicklingError as error:
        raise T2TUserError(f"cannot read sharded checkpoint '{path}': its {DCP_METADATA} holds Python objects other"
                           f" than checkpoint metadata ({error}; not loaded: they could run code) or is corrupt:"
                           f" {FIX}") from None
    except (OSError, EOFError, ValueError, TypeError, AttributeError) as error:
        raise T2TUserError(f"cannot read sharded checkpoint '{path}': its {DCP_METADATA} is unreadable"
                           f" ({type(error).__name__}): {FIX}") from None
    return metadata


def stored_paths(metadata: Any) -> dict[str, tuple[Any, ...]]:
    """Each stored item's flat name -> its path in the saved dictionary (('model', 'model.body.w'), ...)."""
    planner_data = getattr(metadata, "planner_data", None) or {}
    return {fqn: tuple(planner_data.get(fqn) or fqn.split(".", 1)) for fqn in metadata.state_dict_metadata}


def holds_optimizer_state(path: Path) -> bool:
    """Whether the folder's shards hold weights and an optimizer state (a training state to resume)."""
    keys = {str(parts[0]) for parts in stored_paths(read_dcp_metadata(path)).values()}
    return MODEL_KEY in keys and any(key.startswith(OPTIMIZER_PREFIX) for key in keys)


def read_sharded_state_dict(path: Path) -> dict[str, Any]:
    """The full `state_dict` (what Lightning's `_format_checkpoint` calls it) assembled from the shards of every
    rank, on CPU, in this process."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.api import CheckpointException
    from torch.distributed.checkpoint.default_planner import DefaultLoadPlanner
    from torch.distributed.checkpoint.metadata import TensorStorageMetadata

    metadata = read_dcp_metadata(path)

    class SafeReader(dcp.FileSystemReader):
        def read_metadata(self, *args: Any, **kwargs: Any) -> Any:
            return metadata

    class WeightsOnlyPlanner(DefaultLoadPlanner):
        def load_bytes(self, read_item: Any, value: io.BytesIO) -> None:
            self.state_dict[read_item.dest_index.fqn] = torch.load(value, weights_only=True)

    names = {fqn: parts[1:] for fqn, parts in stored_paths(metadata).items() if parts and parts[0] == MODEL_KEY}
    if not names:
        raise T2TUserError(f"cannot read sharded checkpoint '{path}': it holds no weights ('{MODEL_KEY}'): {FIX}")
    target: dict[str, Any] = {}
    for fqn in names:
        item = metadata.state_dict_metadata[fqn]
        target[fqn] = torch.empty(item.size, dtype=item.properties.dtype) \
            if isinstance(item, TensorStorageMetadata) else None
    try:
        with warnings.catch_warnings():  # "assuming the intent is to load in a single process": it is
            warnings.filterwarnings("ignore", message=".*single process", category=UserWarning)
            dcp.load(target, storage_reader=SafeReader(path), planner=WeightsOnlyPlanner(flatten_state_dict=False),
                     no_dist=True)
    except (Exception, CheckpointException) as error:  # a missing or truncated shard file, a corrupt item
        failures = [exc for exc, _ in error.failures.values()] if isinstance(error, CheckpointException) else []
        cause = failures[0] if failures else error  # torch's CheckpointException wraps each rank's error
        detail = " ".join(f"{type(cause).__name__} {cause}".split())[:200]
        raise T2TUserError(f"cannot read sharded checkpoint '{path}': its shards are missing, truncated or corrupt"
                           f" ({detail}): {FIX}") from None
    return {".".join(map(str, names[fqn])): value for fqn, value in target.items()}

