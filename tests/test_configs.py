"""Every YAML under conf/ composes, and what it configures instantiates (hparams dataclasses, Trainer presets).

Documented full-scale recipes whose problem or model is not ported yet (conf/experiment/, `runnable: false`) cannot
compose; they are checked for the fields the regression runner needs instead."""

from pathlib import Path
from typing import Any

import lightning as L
import pytest
import yaml
from omegaconf import DictConfig, ListConfig, OmegaConf

import t2t_torch  # noqa: F401  (registers the built-ins)
from t2t_torch import registry
from t2t_torch.datamodules.batching import BatchingConfig
from t2t_torch.datamodules.datamodule import ProblemDataModule
from t2t_torch.errors import T2TUserError
from t2t_torch.hparams import dataclass_from_mapping
from t2t_torch.models.body import family_for
from t2t_torch.optim import OptimConfig, build_lr_lambda
from t2t_torch.registry import PACKAGE_CONF_DIR
from t2t_torch.regress.recipes import load_recipe, option_exists
from t2t_torch.run.config_check import _hparams_models
from t2t_torch.run.train import build_datamodule
from tests.fixtures.helpers import compose

GROUPS = {p.name: sorted(f.stem for f in p.glob("*.yaml")) for p in PACKAGE_CONF_DIR.iterdir() if p.is_dir()}
RECIPES = {name: load_recipe(name, PACKAGE_CONF_DIR / "experiment" / f"{name}.yaml") for name in GROUPS["experiment"]}
NOT_COMPOSABLE = {name for name, recipe in RECIPES.items()
                  if not all(option_exists(group, option) for group, option in recipe.requires.items())}
OPTIONS = [(group, name) for group, names in GROUPS.items() for name in names
           if group not in ("hydra", "__pycache__") and not (group == "experiment" and name in NOT_COMPOSABLE)]
OPTIONS += [("problem", name) for name in registry.list_problems(include_reversed=True)  # config_store.py
            if name not in GROUPS.get("problem", [])]  # a preset of the same name takes the node's place


# What composing `group=name` must produce, worked out from the YAML files (and the problem registry) alone: each
# option's leaves at its package path, merged in the order of train.yaml's defaults list (`_self_` included),
# with an option's own defaults (same-group parents, `_self_` last unless placed) and `override /group: choice`.
def _leaves(node: DictConfig, prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in node:
        path = f"{prefix}{key}"
        if path == "hydra" or path.startswith("hydra."):
            continue  # Hydra's own node: not part of the composed job config
        if OmegaConf.is_interpolation(node, key):
            continue
        value = node[key]
        if isinstance(value, DictConfig):
            out.update(_leaves(value, f"{path}."))
        elif isinstance(value, ListConfig):
            if "${" not in str(OmegaConf.to_container(value)):
                out[path] = OmegaConf.to_container(value)
        else:
            out[path] = value
    return out


def _package_prefix(path: Path, group: str) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# @package"):
            package = line.split(None, 2)[2].strip()
            return "" if package == "_global_" else f"{package.replace('_group_', group)}."
    return f"{group}."


SCHEMA = ("/problem_schema/", "@_here_")  # a conf/problem/ preset's first defaults entry: its problem's node


def problem_of(name: str) -> str:
    """The registered problem of option `problem=name`: itself, or the one whose node a conf/problem/ preset
    extends."""
    path = PACKAGE_CONF_DIR / "problem" / f"{name}.yaml"
    return str(OmegaConf.load(path).defaults[0]).removeprefix(SCHEMA[0]).removesuffix(SCHEMA[1]) \
        if path.is_file() else name


def _problem_node(name: str) -> dict[str, Any]:
    """The leaves of the registry's typed node of problem `name` (config_store.py)."""
    settings = {"name": name, **registry.problem_class(name).default_config()}
    return {f"problem.{key}": value for key, value in settings.items()}


def _option(group: str, name: str) -> tuple[dict[str, Any], dict[str, str]]:
    """(the values option `group/name` sets, merged in its own order; the group choices it overrides)."""
    if group == "problem" and not (PACKAGE_CONF_DIR / group / f"{name}.yaml").is_file():  # the registry's node
        return _problem_node(name), {}
    path = PACKAGE_CONF_DIR / group / f"{name}.yaml"
    conf = OmegaConf.load(path)
    defaults = list(conf.pop("defaults", None) or [])
    if "_self_" not in defaults:
        defaults.append("_self_")
    values: dict[str, Any] = {}
    choices: dict[str, str] = {}
    for entry in defaults:
        if entry == "_self_":  # (a mapping over a parent's leaf, data_files: {root: ...} over null, replaces it)
            _overlay(values, _leaves(conf, _package_prefix(path, group)))
        elif isinstance(entry, str) and entry.startswith(SCHEMA[0]):  # a preset extends its problem's node
            values.update(_problem_node(problem_of(name)))
        elif isinstance(entry, str):  # a parent in the same group
            parent_values, parent_choices = _option(group, entry)
            values.update(parent_values)
            choices.update(parent_choices)
        else:
            ((key, choice),) = entry.items()
            choices[key.removeprefix("override").strip().lstrip("/")] = choice
    return values, choices


def _overlay(values: dict[str, Any], layer: dict[str, Any]) -> None:
    """`layer`'s leaves over `values`: a mapping set where an earlier layer had a leaf (`problem.data_files: null`
    under `problem.data_files.root`) replaces that leaf, as OmegaConf's merge does."""
    for path in layer:
        for parent in [k for k in values if path.startswith(f"{k}.")]:
            del values[parent]
    values.update(layer)


def expected_values(overrides: list[str]) -> dict[str, Any]:
    primary = OmegaConf.load(PACKAGE_CONF_DIR / "train.yaml")
    order: list[str] = []
    choices: dict[str, str | None] = {}
    for entry in primary.pop("defaults"):
        if entry == "_self_":
            order.append("_self_")
        else:
            ((key, choice),) = entry.items()
            group = key.removeprefix("optional").strip()
            order.append(group)
            choices[group] = choice
    picked = dict(o.split("=", 1) for o in overrides)
    for group in order:  # an option's `override /group: x` changes that group's choice; the command line wins
        if group in picked:
            choices.update(_option(group, picked[group])[1])
    choices.update({g: c for g, c in picked.items() if g in choices})
    values: dict[str, Any] = {}
    for group in order:
        if group == "_self_":
            _overlay(values, _leaves(primary, ""))
        elif choices[group] is not None:
            _overlay(values, _option(group, choices[group])[0])
    values.update({k: yaml.safe_load(v) for k, v in picked.items() if k not in choices})  # key=value overrides
    return values


def test_conf_tree_is_complete():
    assert {"hparams", "model", "trainer", "debug"} <= set(GROUPS)
    assert (PACKAGE_CONF_DIR / "train.yaml").is_file() and (PACKAGE_CONF_DIR / "datagen.yaml").is_file()


def _fits(problem: str, model: str) -> bool:
    cls = registry.problem_class(problem)
    try:
        family_for(registry.model_class(model), cls.class_modalities(problem.endswith("_rev")), model, problem)
    except T2TUserError:
        return False
    return True


def companions(group: str, name: str) -> list[str]:
    """The problem/model/hparams choices that make `group=name` a pair the compose-time check accepts, when the
    defaults of train.yaml are not one (an image problem needs an image model, ...)."""
    defaults = {"problem": "algorithmic_reverse_decimal40_iid", "model": "transformer",
                "hparams": "transformer_tiny_algorithmic"}
    if group not in defaults or name == defaults[group]:
        return []
    problems = registry.list_problems(include_reversed=True)
    if group == "hparams":
        model = (_hparams_models(name) or ["transformer"])[0]
        problem = next(p for p in [defaults["problem"], *problems] if _fits(p, model))
        return [f"model={model}"] * (model != "transformer") + [f"problem={problem}"] * (problem != defaults["problem"])
    fits = problem_of(name) if group == "problem" else name
    model = name if group == "model" else next(m for m in ["transformer", *registry.list_models()] if _fits(fits, m))
    problem = name if group == "problem" else next(p for p in [defaults["problem"], *problems] if _fits(p, model))
    hparams = next(h for h in [defaults["hparams"], *registry.list_hparams()]
                   if model in (_hparams_models(h) or [model]))
    out = [f"problem={problem}", f"model={model}", f"hparams={hparams}"]
    return [o for o in out if o.split("=", 1)[0] != group and o.split("=", 1)[1] != defaults[o.split("=", 1)[0]]]


@pytest.mark.parametrize(("group", "name"), OPTIONS)
def test_every_option_composes(group, name, tmp_path):
    """`group=name` composes, and every value the option's YAML (or registry entry) sets, directly or through its
    defaults and overrides, is in the composed config unless a later layer of train.yaml's defaults list sets it.
    Options that need another problem/model/hparams choice to be a valid pair get the first that fits."""
    overrides = [f"{group}={name}", *companions(group, name), f"data_dir={tmp_path / 'data'}"]
    cfg = compose(overrides[:-1], tmp_path)
    if group == "problem":  # the design card: the problem's node instantiates as its LightningDataModule
        try:
            datamodule = build_datamodule(cfg)
        except T2TUserError as error:  # a problem over the user's own files asks for them, in one line
            assert "data_files" in str(error) and "\n" not in str(error)
        else:
            assert isinstance(datamodule, ProblemDataModule) and datamodule.problem.name == problem_of(name)
    own = _option(group, name)[0]
    if not own:  # an option that turns its group off (callbacks=none): the group composes empty
        assert not OmegaConf.select(cfg, group), f"{group}/{name} sets nothing, yet {group} is not empty"
        return
    expected = expected_values(overrides)
    assert any(expected.get(path, object()) == value for path, value in own.items()), "the option is shadowed"
    wrong = {path: (OmegaConf.select(cfg, path, default="<missing>"), value) for path, value in expected.items()
             if OmegaConf.select(cfg, path, default="<missing>") != value}
    assert not wrong, f"composed vs expected: {wrong}"


@pytest.mark.parametrize("name", sorted(n for n, r in RECIPES.items() if r.expected and r.expected.scale == "full"))
def test_full_scale_recipes_are_documented_until_reproduced(name):
    """A full-scale recipe carries T2T's published numbers and the hardware they need; until a run here records
    its number it is listed as not yet reproduced and skipped (its problem, model and hparams set all exist)."""
    recipe = RECIPES[name]
    expected = recipe.expected
    assert expected.metric and expected.hardware and expected.published
    assert {"problem", "model", "hparams", "trainer"} <= set(recipe.requires) and name not in NOT_COMPOSABLE
    if not expected.runnable:
        assert expected.status == "not yet reproduced here" and recipe.skip_reason().startswith(expected.status)


@pytest.mark.parametrize("name", GROUPS["hparams"])
def test_hparams_sets_instantiate(name, tmp_path):
    cfg = compose([f"hparams={name}", *companions("hparams", name)], tmp_path)
    body = registry.model_class(cfg.model.name)
    model = dataclass_from_mapping(body.config_class, cfg.hparams.model, "model")
    optim = OptimConfig.from_mapping(cfg.hparams.optim)
    dataclass_from_mapping(BatchingConfig, cfg.hparams.batching, "batching")
    assert build_lr_lambda(optim, body.output_width(model), train_steps=1000)(10) > 0


def test_t2t_values_of_named_sets(tmp_path):
    base = compose(["hparams=transformer_base"], tmp_path).hparams
    model = base.model
    assert (model.hidden_size, model.num_hidden_layers, model.filter_size, model.num_heads) == (512, 6, 2048, 8)
    assert base.optim.optimizer_adam_beta2 == 0.997 and base.optim.learning_rate_constant == 2.0
    big = compose(["hparams=transformer_big"], tmp_path).hparams
    assert (big.model.hidden_size, big.model.filter_size, big.model.num_heads, big.batching.batch_size) == (
        1024, 4096, 16, 2048
    )
    assert big.model.layer_prepostprocess_dropout == 0.3
    single = compose(["hparams=transformer_base_single_gpu"], tmp_path).hparams
    assert single.batching.batch_size == 1024 and single.optim.learning_rate_warmup_steps == 16000
    tiny = compose(["hparams=transformer_tiny"], tmp_path).hparams
    model = tiny.model
    assert (model.num_hidden_layers, model.hidden_size, model.filter_size, model.num_heads) == (2, 128, 512, 4)


@pytest.mark.parametrize("name", [n for n in GROUPS["trainer"] if n in ("default", "cpu", "ddp_cpu")])
def test_cpu_trainer_presets_instantiate(name, tmp_path):
    cfg = compose([f"trainer={name}", "trainer.enable_progress_bar=false"], tmp_path)
    trainer = L.Trainer(**OmegaConf.to_container(cfg.trainer), logger=False, default_root_dir=tmp_path)
    assert trainer.max_steps == cfg.trainer.max_steps


def test_trainer_default_lists_every_trainer_argument():
    import inspect

    listed = set(OmegaConf.load(Path(PACKAGE_CONF_DIR / "trainer" / "default.yaml")))
    managed = {"self", "logger", "callbacks", "plugins", "default_root_dir"}
    assert set(inspect.signature(L.Trainer.__init__).parameters) - managed == listed
