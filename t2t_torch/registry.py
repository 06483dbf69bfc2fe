"""The one registry of problems, models and hparams sets (ports T2T's `utils/registry.py`).

Problems and models register with a decorator at import time of their module; `t2t_torch/__init__.py` imports
every built-in module explicitly (no import side effects hidden behind try/except), and `import_usr_dir` imports
a user's folder the same way. Hparams sets are the YAML files of the `hparams` config group: the package's own
`conf/hparams/` plus the `conf/hparams/` of every user folder added with `add_config_dir`.

Duplicate names raise; unknown names raise `UnknownNameError` with the closest registered names.
`t2t-registry` (`t2t_torch.cli.registry`) prints everything with a one-line description.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from t2t_torch.errors import UnknownNameError, did_you_mean

REVERSED_SUFFIX = "_rev"
PACKAGE_CONF_DIR = Path(importlib.util.find_spec("t2t_torch.conf").submodule_search_locations[0])  # conf/ (setup.py)

_PROBLEMS: dict[str, type] = {}
_MODELS: dict[str, type] = {}
_CONFIG_DIRS: list[Path] = [PACKAGE_CONF_DIR]

T = TypeVar("T", bound=type)


def default_name(cls: type) -> str:
    """CamelCase class name -> snake_case registry name, as T2T does (`AlgorithmicReverseBinary40`)."""
    name = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", cls.__name__)
    return name.lower()


def _register(table: dict[str, type], kind: str, name: str | None) -> Callable[[T], T]:
    def decorator(cls: T) -> T:
        key = name or default_name(cls)
        if key in table and table[key] is not cls:
            owner = table[key]
            raise ValueError(f"{kind} '{key}' is already registered by {owner.__module__}.{owner.__qualname__}")
        if kind == "problem" and key.endswith(REVERSED_SUFFIX):
            raise ValueError(f"problem names may not end in '{REVERSED_SUFFIX}': that suffix is added automatically")
        table[key] = cls
        cls.registered_name = key
        return cls

    return decorator


def register_problem(name: str | None = None) -> Callable[[T], T]:
    """Class decorator: register a `Problem` subclass under `name` (default: snake_case of the class name)."""
    return _register(_PROBLEMS, "problem", name)


def register_problem_variant(name: str, base: type, doc: str, **settings: Any) -> type:
    """Register `base` with other class defaults under `name`: a dataset variant as one line of data (the CIFAR
    `_plain` twins, the LibriSpeech subsets, the algorithmic tasks by alphabet), not a class statement. The variant
    is `base` with `settings` as class attributes, named the CamelCase of `name` (the name its caches and checkpoints
    already record); every `settings` key must be an attribute `base` already has."""
    unknown = sorted(key for key in settings if not hasattr(base, key))
    if unknown:
        raise ValueError(f"problem variant '{name}' sets {unknown}, which {base.__qualname__} does not have")
    class_name = "".join(part[:1].upper() + part[1:] for part in name.split("_"))
    variant = type(class_name, (base,), {"__doc__": doc, "__module__": base.__module__, "__qualname__": class_name,
                                         **settings})
    if default_name(variant) != name:
        raise ValueError(f"problem variant '{name}' cannot be named by a class (it would be {default_name(variant)})")
    return register_problem(name)(variant)


def register_model(name: str | None = None) -> Callable[[T], T]:
    """Class decorator: register a model body (`t2t_torch.models.body.Body`: its families and typed config)."""
    return _register(_MODELS, "model", name)


def list_problems(include_reversed: bool = False) -> list[str]:
    """Registered problem names; with `include_reversed`, also `<name>_rev` for each problem that can swap its
    inputs and targets (its class's `can_reverse()`)."""
    names = sorted(_PROBLEMS)
    if include_reversed:
        names += [n + REVERSED_SUFFIX for n in names if getattr(_PROBLEMS[n], "can_reverse", lambda: True)()]
    return sorted(names)


def list_models() -> list[str]:
    return sorted(_MODELS)


def model_classes() -> dict[str, type]:
    return dict(_MODELS)


def problem_class(name: str) -> type:
    """The class registered as `name` (a `_rev` suffix resolves to the base problem's class)."""
    base = name[: -len(REVERSED_SUFFIX)] if name.endswith(REVERSED_SUFFIX) else name
    if base not in _PROBLEMS:
        raise UnknownNameError(
            f"unknown problem '{name}'.{did_you_mean(name, list_problems(include_reversed=True))}"
            " Run t2t-registry to list problems."
        )
    return _PROBLEMS[base]


def problem(name: str, **config: Any) -> Any:
    """An instance of the problem `name` (a `t2t_torch.problems.problem.Problem`; the registry sits below the data
    package, so it does not import it); `<name>_rev` swaps its inputs and targets. `config` overrides its knobs."""
    cls = problem_class(name)
    return cls(was_reversed=name.endswith(REVERSED_SUFFIX), **config)


def model_class(name: str) -> type:
    if name not in _MODELS:
        raise UnknownNameError(f"unknown model '{name}'.{did_you_mean(name, _MODELS)} Run t2t-registry to list models.")
    return _MODELS[name]


def add_config_dir(path: str | Path) -> None:
    """Add a folder holding config groups (`hparams/`, `problem/`, ...) so its hparams sets join the registry."""
    path = Path(path).resolve()
    if path not in _CONFIG_DIRS:
        _CONFIG_DIRS.append(path)


def config_dirs() -> list[Path]:
    return list(_CONFIG_DIRS)


def _hparams_files() -> dict[str, Path]:
    files: dict[str, Path] = {}
    for conf in _CONFIG_DIRS:
        for file in sorted((conf / "hparams").glob("*.yaml")):
            files.setdefault(file.stem, file)
    return files


def list_hparams() -> list[str]:
    return sorted(_hparams_files())


def hparams_file(name: str) -> Path:
    files = _hparams_files()
    if name not in files:
        raise UnknownNameError(
            f"unknown hparams set '{name}'.{did_you_mean(name, files)} Run t2t-registry to list hparams sets."
        )
    return files[name]


def describe(obj: type | Path) -> str:
    """First line of a class docstring, or the leading `#` comment line of a YAML file."""
    if isinstance(obj, Path):
        for line in obj.read_text(encoding="utf-8").splitlines():
            if line.startswith("#"):
                return line.lstrip("# ").strip()
        return ""
    doc = (obj.__doc__ or "").strip()
    return doc.splitlines()[0] if doc else ""


def registry_table() -> str:
    """Everything registered, one line each, grouped by kind."""
    lines = [f"Problems ({len(_PROBLEMS)}; inputs -> targets; (_rev): add _rev to the name to swap them):"]
    for n in list_problems():
        cls = _PROBLEMS[n]
        modalities = getattr(cls, "class_modalities", dict)()
        kinds = f"{modalities.get('inputs', '-')} -> {modalities.get('targets', '?')}"
        kinds += " (_rev)" if getattr(cls, "can_reverse", lambda: False)() else ""
        lines.append(f"  {n:<44} {kinds:<32} {describe(cls)}")
    lines += ["", f"Models ({len(_MODELS)}):"]
    lines += [f"  {n:<44} {', '.join(getattr(_MODELS[n], 'families', ())):<32} {describe(_MODELS[n])}"
              for n in list_models()]
    files = _hparams_files()
    lines += ["", f"Hparams sets ({len(files)}):"]
    lines += [f"  {n:<44} {describe(files[n])}" for n in sorted(files)]
    return "\n".join(lines)
