"""Save a checkpoint when the job receives SIGTERM (cluster preemption, `kill`), then let Lightning stop cleanly.

Lightning's signal connector records SIGTERM and raises `SIGTERMException` at the end of the current batch; this
callback runs first (in `on_train_batch_end`) and writes `last.ckpt`, so relaunching the same command resumes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.utilities.rank_zero import rank_zero_info


class PreemptionCheckpoint(L.Callback):
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.saved_at_step: int | None = None

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if trainer.received_sigterm and self.saved_at_step is None:
            trainer.save_checkpoint(self.path)
            self.saved_at_step = trainer.global_step
            rank_zero_info(f"SIGTERM received: saved {self.path} at step {trainer.global_step}; "
                           "run the same command again to resume.")
