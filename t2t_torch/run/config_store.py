"""Hydra/OmegaConf registrations made before composing: one `problem=<name>` option per registered problem and its
`_rev` twin (its typed settings node, `problem.<key>=...`, whose `_target_` builds its LightningDataModule:
problems/settings.py; so a newly registered problem needs no YAML), each also as `problem_schema/<name>` for the YAML
presets of `conf/problem/` to extend, and the `t2t_run_name` resolver that names run directories after the run's
identity (`checkpoints/run_identity.py`)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from t2t_torch import registry
from t2t_torch.checkpoints.run_identity import run_dir_name
from t2t_torch.problems.settings import declared_types, settings_dataclass
from t2t_torch.registry import PACKAGE_CONF_DIR


def run_name(_root_: DictConfig) -> str:
    """`${t2t_run_name:}` in hydra.run.dir: '<readable overrides or default>-<identity hash>' of the composed config.
    `output_dir` is left out: it is this very directory (and resumable anyway), and so is `logger`, whose paths
    interpolate it (and which is resumable too)."""
    config = {key: OmegaConf.to_container(_root_[key], resolve=True) if OmegaConf.is_config(_root_[key])
              else _root_[key] for key in _root_ if key not in ("hydra", "output_dir", "logger")}
    return run_dir_name(list(_root_.hydra.overrides.task), config)


def register_configs(conf_dirs: Iterable[Path] = ()) -> None:
    """Register the resolver and every problem's node; `conf_dirs`: config folders besides the package's (a
    `usr_dir`'s `conf/`), whose `problem/<name>.yaml` presets take the place of the node `problem/<name>`."""
    if not OmegaConf.has_resolver("t2t_run_name"):
        OmegaConf.register_new_resolver("t2t_run_name", run_name)
    store = ConfigStore.instance()
    folders = (PACKAGE_CONF_DIR, *conf_dirs)
    presets = {path.stem for folder in folders for path in Path(folder, "problem").glob("*.yaml")}
    stored = store.repo.get("problem", {})
    for name in registry.list_problems(include_reversed=True):
        cls = registry.problem_class(name)
        node = settings_dataclass(name, cls.default_config(), declared_types(cls))
        store.store(group="problem_schema", name=name, node=node, provider="t2t_torch")
        if name in presets:  # the preset extends problem_schema/<name>; Hydra warns when a schema shares its name
            stored.pop(f"{name}.yaml", None)
        else:
            store.store(group="problem", name=name, node=node, provider="t2t_torch")
