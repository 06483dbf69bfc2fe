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
from typing import Any

DATAMODULE_TARGET = "t2t_torch.datamodules.datamodule.ProblemDataModule.for_problem"
NOT_SETTINGS = ("_target_", "name")  # the node's keys that are not the problem's knobs
SCALARS = (bool, int, float, str)


def _field(default: Any) -> tuple[Any, dataclasses.Field]:
    kind = next((t for t in SCALARS if type(default) is t), None)
    if kind is not None:
        return kind, dataclasses.field(default=default)
    if isinstance(default, list | tuple | dict):
        value = list(default) if isinstance(default, tuple) else default
        return Any, dataclasses.field(default_factory=lambda: type(value)(value))
    return Any, dataclasses.field(default=default)


def settings_dataclass(name: str, defaults: dict[str, Any]) -> type:
    """The typed node of problem `name` with knobs `defaults` (the class's `default_config()`)."""
    fields = [("_target_", str, dataclasses.field(default=DATAMODULE_TARGET)),
              ("name", str, dataclasses.field(default=name))]
    fields += [(key, *_field(value)) for key, value in defaults.items()]
    class_name = "".join(part.capitalize() for part in name.split("_")) + "Settings"
    return dataclasses.make_dataclass(class_name, fields)


def problem_settings(node: dict[str, Any]) -> dict[str, Any]:
    """The knobs of a composed `problem` node (as a plain dict): everything but `_target_` and `name`."""
    return {key: value for key, value in node.items() if key not in NOT_SETTINGS}
