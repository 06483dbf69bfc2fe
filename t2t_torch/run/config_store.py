"""Hydra/OmegaConf registrations made before composing: one `problem=<name>` option per registered problem and its
`_rev` twin (holding the problem's settings, `problem.<key>=...`, so a newly registered problem needs no YAML), and
the `t2t_run_name` resolver that names run directories after the run's identity (`checkpoints/run_identity.py`)."""

from __future__ import annotations

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from t2t_torch import registry
from t2t_torch.checkpoints.run_identity import run_dir_name


def run_name(_root_: DictConfig) -> str:
    """`${t2t_run_name:}` in hydra.run.dir: '<readable overrides or default>-<identity hash>' of the composed config.
    `output_dir` is left out: it is this very directory (and resumable anyway), and so is `logger`, whose paths
    interpolate it (and which is resumable too)."""
    config = {key: OmegaConf.to_container(_root_[key], resolve=True) if OmegaConf.is_config(_root_[key])
              else _root_[key] for key in _root_ if key not in ("hydra", "output_dir", "logger")}
    return run_dir_name(list(_root_.hydra.overrides.task), config)


def register_configs() -> None:
    if not OmegaConf.has_resolver("t2t_run_name"):
        OmegaConf.register_new_resolver("t2t_run_name", run_name)
    store = ConfigStore.instance()
    for name in registry.list_problems(include_reversed=True):
        settings = registry.problem_class(name).default_config()
        store.store(group="problem", name=name, node={"name": name, **settings}, provider="t2t_torch")
