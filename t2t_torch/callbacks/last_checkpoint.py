"""Keep `last.ckpt` resumable: save it at the final training step and whenever the job receives SIGTERM.

The final step is saved from `on_train_batch_end`, before Lightning closes the epoch, so the checkpoint records
the exact data position (a later run with a larger `max_steps` continues the same batch stream). On SIGTERM
(cluster preemption, `kill`), Lightning's signal connector records the signal and raises `SIGTERMException` at
the end of the current batch, training or validation:

- during training, `on_train_batch_end` runs first and writes `last.ckpt`;
- during validation (or anywhere else in `fit`), `on_exception` writes it, unless it was already written at this
  step. Validation changes no weights, optimizer or data position, so that checkpoint resumes training exactly;
  the interrupted evaluation is skipped, the next one runs as planned.

`train()` then raises `StoppedBySignal`, and the CLI exits with status 143. If training ends another way
(max_epochs, max_time, early stopping), `on_train_end` saves it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities.exceptions import SIGTERMException
from lightning.pytorch.utilities.rank_zero import rank_zero_info


class LastCheckpoint(L.Callback):
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.saved_step: int | None = None

    def _save(self, trainer: L.Trainer) -> None:
        trainer.save_checkpoint(self.path, weights_only=False)  # full state: resumable
        self.saved_step = trainer.global_step

    def _save_on_sigterm(self, trainer: L.Trainer) -> None:
        if self.saved_step != trainer.global_step:
            self._save(trainer)
            rank_zero_info(f"SIGTERM received: saved {self.path} at step {trainer.global_step}; "
                           "run the same command again to resume.")

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if trainer.fast_dev_run:
            return
        if trainer.received_sigterm:
            self._save_on_sigterm(trainer)
        elif 0 < trainer.max_steps <= trainer.global_step and self.saved_step != trainer.global_step:
            self._save(trainer)

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        fitting = trainer.state.fn == TrainerFn.FITTING  # not a standalone trainer.validate() after fit
        if isinstance(exception, SIGTERMException) and fitting and not trainer.fast_dev_run:
            self._save_on_sigterm(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.fast_dev_run and self.saved_step != trainer.global_step and not trainer.received_sigterm:
            self._save(trainer)
