"""`t2t-train` with a fault point, for the crash-recovery tests (tests/test_crash_recovery.py): the real entry point in
its own process, plus one callback that pauses training at a known step so a test can send a real signal there
(a stopwatch would be flaky). The fault point comes from the environment, never from the config, so every run of a
sequence has the same run identity and resumes the same run directory:

- `FAULT_PAUSE_STEP=N`: after training step N (once), write `FAULT_MARKER` and wait, up to 60 s, until the process
  receives SIGTERM/SIGINT (it then stops at this step) or is killed.
- `FAULT_PAUSE_IN_VALIDATION=1`: pause inside the first validation batch after step N instead.
- `FAULT_SLOW_SAVE_STEP=N`: a checkpoint written at step N stalls half-written (its temporary file open), after
  writing `FAULT_MARKER.saving`, so that a test can SIGKILL the process in the middle of the write.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import lightning as L

import t2t_torch.run.train as train_module
from t2t_torch.cli.train import main as train_main

PAUSE_LIMIT_S = 60


class SlowToPickle:
    """Pickled inside torch.save, i.e. while the checkpoint's temporary file is open and partly written: writes
    `<marker>.saving` and waits to be killed."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        Path(f"{self.marker}.saving").write_text("saving")
        time.sleep(PAUSE_LIMIT_S)
        return (str, ("not killed",))


class FaultPoint(L.Callback):
    def __init__(self, pause_step: int | None, in_validation: bool, slow_save_step: int | None, marker: Path):
        self.pause_step, self.in_validation, self.slow_save_step = pause_step, in_validation, slow_save_step
        self.marker, self.paused = marker, False

    def _pause(self, trainer: L.Trainer) -> None:
        if self.paused or trainer.global_step != self.pause_step:
            return
        self.paused = True
        self.marker.write_text(str(trainer.global_step))
        deadline = time.monotonic() + PAUSE_LIMIT_S
        while time.monotonic() < deadline and not trainer.received_sigterm:
            time.sleep(0.02)

    def on_train_start(self, trainer, *args) -> None:
        print(f"fault_train: training from step {trainer.global_step}", flush=True)

    def on_train_batch_end(self, trainer, *args) -> None:
        if not self.in_validation:
            self._pause(trainer)

    def on_validation_batch_end(self, trainer, *args) -> None:
        if self.in_validation and not trainer.sanity_checking:
            self._pause(trainer)

    def on_save_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        if trainer.global_step == self.slow_save_step:
            checkpoint["fault_slow"] = SlowToPickle(self.marker)


def _optional_int(name: str) -> int | None:
    value = os.environ.get(name)
    return int(value) if value else None


if __name__ == "__main__":
    fault = FaultPoint(_optional_int("FAULT_PAUSE_STEP"), os.environ.get("FAULT_PAUSE_IN_VALIDATION") == "1",
                       _optional_int("FAULT_SLOW_SAVE_STEP"), Path(os.environ.get("FAULT_MARKER", "paused")))
    original = train_module.bleu_eval_callbacks
    train_module.bleu_eval_callbacks = lambda cfg: [*original(cfg), fault]
    sys.argv[0] = "t2t-train"
    train_main()
