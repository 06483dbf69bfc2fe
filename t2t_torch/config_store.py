"""Hydra/OmegaConf registrations made before composing: one `problem=<name>` option per registered problem and its
`_rev` twin (holding the problem's settings, `problem.<key>=...`, so a newly registered problem needs no YAML), and
the `t2t_run_name` resolver that names run directories after their overrides."""

from __future__ import annotations

import hashlib

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from t2t_torch import registry

MAX_RUN_NAME = 100


def run_name(overrides: str) -> str:
    """A run directory name from Hydra's `override_dirname`: readable, filesystem-safe, bounded in length, and the
    same for the same command (so relaunching a command resumes its run)."""
    if not overrides:
        return "default"
    name = overrides.replace("/", "_")
    if len(name) <= MAX_RUN_NAME:
        return name
    return f"{name[: MAX_RUN_NAME - 13]}-{hashlib.sha1(name.encode()).hexdigest()[:12]}"


def register_configs() -> None:
    if not OmegaConf.has_resolver("t2t_run_name"):
        OmegaConf.register_new_resolver("t2t_run_name", run_name)
    store = ConfigStore.instance()
    for name in registry.list_problems(include_reversed=True):
        settings = registry.problem_class(name).default_config()
        store.store(group="problem", name=name, node={"name": name, **settings}, provider="t2t_torch")
