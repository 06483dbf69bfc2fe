"""Every YAML under conf/ composes, and what it configures instantiates (hparams dataclasses, Trainer presets).

Documented full-scale recipes whose problem or model is not ported yet (conf/experiment/, `runnable: false`) cannot
compose; they are checked for the fields the regression runner needs instead."""

from pathlib import Path

import lightning as L
import pytest
from helpers import TINY_PROBLEM, compose
from omegaconf import OmegaConf

from t2t_torch.datamodules.batching import BatchingConfig
from t2t_torch.hparams import dataclass_from_mapping
from t2t_torch.models.transformer import TransformerConfig
from t2t_torch.optim import OptimConfig, build_lr_lambda
from t2t_torch.recipes import load_recipe, option_exists
from t2t_torch.registry import PACKAGE_CONF_DIR

GROUPS = {p.name: sorted(f.stem for f in p.glob("*.yaml")) for p in PACKAGE_CONF_DIR.iterdir() if p.is_dir()}
RECIPES = {name: load_recipe(name, PACKAGE_CONF_DIR / "experiment" / f"{name}.yaml") for name in GROUPS["experiment"]}
NOT_COMPOSABLE = {name for name, recipe in RECIPES.items()
                  if not all(option_exists(group, option) for group, option in recipe.requires.items())}
OPTIONS = [(group, name) for group, names in GROUPS.items() for name in names
           if group not in ("hydra", "__pycache__") and not (group == "experiment" and name in NOT_COMPOSABLE)]


def test_conf_tree_is_complete():
    assert {"hparams", "model", "trainer", "debug"} <= set(GROUPS)
    assert (PACKAGE_CONF_DIR / "train.yaml").is_file() and (PACKAGE_CONF_DIR / "datagen.yaml").is_file()


@pytest.mark.parametrize(("group", "name"), OPTIONS)
def test_every_option_composes(group, name, tmp_path):
    overrides = [*TINY_PROBLEM] if group != "problem" else []
    if group == "hparams_search":
        overrides.append(f"hparams_search={name}")
    else:
        overrides.append(f"{group}={name}")
    cfg = compose(overrides, tmp_path)
    assert cfg.problem.name and cfg.model.name


@pytest.mark.parametrize("name", sorted(NOT_COMPOSABLE))
def test_recipes_awaiting_their_problem_or_model_are_documented(name):
    recipe = RECIPES[name]
    expected = recipe.expected
    assert expected is not None and not expected.runnable and expected.status == "not yet reproduced here"
    assert expected.scale == "full" and expected.metric and expected.hardware and expected.published
    assert {"problem", "model", "hparams", "trainer"} <= set(recipe.requires)
    assert "not registered yet" in recipe.skip_reason()


@pytest.mark.parametrize("name", GROUPS["hparams"])
def test_hparams_sets_instantiate(name, tmp_path):
    cfg = compose([f"hparams={name}"], tmp_path)
    model = dataclass_from_mapping(TransformerConfig, cfg.hparams.model, "model")
    optim = OptimConfig.from_mapping(cfg.hparams.optim)
    dataclass_from_mapping(BatchingConfig, cfg.hparams.batching, "batching")
    assert build_lr_lambda(optim, model.hidden_size, train_steps=1000)(10) > 0


def test_t2t_values_of_named_sets(tmp_path):
    base = compose(["hparams=transformer_base"], tmp_path).hparams
    assert (base.model.hidden_size, base.model.num_hidden_layers, base.model.filter_size, base.model.num_heads) == (512, 6, 2048, 8)
    assert base.optim.optimizer_adam_beta2 == 0.997 and base.optim.learning_rate_constant == 2.0
    big = compose(["hparams=transformer_big"], tmp_path).hparams
    assert (big.model.hidden_size, big.model.filter_size, big.model.num_heads, big.batching.batch_size) == (1024, 4096, 16, 2048)
    assert big.model.layer_prepostprocess_dropout == 0.3
    single = compose(["hparams=transformer_base_single_gpu"], tmp_path).hparams
    assert single.batching.batch_size == 1024 and single.optim.learning_rate_warmup_steps == 16000
    tiny = compose(["hparams=transformer_tiny"], tmp_path).hparams
    assert (tiny.model.num_hidden_layers, tiny.model.hidden_size, tiny.model.filter_size, tiny.model.num_heads) == (2, 128, 512, 4)


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
