"""conf/problem/ holds YAML presets over the problems' typed nodes (problems/settings.py, run/config_store.py): the
data of the recipes (their local paths, moved out of conf/experiment/) and copy-ready templates for a user's own
text, labelled text, monolingual text, images and recordings. Every preset composes as `problem=<stem>` without
Hydra's same-name schema warning and instantiates as its problem's DataModule (or asks for data_files in one line);
a template is its problem's class defaults exactly, so `problem=<template>` is what it was without the YAML; every
registered problem still resolves; a preset in a usr_dir's conf/problem/ is found; and the recipes compose the same
problem node as when they set the paths themselves (so their run directories keep their names)."""

import shutil
import warnings
from pathlib import Path
from typing import Any

import pytest
from hydra import initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

import t2t_torch  # noqa: F401  (registers the built-ins)
from t2t_torch import registry
from t2t_torch.datamodules.datamodule import ProblemDataModule
from t2t_torch.errors import T2TUserError
from t2t_torch.models.body import family_for
from t2t_torch.problems.settings import DATAMODULE_TARGET
from t2t_torch.registry import PACKAGE_CONF_DIR
from t2t_torch.run.config_check import _hparams_models, compose_config
from t2t_torch.run.config_store import register_configs
from t2t_torch.run.train import build_datamodule
from tests.fixtures.helpers import compose

PRESET_DIR = PACKAGE_CONF_DIR / "problem"
PRESETS = sorted(path.stem for path in PRESET_DIR.glob("*.yaml"))
TEMPLATES = ("text2text_files", "text2class_files", "text2self_files", "image_folder", "speech_folder")
SCHEMA_PREFIX, SCHEMA_SUFFIX = "/problem_schema/", "@_here_"
# What each recipe's problem node was when the recipe set its local paths itself (before the presets): the problem,
# and the knobs it set over the class defaults. The recipe now names the preset; the composed node must not change.
RECIPE_PROBLEMS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "image_fashion_mnist_resnet": ("image_fashion_mnist_debian", "image_fashion_mnist",
                                   {"data_files": {"root": "/usr/share/datasets/fashion-mnist"}}),
    "speech_synthetic_tiny": ("speech_synthetic", "speech_folder",
                              {"data_files": {"root": "~/t2t_data/raw/synthetic_speech"}, "spec_augment": False}),
    "translate_ende_fillets_finetune": ("translate_ende_fillets", "text2text_files",
                                        {"data_files": {"train": "~/t2t_data/raw/fillets/train.tsv",
                                                        "dev": "~/t2t_data/raw/fillets/dev.tsv",
                                                        "test": "~/t2t_data/raw/fillets/test.tsv"},
                                         "approx_vocab_size": 4096}),
}


def schema_of(path: Path) -> str:
    """The registered problem whose schema the preset at `path` extends (its first defaults entry)."""
    defaults = list(OmegaConf.load(path).get("defaults") or [])
    assert defaults[-1:] == ["_self_"] and len(defaults) == 2, f"{path.name}: defaults must be [schema, _self_]"
    entry = str(defaults[0])
    assert entry.startswith(SCHEMA_PREFIX) and entry.endswith(SCHEMA_SUFFIX), \
        f"{path.name} must extend its problem's schema: - {SCHEMA_PREFIX}<problem>{SCHEMA_SUFFIX}"
    return entry[len(SCHEMA_PREFIX):-len(SCHEMA_SUFFIX)]


def class_node(name: str) -> dict[str, Any]:
    """The typed node `problem=<name>` composed to before conf/problem/ existed: the class defaults, lists for
    tuples (as OmegaConf stores them)."""
    defaults = registry.problem_class(name).default_config()
    knobs = {key: list(value) if isinstance(value, tuple) else value for key, value in defaults.items()}
    return {"_target_": DATAMODULE_TARGET, "name": name, **knobs}


def _fits(problem: str, model: str) -> bool:
    cls = registry.problem_class(problem)
    try:
        family_for(registry.model_class(model), cls.class_modalities(problem.endswith("_rev")), model, problem)
    except T2TUserError:
        return False
    return True


def companions(problem: str) -> list[str]:
    """A model and hparams set that take `problem` (the compose-time check refuses other pairs)."""
    model = next(m for m in ["transformer", *registry.list_models()] if _fits(problem, m))
    hparams = next(h for h in ["transformer_tiny", *registry.list_hparams()]
                   if model in (_hparams_models(h) or [model]))
    return [f"model={model}", f"hparams={hparams}"]


def composed_without_schema_warning(overrides: list[str], tmp_path: Path, search_path: list[Path] = ()) -> Any:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if search_path:
            cfg = compose_config([*overrides, f"data_dir={tmp_path / 'data'}"], "train", list(search_path))
        else:
            cfg = compose(overrides, tmp_path)
    schema = [str(w.message) for w in caught if "schema" in str(w.message).lower()]
    assert not schema, f"Hydra warned: {schema[0]}"
    return cfg


def test_the_templates_and_recipe_presets_are_there():
    assert set(TEMPLATES) <= set(PRESETS)
    assert {preset for preset, _, _ in RECIPE_PROBLEMS.values()} <= set(PRESETS)


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_composes_and_instantiates(name, tmp_path):
    """`problem=<preset>` composes (no schema warning) to the node of the registered problem it extends, with only
    that problem's knobs, and that node is the problem's LightningDataModule, or a one-line request for data_files."""
    problem = schema_of(PRESET_DIR / f"{name}.yaml")
    assert problem in registry.list_problems(include_reversed=True)
    own = OmegaConf.to_container(OmegaConf.load(PRESET_DIR / f"{name}.yaml"))
    own.pop("defaults")
    unknown = set(own) - set(registry.problem_class(problem).default_config())
    assert not unknown, f"{name}.yaml sets {unknown}, which are no knobs of {problem}"
    cfg = composed_without_schema_warning([f"problem={name}", *companions(problem)], tmp_path)
    assert cfg.problem.name == problem and cfg.problem._target_ == DATAMODULE_TARGET
    node = OmegaConf.to_container(cfg.problem)
    assert node == {**class_node(problem), **own}
    try:
        datamodule = build_datamodule(cfg)
    except T2TUserError as error:  # a problem over the user's own files asks for them, in one line
        assert "data_files" in str(error) and "\n" not in str(error)
    else:
        assert isinstance(datamodule, ProblemDataModule) and datamodule.problem.name == problem


@pytest.mark.parametrize("name", TEMPLATES)
def test_templates_are_the_class_defaults(name, tmp_path):
    """A template extends its own problem, lists every knob at its class default (so `problem=<template>` is the bare
    problem, as before the YAML), and says how to copy it, with an example data_files to fill in."""
    path = PRESET_DIR / f"{name}.yaml"
    assert schema_of(path) == name
    own = OmegaConf.to_container(OmegaConf.load(path))
    own.pop("defaults")
    defaults = class_node(name)
    assert own == {key: value for key, value in defaults.items() if key not in ("_target_", "name")}
    cfg = composed_without_schema_warning([f"problem={name}", *companions(name)], tmp_path)
    assert OmegaConf.to_container(cfg.problem) == defaults
    text = path.read_text(encoding="utf-8")
    assert "conf/problem/<my_" in text and "<usr_dir>/conf/problem/" in text and "python train.py problem=<my_" in text
    assert "\n# data_files:\n" in text, f"{name}.yaml: no commented data_files example to fill in"
    for key in own:  # every knob is explained, on its line or in the comment block above it
        before = text[:text.index(f"\n{key}:")]
        line = text[text.index(f"\n{key}:") + 1:].split("\n", 1)[0]
        assert "#" in line or before.rstrip().rsplit("\n", 1)[-1].startswith("#"), f"{name}.yaml: {key} is unexplained"


def test_every_registered_problem_resolves(tmp_path):
    """`problem=<name>` of every registered problem and `_rev` twin is an option: its typed node from the registry,
    or the preset of the same name, which extends that node (presets compose above); the other options are the
    presets with names of their own. A problem and a `_rev` twin compose end to end."""
    register_configs()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(str(PACKAGE_CONF_DIR), version_base="1.3"):
            options = set(GlobalHydra.instance().config_loader().get_group_options("problem"))
    finally:
        GlobalHydra.instance().clear()
    names = registry.list_problems(include_reversed=True)
    assert options == set(names) | set(PRESETS)
    stored = ConfigStore.instance().repo["problem"]
    for name in names:
        if name in PRESETS:  # the YAML takes the node's place (no same-name schema warning: config_store.py)
            assert f"{name}.yaml" not in stored
        else:
            assert OmegaConf.to_container(stored[f"{name}.yaml"].node) == class_node(name), name
    for name in ("translate_ende_bible", "translate_ende_bible_rev"):
        cfg = composed_without_schema_warning([f"problem={name}", *companions(name)], tmp_path)
        assert OmegaConf.to_container(cfg.problem) == class_node(name)


@pytest.fixture
def usr_conf(tmp_path):
    """A usr_dir's conf/ with two presets: a corpus of its own (a filled-in copy of a template) and one named after a
    registered problem, which takes that problem's place; the problem options are registered again afterwards."""
    conf = tmp_path / "my_t2t" / "conf"
    (conf / "problem").mkdir(parents=True)
    text = (PRESET_DIR / "text2text_files.yaml").read_text(encoding="utf-8")
    filled = text.replace("\ndata_files: null\n", "\ndata_files: {train: /corpus/train.tsv, dev: /corpus/dev.tsv}\n")
    assert filled != text
    (conf / "problem" / "my_corpus.yaml").write_text(filled, encoding="utf-8")
    (conf / "problem" / "algorithmic_sort_problem.yaml").write_text(
        "defaults:\n  - /problem_schema/algorithmic_sort_problem@_here_\n  - _self_\n\ndev_size: 7\n", encoding="utf-8")
    register_configs(conf_dirs=[conf])  # as the CLI does for usr_dir=
    yield conf
    register_configs()


def test_a_usr_dir_preset_is_found(usr_conf, tmp_path):
    cfg = composed_without_schema_warning(["problem=my_corpus"], tmp_path, [usr_conf])
    assert cfg.problem.name == "text2text_files"
    assert OmegaConf.to_container(cfg.problem.data_files) == {"train": "/corpus/train.tsv", "dev": "/corpus/dev.tsv"}
    cfg = composed_without_schema_warning(["problem=algorithmic_sort_problem", "problem.train_size=9"], tmp_path,
                                          [usr_conf])
    assert cfg.problem.name == "algorithmic_sort_problem" and cfg.problem.dev_size == 7 and cfg.problem.train_size == 9
    with pytest.raises(T2TUserError, match="unknown config key 'problem.dev_sise'"):
        compose_config(["problem=my_corpus", "problem.dev_sise=3"], "train", [usr_conf])


def test_a_copied_template_reads_a_corpus(tmp_path):
    """The template text2text_files.yaml, copied under another name with data_files filled in, is a corpus that
    prepares (the user's path through a preset, end to end up to the data)."""
    conf = tmp_path / "conf"
    (conf / "problem").mkdir(parents=True)
    for split, count in (("train", 40), ("dev", 4)):
        (tmp_path / f"{split}.tsv").write_text("".join(f"a b {i}\tb a {i}\n" for i in range(count)), encoding="utf-8")
    shutil.copy(PRESET_DIR / "text2text_files.yaml", conf / "problem" / "tiny_corpus.yaml")
    path = conf / "problem" / "tiny_corpus.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "\ndata_files: null\n", f"\ndata_files: {{train: {tmp_path}/train.tsv, dev: {tmp_path}/dev.tsv}}\n"),
        encoding="utf-8")
    register_configs(conf_dirs=[conf])
    try:
        cfg = composed_without_schema_warning(["problem=tiny_corpus", "problem.vocab_type=byte"], tmp_path, [conf])
    finally:
        register_configs()
    datamodule = build_datamodule(cfg)
    datamodule.problem.generate_data(tmp_path / "data")
    assert len(datamodule.problem.dataset("train", tmp_path / "data")) == 40


@pytest.mark.parametrize("recipe", sorted(RECIPE_PROBLEMS))
def test_recipes_compose_the_same_problem_through_their_preset(recipe, tmp_path):
    """The recipe names its data's preset and composes the very node it composed when it set the paths itself (the
    run identity hashes the composed config, so its run directory keeps its name)."""
    preset, problem, knobs = RECIPE_PROBLEMS[recipe]
    raw = OmegaConf.load(PACKAGE_CONF_DIR / "experiment" / f"{recipe}.yaml")
    assert {"override /problem": preset} in [OmegaConf.to_container(e) for e in raw.defaults if not isinstance(e, str)]
    cfg = composed_without_schema_warning([f"experiment={recipe}"], tmp_path)
    assert OmegaConf.to_container(cfg.problem) == {**class_node(problem), **knobs}


@pytest.mark.parametrize("recipe", sorted(p.stem for p in (PACKAGE_CONF_DIR / "experiment").glob("*.yaml")))
def test_no_recipe_sets_local_paths(recipe):
    """Local data paths live in conf/problem/ presets, not in the recipes."""
    problem = OmegaConf.load(PACKAGE_CONF_DIR / "experiment" / f"{recipe}.yaml").get("problem") or {}
    assert "data_files" not in problem and "brown_dir" not in problem


def test_a_knob_takes_every_value_its_class_declares_and_nothing_else(tmp_path):
    """A knob is typed by what the problem class declares, not only by its default: `image_size: ClassVar[Any] =
    32` takes [height, width], `max_vocab_lines: int | None` takes null; a value of the wrong type fails when the
    config is composed, naming the knob."""
    register_configs()
    cfg = compose_config(["problem=image_folder", "problem.image_size=[64,48]", "model=basic_fc_relu",
                          "hparams=basic_fc_small"], "train")
    assert OmegaConf.to_container(cfg.problem.image_size) == [64, 48]
    cfg = compose_config(["problem=text2text_files", "problem.max_vocab_lines=null"], "train")
    assert cfg.problem.max_vocab_lines is None
    with pytest.raises(T2TUserError, match="problem.approx_vocab_size"):
        compose_config(["problem=text2text_files", "problem.approx_vocab_size=many"], "train")
