"""Save the random generators (torch, CUDA, numpy, Python `random`) in every checkpoint and restore them on resume,
so that dropout and any other sampling continue exactly as in an uninterrupted run.

The state is captured when a checkpoint is written (Lightning asks every callback for its `state_dict` then, at
the end of a training batch or of a validation alike) and restored just before the first training batch after
the resume, not when the checkpoint is loaded: building the dataloader iterators in between draws from the torch
generator (DataLoader seeds its workers from it), which the interrupted run had done at another time.
Everything is stored as tensors and plain numbers, so checkpoints still load with `weights_only=True`.
"""

from __future__ import annotations

import random
from typing import Any

import lightning as L
import numpy as np
import torch


def capture() -> dict[str, Any]:
    version, words, gauss_next = random.getstate()
    kind, keys, pos, has_gauss, cached_gaussian = np.random.get_state()
    # This process's device only: under DDP each rank owns one device (the checkpoint holds rank 0's state, which
    # every rank restores to its own device, as `seed_everything` seeds every rank alike).
    cuda = [torch.cuda.get_rng_state()] if torch.cuda.is_available() and torch.cuda.is_initialized() else []
    return {
        "torch": torch.get_rng_state(),
        "cuda": cuda,
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached_gaussian)},
        "python": {"version": version, "words": torch.tensor(words, dtype=torch.int64), "gauss_next": gauss_next},
    }


def restore(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"].cpu())
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"][0].cpu())  # the current device
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(w) for w in p["words"].tolist()), p["gauss_next"]))


class RngState(L.Callback):
    def __init__(self) -> None:
        self._pending: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        return self._pending or capture()  # saved before the restore happened: the restored state is the run's

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._pending = state_dict

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self._pending is not None:
            restore(self._pending)
            self._pending = None
