"""Hydra config nodes generated from the registry: one `problem=<name>` option per registered problem and its
`_rev` twin, holding the problem's settings (`problem.<key>=...`), so a newly registered problem needs no YAML."""

from __future__ import annotations

from hydra.core.config_store import ConfigStore

from t2t_torch import registry


def register_problem_configs() -> None:
    store = ConfigStore.instance()
    for name in registry.list_problems(include_reversed=True):
        settings = registry.problem_class(name).default_config()
        store.store(group="problem", name=name, node={"name": name, **settings}, provider="t2t_torch")
