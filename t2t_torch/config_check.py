"""Check command-line overrides before Hydra runs, turning composition errors into one line that names the fix.

Hydra's own messages for an unknown group option or key span several lines and end in a stack-trace hint; this
composes the same config first (with the first value of every sweep) and reports, e.g.:
`unknown hparams set 'transformer_tiy'. Did you mean: transformer_tiny? Run t2t-registry to list hparams sets.`
"""

from __future__ import annotations

import re
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from t2t_torch.errors import T2TUserError, did_you_mean
from t2t_torch.registry import PACKAGE_CONF_DIR

GROUP_WORDS = {"problem": "problem", "model": "model", "hparams": "hparams set", "trainer": "trainer preset",
               "experiment": "experiment", "debug": "debug preset"}


def first_choice_overrides(overrides: list[str]) -> list[str]:
    """Overrides with every sweep (`a=1,2`, `range(...)`) replaced by its first value; hydra.* dropped."""
    parsed = OverridesParser.create().parse_overrides(overrides)
    out = []
    for override in parsed:
        if override.key_or_group.startswith("hydra"):
            continue
        if override.is_sweep_override():
            first = next(iter(override.sweep_string_iterator()))
            out.append(f"{override.get_key_element()}={first}")
        else:
            out.append(override.input_line)
    return out


def _compose(overrides: list[str], config_name: str, search_path: list[Path]) -> DictConfig:
    GlobalHydra.instance().clear()
    extra = [f"hydra.searchpath=[{','.join(f'file://{p}' for p in search_path)}]"] if search_path else []
    try:
        with initialize_config_dir(str(PACKAGE_CONF_DIR), version_base="1.3"):
            return compose(config_name, overrides=[*first_choice_overrides(overrides), *extra])
    finally:
        GlobalHydra.instance().clear()


def compose_config(overrides: list[str], config_name: str = "train", search_path: list[Path] = ()) -> DictConfig:
    """Compose `config_name` with `overrides`; raise T2TUserError with one line on any composition error."""
    try:
        return _compose(overrides, config_name, search_path)
    except (HydraException, OmegaConfBaseException) as error:
        message, bad_key = explain(error)
        if bad_key:
            others = [o for o in overrides if o.lstrip("+~").split("=", 1)[0] != bad_key]
            try:
                message += suggest_key(_compose(others, config_name, search_path), bad_key)
            except (HydraException, OmegaConfBaseException):
                pass
        raise T2TUserError(message) from None


def explain(error: Exception) -> tuple[str, str | None]:
    """(one-line message, the offending dotted key if the error is about a key)."""
    text = str(error)
    missing = re.search(r"Could not find '([\w/]+)/([^']+)'", text)
    if missing:
        group, name = missing.groups()
        options = re.findall(r"^\t(\S+)$", text, flags=re.M)
        word = GROUP_WORDS.get(group, group)
        return f"unknown {word} '{name}'.{did_you_mean(name, options)} Run t2t-registry to list them.", None
    key = re.search(r"Could not override '([^']+)'", text) or re.search(r"Key '([^']+)' is not in struct", text)
    if key:
        return f"unknown config key '{key.group(1)}' (add a new key with +{key.group(1)}=...).", key.group(1)
    return text.strip().splitlines()[0], None


def suggest_key(cfg: DictConfig, key: str) -> str:
    """For an unknown dotted key, the existing keys with the same last part (e.g. hparams.optim.learning_rate...)."""
    leaf = key.rsplit(".", 1)[-1]
    paths = [p for p in _leaf_paths(OmegaConf.to_container(cfg, resolve=False)) if p.rsplit(".", 1)[-1] == leaf]
    return f" Did you mean: {', '.join(paths)}?" if paths else ""


def _leaf_paths(node: object, prefix: str = "") -> list[str]:
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _leaf_paths(v, f"{prefix}{k}.")]
    return [prefix[:-1]]
