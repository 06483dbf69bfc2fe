"""The results of `t2t-regress` (the known-result runner): one training run of a recipe, and a recipe's runs with
its verdict. Shared by the runner (`regress.py`) and its report (`regress_report.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from t2t_torch.regress.recipes import Recipe


@dataclass
class SeedResult:
    """One training run of a recipe: its final metric value (None if it never logged it), time and where it ran."""

    seed: int
    value: float | None
    wall_s: float
    steps: int | None
    run_dir: Path
    error: str = ""


@dataclass
class RecipeResult:
    """A recipe's runs (empty when skipped) and the verdict: PASS, FAIL, SKIP, or PENDING before its first run ends."""

    recipe: Recipe
    seeds: list[SeedResult]
    skipped: str = ""

    @property
    def verdict(self) -> str:
        if self.skipped:
            return "SKIP"
        if not self.seeds:
            return "PENDING"
        return "PASS" if all(self.recipe.expected.contains(s.value) for s in self.seeds) else "FAIL"
