"""What the DataModule needs of a problem: the `ServedProblem` protocol. `problems.problem.Problem` provides it;
typing against the protocol keeps `datamodules/` below `problems/` in the layers (DESIGN.md), so serving data never
depends on what a dataset is or where it comes from."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from t2t_torch.spec import ProblemSpec


@runtime_checkable
class ServedProblem(Protocol):
    """A problem as the DataModule serves it (T2T's `Problem` as `input_fn` used it)."""

    splits: tuple[str, ...]

    @property
    def name(self) -> str:
        """The registered name (with `_rev`)."""

    @property
    def augments(self) -> bool:
        """Whether `preprocess_example` does anything (then the loader passes it the epoch)."""

    def generate_data(self, data_dir: str | Path) -> None:
        """Prepare every split into `data_dir`; a no-op when already done."""

    def spec(self, data_dir: str | Path | None = None) -> ProblemSpec:
        """The features as served."""

    def dataset(self, split: str, data_dir: str | Path) -> Any:
        """The prepared split: a map-style dataset with `lengths(feature)`."""

    def preprocess_example(self, example: dict[str, Any], split: str, rng: Any) -> dict[str, Any]:
        """Per-example work as examples are served (augmentation)."""

    def finish_batch(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Batched work on the training device, after the copy."""
