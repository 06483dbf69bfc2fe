"""A problem's settings as a typed Hydra node: the `problem` config group (T2T's `--problem` plus the problem's knobs).

Every registered problem (and its `_rev` twin) is stored in Hydra's ConfigStore as `problem/<name>`, a dataclass made
from the problem class's `config_keys` and their class defaults (so nothing repeats a default), with

- `_target_`: the factory of the problem's LightningDataModule, so that
  `hydra.utils.instantiate(cfg.problem, data_dir=..., batching=..., seed=...)` *is* the DataModule that serves it
  (the design card: Hydra config groups compose a LightningDataModule per problem; fairseq stores its task
  dataclasses the same way);
- `name`: the registered name;
- one typed field per knob: an int, float, bool or str default makes the knob that type, so `problem.train_size=abc`
  or a misspelt `problem.train_sise=5` fails when the config is composed, before any data is prepared. A knob whose
  default is None or a container takes any value; its problem checks it.

A YAML preset in `conf/problem/` (or a `usr_dir`'s `conf/problem/`) extends a problem's node by naming its schema,
`problem_schema/<name>`, first in its defaults list, and so takes the place of `problem/<name>` for `problem=<name>`.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

DATAMODULE_TARGET = "t2t_torch.datamodules.datamodule.ProblemDataModule.for_problem"
NOT_SETTINGS = ("_target_", "name")  # the node's keys that are not the problem's knobs
SCALARS = (bool, int, float, str)


def _field(default: Any, declared: Any = None) -> tuple[Any, dataclasses.Field]:
    """The node's (type, field) of a knob: its declared type where the class declares a scalar type, an optional
    scalar or `Any` (`image_size: ClassVar[Any] = 32` takes 64 and [64, 48]), else the type of its default."""
    if isinstance(default, list | tuple | dict):
        value = list(default) if isinstance(default, tuple) else default
        return Any, dataclasses.field(default_factory=lambda: type(value)(value))
    return _declared_kind(declared) or next((t for t in SCALARS if type(default) is t), Any), dataclasses.field(
        default=default)


def _declared_kind(declared: Any) -> Any:
    """A declared type the node can check (a scalar, `X | None` of a scalar, or `Any`); None for any other."""
    if declared in SCALARS or declared is Any:
        return declared
    members = typing.get_args(declared)
    scalars = [m for m in members if m in SCALARS]
    if type(None) in members and len(scalars) == 1 and len(members) == 2:
        return typing.Optional[scalars[0]]  # noqa: UP045 (OmegaConf reads Optional, not the | form, in make_dataclass)
    return None


def declared_types(cls: type) -> dict[str, Any]:
    """The types a problem class declares for its class attributes (`ClassVar[X]` unwrapped to X); {} when its
    annotations cannot be resolved (then each knob is typed by its default)."""
    try:
        hints = typing.get_type_hints(cls)
    except (NameError, TypeError):
        return {}
    return {key: (typing.get_args(hint)[0] if typing.get_origin(hint) is typing.ClassVar and typing.get_args(hint)
                  else hint) for key, hint in hints.items()}


def settings_dataclass(name: str, defaults: dict[str, Any], declared: dict[str, Any] | None = None) -> type:
    """The typed node of problem `name` with knobs `defaults` (the class's `default_config()`) and the types the
    class declares for them (`declared_types`)."""
    declared = declared or {}
    fields = [("_target_", str, dataclasses.field(default=DATAMODULE_TARGET)),
              ("name", str, dataclasses.field(default=name))]
    fields += [(key, *_field(value, declared.get(key))) for key, value in defaults.items()]
    class_name = "".join(part.capitalize() for part in name.split("_")) + "Settings"
    return dataclasses.make_dataclass(class_name, fields)


def problem_settings(node: dict[str, Any]) -> dict[str, Any]:
    """The knobs of a composed `problem` node (as a plain dict): everything but `_target_` and `name`."""
    return {key: value for key, value in node.items() if key not in NOT_SETTINGS}
