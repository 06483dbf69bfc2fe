"""Known-result recipes: the `conf/experiment/<name>.yaml` files with an entry in `conf/known_results.yaml`.

T2T's README promised "when you run this command for the specified number of steps you will get this"; here each
promise is a recipe — problem, model, hparams set and trainer budget like any experiment — and, beside it in the
same config dir, its known result (the band `t2t-regress` checks):

    # conf/known_results.yaml: one entry per recipe (usr_dir recipes: <usr_dir>/conf/known_results.yaml)
    algorithmic_sort_problem:
      metric: eval/accuracy_per_sequence   # a metric the run logs (its metrics.csv column)
      min: 0.98                            # and/or max: the band the final value must fall in
      scale: cpu                           # cpu: minutes on 2 cores (t2t-regress --all-cpu); full: the T2T scale
      seeds: [1, 2, 3]                     # the seeds the band was set from (the first is the runner's default)
      runnable: false                      # optional: listed but skipped (with status/reason), e.g. not reproduced
      status: not yet reproduced here
      reason: ...
      hardware: / verify: / published:   # full scale: what it needs, how to score it, the numbers to aim at

The band is not in the recipe file: Hydra merges a whole experiment file into the run's config, whose identity
names the run directory and decides whether a relaunch resumes it, so a band there would rename a run when edited.
The measurements a band was set from (the value each seed gave, the machine, the date) are results, kept in
`benchmarks/known_results.md`. This module reads and checks the bands without composing the config, so a
documented full-scale recipe whose problem or model does not exist yet still lists (and is skipped with the reason).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from t2t_torch import registry
from t2t_torch.errors import T2TUserError, did_you_mean

SCALES = ("cpu", "full")
EXPERIMENT_GROUP = "experiment"
KNOWN_RESULTS_FILE = "known_results.yaml"  # in a config dir, beside its experiment/ group (not a group: not composed)
BENCHMARKS = "benchmarks/known_results.md"
MEASUREMENTS = ("measured", "established_on")  # the keys the bands once carried: now benchmark results


@dataclass(frozen=True)
class Expected:
    """A recipe's known result (its entry in known_results.yaml): the metric, its band and the seeds it was set
    from."""

    metric: str
    min: float | None = None
    max: float | None = None
    scale: str = "cpu"
    runnable: bool = True
    status: str = ""
    reason: str = ""
    seeds: tuple[int, ...] = ()
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
    """One experiment YAML with its known result (None: not a known result) and the config options it needs
    (group -> option)."""

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
    """Whether a config group option exists: a registered problem or model, else a YAML in one of the config dirs
    (for a problem: a conf/problem/ preset)."""
    if group == "problem" and option in registry.list_problems(include_reversed=True):
        return True
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


def known_results_path(recipe_path: Path) -> Path:
    """The known-results file of a recipe's config dir (conf/experiment/x.yaml -> conf/known_results.yaml)."""
    return recipe_path.parent.parent / KNOWN_RESULTS_FILE


def known_entries(path: Path) -> dict[str, Any]:
    """The entries of a known-results file, unchecked (none when it does not exist); a file that is no mapping of
    recipe names, or an entry naming no recipe of its config dir, is a one-line T2TUserError naming the file."""
    if not path.is_file():
        return {}
    try:
        raw = OmegaConf.load(path)
    except (yaml.YAMLError, OmegaConfBaseException) as error:
        reason = " ".join(str(error).split())
        raise T2TUserError(f"{path} is not valid YAML ({reason}): fix the file") from None
    if raw is None or (isinstance(raw, DictConfig) and not raw):
        return {}
    if not isinstance(raw, DictConfig):
        raise T2TUserError(f"{path} must map recipe names to their bands ({{<recipe>: {{metric: ..., min: ...}}}})")
    recipes = {p.stem for p in (path.parent / EXPERIMENT_GROUP).glob("*.yaml")}
    stray = sorted(str(name) for name in raw if str(name) not in recipes)
    if stray:
        raise T2TUserError(f"{path}: '{stray[0]}' names no recipe ({path.parent / EXPERIMENT_GROUP}/{stray[0]}.yaml)"
                           f".{did_you_mean(stray[0], recipes)} Rename the entry or remove it")
    return {str(name): raw[name] for name in raw}


def load_known_results(path: Path) -> dict[str, Expected]:
    """Every entry of a known-results file, checked (see `known_entries` and `parse_expected`)."""
    return {name: parse_expected(block, path, name) for name, block in known_entries(path).items()}


def load_recipe(name: str, path: Path) -> Recipe:
    """Read one recipe file and its known result; a malformed known result, or an `expected:` block left in the
    recipe file, is a one-line T2TUserError naming the file."""
    raw = OmegaConf.load(path)
    known = known_results_path(path)
    if isinstance(raw, DictConfig) and "expected" in raw:
        raise T2TUserError(f"{path} has an expected: block, which would join the run's config and its identity (an"
                           f" edited band would rename the run directory): move it to {known} as '{name}:' (and its"
                           f" measured values and dates to {BENCHMARKS})")
    requires = _required_options(raw.get("defaults") or [])
    block = known_entries(known).get(name)
    expected = None if block is None else parse_expected(block, known, name)
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


def parse_expected(block: Any, path: Path, name: str) -> Expected:
    """A recipe's `Expected` from its entry `name` in the known-results file `path`, checking its fields (metric, a
    numeric min and/or max, scale)."""
    where = f"{path}: {name}"
    if not isinstance(block, DictConfig):
        raise T2TUserError(f"{where} must be a mapping with metric and min and/or max")
    data = OmegaConf.to_container(block, resolve=True)
    known = set(Expected.__dataclass_fields__)
    if moved := sorted(set(data) & set(MEASUREMENTS)):
        raise T2TUserError(f"{where} has {' and '.join(moved)}: measurements are results, kept in {BENCHMARKS}"
                           " (the band's seeds stay here)")
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
    seeds = data.get("seeds") or ()
    if not isinstance(seeds, list | tuple) or any(isinstance(s, bool) or not isinstance(s, int) for s in seeds):
        raise T2TUserError(f"{where}.seeds must be a list of integers, got {seeds!r}")
    values = {k: v for k, v in data.items() if k in known}
    values["seeds"] = tuple(seeds)
    return Expected(**values)


def all_recipes() -> dict[str, Recipe]:
    """Every experiment YAML as a Recipe (those without a known result have expected None)."""
    return {name: load_recipe(name, path) for name, path in recipe_files().items()}


def find_recipe(name: str) -> Recipe:
    """The recipe called `name` with its known result; one-line errors for an unknown name or no known result."""
    files = recipe_files()
    if name not in files:
        raise T2TUserError(f"unknown recipe '{name}'.{did_you_mean(name, files)} Run t2t-regress --list to list them.")
    recipe = load_recipe(name, files[name])
    if recipe.expected is None:
        raise T2TUserError(f"recipe '{name}' has no known result: add '{name}: {{metric: <logged metric>, min: <x>}}'"
                           f" to {known_results_path(files[name])} to make it one")
    return recipe


def cpu_recipes() -> list[Recipe]:
    """The CPU-scale recipes (scale: cpu in their known result), by name."""
    return [r for _, r in sorted(all_recipes().items()) if r.expected is not None and r.expected.scale == "cpu"]
