"""The one writer of `last.ckpt`: saved at every validation, at the final training step, at the end of training,
and when the job receives SIGTERM (preemption, `kill`) or SIGINT (Ctrl-C).

`ModelCheckpoint` keeps `best-<step>.ckpt` (and `step-<step>.ckpt` with `keep_checkpoint_max`) but never writes
`last.ckpt` (`save_last=False`) and never renames a file to `-v<N>` (`enable_version_counter=False`): with two writers,
Lightning's version counter sent later saves to `last-v1.ckpt` while a resume read only `last.ckpt`, losing steps.
This callback is a `Checkpoint`, so Lightning runs it after the `ModelCheckpoint`s: the `last.ckpt` written after
a validation records the best checkpoint that validation chose.

The final step is saved from `on_train_batch_end`, before Lightning closes the epoch, so the checkpoint records
the exact data position (a later run with a larger `max_steps` continues the same batch stream). On SIGTERM,
Lightning's signal connector records the signal and raises `SIGTERMException` at the end of the current batch,
training or validation:

- during training, `on_train_batch_end` runs first and writes `last.ckpt`;
- during validation (or anywhere else in `fit`), `on_exception` writes it, unless it was already written at this
  step. Validation changes no weights, optimizer or data position, so that checkpoint resumes training exactly;
  the interrupted evaluation is skipped, the next one runs as planned.

SIGINT takes the same path while training runs: the first Ctrl-C calls the SIGTERM handler Lightning installed (so
every rank of a multi-process job stops at the same step), the second stops at once without saving. `train()` then
raises `StoppedBySignal` naming the signal, and the CLI exits with 143 (SIGTERM) or 130 (SIGINT).
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Checkpoint
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities.exceptions import SIGTERMException
from lightning.pytorch.utilities.rank_zero import rank_zero_info


class LastCheckpoint(Checkpoint):
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.saved_step: int | None = None
        self.signal_name: str | None = None  # "SIGINT" once Ctrl-C was pressed during training, else None
        self._previous_sigint: Any = None
        self._sigint_installed = False

    # -- saving ------------------------------------------------------------------------------------------------

    def _save(self, trainer: L.Trainer) -> None:
        trainer.save_checkpoint(self.path, weights_only=False)  # full state: resumable
        self.saved_step = trainer.global_step

    def _save_on_signal(self, trainer: L.Trainer) -> None:
        if self.saved_step != trainer.global_step:
            self._save(trainer)
            rank_zero_info(f"{self.received_signal}: saved {self.path} at step {trainer.global_step}; run the same"
                           " command again to resume.")

    @property
    def received_signal(self) -> str:
        return self.signal_name or "SIGTERM"

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if trainer.fast_dev_run:
            return
        if trainer.received_sigterm:
            self._save_on_signal(trainer)
        elif 0 < trainer.max_steps <= trainer.global_step and self.saved_step != trainer.global_step:
            self._save(trainer)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Always, even when this step was saved before validating: the best checkpoint may have changed.
        if trainer.state.fn == TrainerFn.FITTING and not trainer.sanity_checking and not trainer.fast_dev_run:
            self._save(trainer)

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self._restore_sigint()
        fitting = trainer.state.fn == TrainerFn.FITTING  # not a standalone trainer.validate() after fit
        if isinstance(exception, SIGTERMException) and fitting and not trainer.fast_dev_run:
            self._save_on_signal(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._restore_sigint()
        if not trainer.fast_dev_run and self.saved_step != trainer.global_step and not trainer.received_sigterm:
            self._save(trainer)

    # -- Ctrl-C ------------------------------------------------------------------------------------------------

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Lightning has installed its SIGTERM handler by now; route the first Ctrl-C through it."""
        if threading.current_thread() is threading.main_thread() and not self._sigint_installed:
            self._previous_sigint = signal.getsignal(signal.SIGINT)
            signal.signal(signal.SIGINT, self._on_sigint)
            self._sigint_installed = True

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._restore_sigint()

    def _restore_sigint(self) -> None:
        if self._sigint_installed:
            signal.signal(signal.SIGINT, self._previous_sigint)
            self._sigint_installed = False

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        sigterm_handler = signal.getsignal(signal.SIGTERM)
        if self.signal_name == "SIGINT" or not callable(sigterm_handler):  # the second Ctrl-C: stop now
            self._restore_sigint()
            raise KeyboardInterrupt
        self.signal_name = "SIGINT"
        rank_zero_info("Ctrl-C (SIGINT): saving last.ckpt at the end of this step, then stopping; press Ctrl-C again"
                       " to stop at once without saving.")
        sigterm_handler(signal.SIGTERM, frame)
