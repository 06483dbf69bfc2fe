"""Known-result recipes: the `conf/experiment/<name>.yaml` files that carry an `expected:` block.

T2T's README promised "when you run this command for the specified number of steps you will get this"; here each
promise is a recipe file — problem, model, hparams set and trainer budget like any experiment, plus

    expected:
      metric: eval/accuracy_per_sequence   # a metric the run logs (its metrics.csv column)
      min: 0.95                            # and/or max: the band the final value must fall in
      scale: cpu                           # cpu: minutes on 2 cores (t2t-regress --all-cpu); full: the T2T scale
      established_on: "2 shared CPU cores"
      seeds: [1, 2, 3]
      measured: [0.99, 0.98, 0.99]         # the final values those seeds gave
      runnable: false                      # optional: listed but skipped (with status/reason), e.g. not reproduced
      status: not yet reproduced here
      reason: ...
      hardware: / verify: / published:   # full scale: what it needs, how to score it, the numbers to aim at

This module reads and checks those blocks without composing the config, so a documented full-scale recipe whose
problem or model does not exist yet still lists (and is skipped with the reason).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from t2t_torch import registry
from t2t_torch.errors import T2TUserError, did_you_mean

SCALES = ("cpu", "full")
EXPERIMENT_GROUP = "experiment"


@dataclass(frozen=True)
class Expected:
    """The `expected:` block of a recipe: the metric, its band and how the band was established."""

    metric: str
    min: float | None = None
    max: float | None = None
    scale: str = "cpu"
    runnable: bool = True
    status: str = ""
    reason: str = ""
    established_on: str = ""
    seeds: tuple[int, ...] = ()
    measured: tuple[float, ...] = ()
    hardware: str = ""             # full scale: what the published number needs
    verify: str = ""               # full scale: the command(s) that produce the metric
    published: dict[str, Any] = field(default_factory=dict)  # full scale: the published numbers and their source

    def contains(self, value: float | None) -> bool:
        """True when `value` is a number inside [min, max] (an open side is unbounded)."""
        if value is None or math.isnan(value):
            return False
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)

    def band(self) -> str:
        """The band as text: '>= 0.95', '<= 1.2' or '[0.9, 1.1]'."""
        if self.min is not None and self.max is not None:
            return f"[{self.min:g}, {self.max:g}]"
        return f">= {self.min:g}" if self.min is not None else f"<= {self.max:g}"


@dataclass(frozen=True)
class Recipe:
    """One experiment YAML with its expected result and the config options it needs (group -> option)."""

    name: str
    path: Path
    expected: Expected | None
    requires: dict[str, str] = field(default_factory=dict)

    def skip_reason(self) -> str | None:
        """Why the runner cannot run this recipe here (missing problem/model/hparams set, or runnable: false)."""
        missing = [f"{group} {option}" for group, option in self.requires.items() if not option_exists(group, option)]
        notes = [] if self.expected is None else [s for s in (self.expected.status, self.expected.reason) if s]
        if missing:
            return f"{', '.join(missing)} not registered yet" + (f" ({'; '.join(notes)})" if notes else "")
        if self.expected is not None and not self.expected.runnable:
            return "; ".join(notes) or "runnable: false"
        return None


def option_exists(group: str, option: str) -> bool:
    """Whether a config group option exists: a registered problem or model, else a YAML in one of the config dirs."""
    if group == "problem":
        return option in registry.list_problems(include_reversed=True)
    if group == "model":
        return option in registry.list_models()
    return any((conf / group / f"{option}.yaml").is_file() for conf in registry.config_dirs())


def recipe_files() -> dict[str, Path]:
    """Every experiment YAML in the config dirs (the package's, then usr_dir ones, which win on a clash)."""
    files: dict[str, Path] = {}
    for conf in registry.config_dirs():
        for path in sorted((conf / EXPERIMENT_GROUP).glob("*.yaml")):
            files[path.stem] = path
    return files


def load_recipe(name: str, path: Path) -> Recipe:
    """Read one recipe file; a malformed `expected:` block is a one-line T2TUserError naming the file."""
    raw = OmegaConf.load(path)
    requires = _required_options(raw.get("defaults") or [])
    block = raw.get("expected")
    expected = None if block is None else parse_expected(block, path)
    return Recipe(name=name, path=path, expected=expected, requires=requires)


def _required_options(defaults: ListConfig | list[Any]) -> dict[str, str]:
    """{'problem': 'x', ...} from defaults entries such as `- override /problem: x`."""
    options: dict[str, str] = {}
    for entry in defaults:
        if isinstance(entry, DictConfig | dict):
            for key, value in entry.items():
                group = str(key).removeprefix("override").strip().lstrip("/")
                if value is not None and "/" not in group:
                    options[group] = str(value)
    return options


def parse_expected(block: Any, path: Path) -> Expected:
    """An `Expected` from a YAML mapping, checking its fields (metric, a numeric min and/or max, scale)."""
    where = f"{path}: expected"
    if not isinstance(block, DictConfig):
        raise T2TUserError(f"{where} must be a mapping with metric and min and/or max")
    data = OmegaConf.to_container(block, resolve=True)
    known = set(Expected.__dataclass_fields__)
    unknown = sorted(set(data) - known)
    if unknown:
        raise T2TUserError(f"{where} has unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    if not isinstance(data.get("metric"), str) or not data["metric"]:
        raise T2TUserError(f"{where}.metric is missing: name a logged metric, e.g. eval/accuracy_per_sequence")
    bounds = {k: data.get(k) for k in ("min", "max")}
    for key, value in bounds.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise T2TUserError(f"{where}.{key} must be a number, got {value!r}")
    if bounds["min"] is None and bounds["max"] is None:
        raise T2TUserError(f"{where} needs min and/or max (the band the final {data['metric']} must fall in)")
    if data.get("scale", "cpu") not in SCALES:
        raise T2TUserError(f"{where}.scale must be one of {', '.join(SCALES)}, got {data['scale']!r}")
    values = {k: v for k, v in data.items() if k in known}
    values["seeds"] = tuple(int(s) for s in data.get("seeds") or ())
    values["measured"] = tuple(float(m) for m in data.get("measured") or ())
    return Expected(**values)


def all_recipes() -> dict[str, Recipe]:
    """Every experiment YAML as a Recipe (those without `expected:` have expected None)."""
    return {name: load_recipe(name, path) for name, path in recipe_files().items()}


def find_recipe(name: str) -> Recipe:
    """The recipe called `name` with its `expected:` block; one-line errors for an unknown name or no block."""
    files = recipe_files()
    if name not in files:
        raise T2TUserError(f"unknown recipe '{name}'.{did_you_mean(name, files)} Run t2t-regress --list to list them.")
    recipe = load_recipe(name, files[name])
    if recipe.expected is None:
        raise T2TUserError(f"recipe '{name}' has no expected: block ({files[name]}): add expected: {{metric: <logged"
                           " metric>, min: <x>}} to make it a known result")
    return recipe


def cpu_recipes() -> list[Recipe]:
    """The CPU-scale recipes (expected.scale: cpu), by name."""
    return [r for _, r in sorted(all_recipes().items()) if r.expected is not None and r.expected.scale == "cpu"]
