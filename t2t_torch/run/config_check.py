"""Check command-line overrides before Hydra runs, turning composition errors into one line that names the fix.

Hydra's own messages for an unknown group option or key span several lines and end in a stack-trace hint; this
composes the same config first (with the first value of every sweep) and reports, e.g.:
`unknown hparams set 'transformer_tiy'. Did you mean: transformer_tiny? Run t2t-registry to list hparams sets.`
The composed config is then checked (`check_composed`): settings that would fail late or train silently wrong (a
run directory that cannot be made, a foreign checkpoint, a number out of range: range_checks.py) are one line too.
"""

from __future__ import annotations

import re
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException, OverrideParseException
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, flag_override, open_dict
from omegaconf.errors import OmegaConfBaseException

from t2t_torch import registry
from t2t_torch.callbacks.from_config import check_early_stopping, check_entries
from t2t_torch.checkpoints.best import BEST, resolve_checkpoint
from t2t_torch.checkpoints.record import CheckpointRecord
from t2t_torch.errors import T2TUserError, close_matches, did_you_mean
from t2t_torch.hparams import dataclass_from_mapping
from t2t_torch.metrics.logged_metrics import eval_metric_names
from t2t_torch.modalities import modality_config
from t2t_torch.models.body import family_for
from t2t_torch.models.t2t_model import OVERRIDE_KEYS
from t2t_torch.registry import PACKAGE_CONF_DIR
from t2t_torch.run.range_checks import check_batching, check_model_sizes, check_seed, check_trainer
from t2t_torch.run.writable import check_output_folder

# Settings renamed since earlier releases: old key -> new key (an old key is one line naming the new one).
RENAMED_KEYS = {"eval_bleu_every": "decode_eval.every", "eval_bleu_samples": "decode_eval.samples",
                "eval_bleu_beam_size": "decode_eval.beam_size", "eval_bleu_ctc_weight": "decode_eval.ctc_weight"}
GROUP_WORDS = {"problem": "problem", "model": "model", "hparams": "hparams set", "trainer": "trainer preset",
               "experiment": "experiment", "debug": "debug preset"}


def first_choice_overrides(overrides: list[str], keep_hydra: bool = False) -> list[str]:
    """Overrides with every sweep (`a=1,2`, `range(...)`) replaced by its first value; hydra.* dropped unless
    `keep_hydra`. A sweep without values (`x=range(5,1)`) is a one-line error."""
    parser = OverridesParser.create()
    out = []
    for line in overrides:
        try:
            override = parser.parse_overrides([line])[0]
        except OverrideParseException as error:
            raise T2TUserError(unparsable_override(line, error)) from None
        if override.key_or_group.startswith("hydra") and not keep_hydra:
            continue
        if override.is_sweep_override():
            first = next(iter(override.sweep_string_iterator()), None)
            if first is None:
                raise T2TUserError(f"the sweep '{override.input_line}' has no values (range(start, stop) counts up"
                                   " from start and stops before stop): pass a sweep with at least one value")
            out.append(f"{override.get_key_element()}={first}")
        else:
            out.append(override.input_line)
    return out


def unparsable_override(line: str, error: OverrideParseException) -> str:
    """One line for an override Hydra's grammar cannot read. Inside quotes a value is plain text: letters outside
    ASCII (`data_dir=/tmp/größe`) and characters the grammar gives a meaning (brackets, commas) are read there."""
    key, equals, value = line.partition("=")
    reason = str(error).strip().splitlines()[0]
    if reason.startswith("LexerNoViableAltException"):
        reason = "a character Hydra's override grammar cannot read"
    if not equals:
        return f"cannot read the override '{line}' ({reason}): pass key=value"
    if not key.isascii():
        return f"the key of the override '{line}' has characters outside ASCII: config keys are ASCII, check it"
    escaped = value.replace('"', '\\"')
    example = f"""'{key}="{escaped}"' (the single quotes keep the double quotes from the shell)"""
    odd = sorted({c for c in value if not c.isascii()})
    if odd:
        return (f"the override '{line}' has characters outside ASCII ({''.join(odd)}), which Hydra reads only inside"
                f" quotes: quote the value, as in {example}")
    return f"cannot read the override '{line}' ({reason}): quote a value with special characters, as in {example}"


def _compose(overrides: list[str], config_name: str, search_path: list[Path]) -> DictConfig:
    """The composed config, with its hydra node (the command's hydra.* overrides applied) for check_composed."""
    GlobalHydra.instance().clear()
    extra = [f"hydra.searchpath=[{','.join(f'file://{p}' for p in search_path)}]"] if search_path else []
    try:
        with initialize_config_dir(str(PACKAGE_CONF_DIR), version_base="1.3"):
            return compose(config_name, overrides=[*first_choice_overrides(overrides, keep_hydra=True), *extra],
                           return_hydra_config=True)
    finally:
        GlobalHydra.instance().clear()


def compose_config(overrides: list[str], config_name: str = "train", search_path: list[Path] = (),
                   multirun: bool = False) -> DictConfig:
    """Compose `config_name` with `overrides` and check it (`check_composed`; `multirun`: the command has -m);
    raise T2TUserError with one line on any error. The result has no hydra node, as Hydra's `compose`."""
    for override in overrides:
        check_renamed(override.lstrip("+~").split("=", 1)[0], "")
    try:
        cfg = _compose(overrides, config_name, search_path)
    except (HydraException, OmegaConfBaseException) as error:
        message, bad_key = explain(error)
        if bad_key:
            others = [o for o in overrides if o.lstrip("+~").split("=", 1)[0] != bad_key]
            try:
                suggestion = suggest_key(_compose(others, config_name, search_path), bad_key)
            except (HydraException, OmegaConfBaseException):
                suggestion = ""
            message = f"unknown config key '{bad_key}'.{suggestion}" if suggestion else message
        raise T2TUserError(message) from None
    check_composed(cfg, multirun)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


def resolved_hydra_config(overrides: list[str], config_name: str = "train", search_path: list[Path] = (),
                          package: str | None = None, job_name: str = "cli") -> str:
    """What `--cfg hydra --resolve [-p package]` prints. Hydra's own drops the job's keys before it resolves, so
    hydra.run.dir's `${problem.name}` fails with a traceback; here the hydra node is resolved in the whole config
    (as `--cfg all --resolve` does) and the job's keys are dropped after. `job_name`: Hydra's, the name of the
    module of the task function. A bad override is a one-line error."""
    try:
        cfg = _compose(overrides, config_name, search_path)
        if not any(o.startswith("hydra.job.name=") for o in overrides):
            cfg.hydra.job.name = job_name
        hydra_config = HydraConfig.instance()
        previous = hydra_config.cfg
        try:
            hydra_config.set_config(cfg)  # for the ${hydra:...} resolver; it makes cfg.hydra read-only
            OmegaConf.set_readonly(cfg.hydra, None)
            OmegaConf.resolve(cfg.hydra)
        finally:
            hydra_config.cfg = previous
    except (HydraException, OmegaConfBaseException) as error:
        raise T2TUserError(explain(error)[0]) from None
    with flag_override(cfg, ["struct", "readonly"], [False, False]):
        for key in [k for k in cfg if k != "hydra"]:
            del cfg[key]
    with flag_override(cfg.hydra, ["struct", "readonly"], [False, False]):
        del cfg.hydra["help"], cfg.hydra["hydra_help"]  # as Hydra's --cfg hydra
    if package in (None, "_global_"):
        return OmegaConf.to_yaml(cfg)
    node = OmegaConf.select(cfg, package)
    if node is None:
        raise T2TUserError(f"package '{package}' is not in the hydra config: pass -p hydra or -p hydra.<key>")
    return f"# @package {package}\n{OmegaConf.to_yaml(node)}" if OmegaConf.is_config(node) else f"{node}\n"


# Lightning Trainer arguments that take a number (int: a whole one); a string there would fail inside Lightning
# after the data is prepared.
TRAINER_NUMBERS = {"num_nodes": int, "max_epochs": int, "min_epochs": int, "max_steps": int, "min_steps": int,
                   "limit_train_batches": float, "limit_val_batches": float, "limit_test_batches": float,
                   "limit_predict_batches": float, "overfit_batches": float, "val_check_interval": float,
                   "check_val_every_n_epoch": int, "num_sanity_val_steps": int, "log_every_n_steps": int,
                   "accumulate_grad_batches": int, "gradient_clip_val": float,
                   "reload_dataloaders_every_n_epochs": int}


def check_composed(cfg: DictConfig, multirun: bool = False) -> None:
    """One-line errors, before any data is prepared or any folder made, for a composed config that would fail
    later: the run directory Hydra would create, the checkpoint to start from, the seed, the trainer's numbers, the
    batching and the model's hparams (types here, ranges in range_checks.py)."""
    check_run_dir(cfg, multirun)
    for key in RENAMED_KEYS:
        if key in cfg:
            check_renamed(key, " (set by a recipe or config file)")
    if "expected" in cfg:
        raise T2TUserError("the config has an expected: block (a recipe's known result): move it to the"
                           " known_results.yaml beside the recipe (conf/known_results.yaml), which t2t-regress reads;"
                           " it is no setting of the run")
    if cfg.get("mode", "train") not in ("train", "eval"):
        raise T2TUserError(f"mode '{cfg.mode}' is unknown: pass mode=train or mode=eval")
    if cfg.get("ckpt_path"):  # missing, foreign or corrupt: one line before Hydra makes the run directory
        path = Path(str(cfg.ckpt_path)).expanduser()
        if path.name == BEST and not path.exists():
            if "trainer" in cfg and cfg.get("mode", "train") != "eval":  # training; decode.py has no trainer
                raise T2TUserError("ckpt_path=best evaluates or decodes a run's best checkpoint (mode=eval,"
                                   " decode.py); to go on training, pass ckpt_path=<a .ckpt file>")
            if path != Path(BEST):  # <run dir>/best; a bare `best` is the run's own, known once Hydra runs
                CheckpointRecord.load(resolve_checkpoint(path, key="ckpt_path"))
        else:
            CheckpointRecord.load(resolve_checkpoint(path, key="ckpt_path"))  # a file or a sharded directory
    if cfg.get("init_from"):
        if cfg.get("ckpt_path"):
            raise T2TUserError("init_from starts a new run from a checkpoint's weights and ckpt_path resumes one:"
                               " pass only one of them")
        CheckpointRecord.load(resolve_checkpoint(str(cfg.init_from), key="init_from"))
    for group in ("callbacks", "logger"):
        check_entries(cfg.get(group), group)
    if cfg.get("early_stopping") and "problem" in cfg:
        problem_class = registry.problem_class(str(cfg.problem.name))
        names = eval_metric_names(problem_class.eval_metrics, OmegaConf.select(cfg, "decode_eval.every") or 0,
                                  problem_class.decode_metrics or ("bleu", "chrf"))
        check_early_stopping(cfg.early_stopping, names)
    if "seed" in cfg:
        check_seed(cfg.seed)
    trainer = cfg.get("trainer")
    if isinstance(trainer, DictConfig):
        for key, kind in TRAINER_NUMBERS.items():
            value = trainer.get(key)
            whole = isinstance(value, int) or (kind is float and isinstance(value, float))
            if value is not None and (isinstance(value, bool) or not whole):
                word = "a whole number" if kind is int else "a number"
                raise T2TUserError(f"trainer.{key} must be {word}, not '{value}': pass e.g. trainer.{key}=1")
        check_trainer(trainer, training=cfg.get("mode", "train") == "train")
    hparams = cfg.get("hparams")
    if isinstance(hparams, DictConfig) and isinstance(hparams.get("batching"), DictConfig):
        check_batching(OmegaConf.to_container(hparams.batching, resolve=True))
    if "model" in cfg and isinstance(hparams, DictConfig):
        check_model_fits(cfg)


def check_renamed(key: str, where: str) -> None:
    """One line naming the new key when `key` is a setting's old name (RENAMED_KEYS)."""
    if key in RENAMED_KEYS:
        raise T2TUserError(f"{key}{where} is now {RENAMED_KEYS[key]}: pass {RENAMED_KEYS[key]}=... instead")


def check_model_fits(cfg: DictConfig) -> None:
    """The hparams set is one for the model, its model and modality knobs build (their own checks run), and the
    model's family can take the problem's modalities: one line, before any data is prepared."""
    model_name = str(cfg.model.name)
    body = registry.model_class(model_name)
    hparams_set = OmegaConf.select(cfg, "hydra.runtime.choices.hparams", default=None) or "the hparams set"
    fits = cfg.hparams.get("models")
    if fits is not None and model_name not in fits:
        others = [n for n in registry.list_hparams() if model_name in (_hparams_models(n) or [model_name])]
        raise T2TUserError(f"hparams set {hparams_set} is for model {', '.join(map(str, fits))}, not {model_name}:"
                           f" pass hparams=<one of: {', '.join(others) or 'none yet'}>")
    model_hparams = OmegaConf.to_container(cfg.hparams.get("model"), resolve=True)
    check_model_sizes(body.config_class, model_hparams or {})
    dataclass_from_mapping(body.config_class, model_hparams, "model")  # its own checks (__post_init__) run
    modality_hparams = OmegaConf.to_container(cfg.hparams.get("modality") or {}, resolve=True)
    for name, values in modality_hparams.items():
        if name not in OVERRIDE_KEYS:
            modality_config(name, values)
    if "problem" in cfg:
        problem_name = str(cfg.problem.name)
        problem_class = registry.problem_class(problem_name)
        modalities = problem_class.class_modalities(reversed_=problem_name.endswith(registry.REVERSED_SUFFIX))
        overrides = {k: v for k, v in modality_hparams.items() if k in OVERRIDE_KEYS and v}
        family_for(body, {**modalities, **overrides}, model_name, problem_name, registry.model_classes())


def _hparams_models(name: str) -> list[str] | None:
    """The `models:` list of hparams set `name` (None when it has none)."""
    loaded = OmegaConf.load(registry.hparams_file(name))
    if not isinstance(loaded, DictConfig):
        return None
    if loaded.get("models") is not None:
        return [str(m) for m in loaded.models]
    for parent in loaded.get("defaults") or []:  # inherited from the set it extends
        if isinstance(parent, str) and parent != "_self_":
            return _hparams_models(parent)
    return None


def check_run_dir(cfg: DictConfig, multirun: bool = False) -> None:
    """Refuse a run (or sweep) directory that Hydra could not create: under a regular file, or not writable."""
    if "hydra" not in cfg:
        return
    multirun = multirun or cfg.hydra.get("mode") == RunMode.MULTIRUN
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    hydra_config = HydraConfig.instance()
    previous = hydra_config.cfg
    try:
        hydra_config.set_config(cfg)  # the ${hydra:...} resolver reads it, as when Hydra itself makes the folder
        folder = OmegaConf.select(cfg, key)
    except OmegaConfBaseException:  # unresolvable here: check the part before the first interpolation
        folder = str(OmegaConf.to_container(cfg.hydra[key.split(".")[1]], resolve=False)["dir"]).split("${")[0]
    finally:
        hydra_config.cfg = previous
    if folder:
        check_output_folder(folder, key)


def explain(error: Exception) -> tuple[str, str | None]:
    """(one-line message, the offending dotted key if the error is about a key)."""
    text = str(error)
    missing = re.search(r"Could not find '([\w/]+)/([^']+)'", text)
    if missing:
        group, name = missing.groups()
        options = re.findall(r"^\t(\S+)$", text, flags=re.M)
        word = GROUP_WORDS.get(group, group)
        return f"unknown {word} '{name}'.{did_you_mean(name, options)} Run t2t-registry to list them.", None
    merged = re.search(r"Could not override '([^']+)'", text)
    inner = re.search(r"Key '([^']+)' is not in struct\s+full_key: (\S+)", str(error.__cause__ or ""))
    if merged and inner and inner.group(2) == f"{merged.group(1)}.{inner.group(1)}":
        key, new = merged.group(1), inner.group(1)  # a {...} value merged into the mapping the key holds already
        return (f"{key} already holds a mapping without '{new}' (set by the config or a recipe), and a {{...}} value"
                f" is merged into it: to replace the whole mapping, pass {key}=null before it ({key}=null"
                f" '{key}={{...}}'); to add one key, pass +{key}.{new}=..."), None
    key = merged or re.search(r"Key '([^']+)' is not in struct", text)
    if key:
        return f"unknown config key '{key.group(1)}' (add a new key with +{key.group(1)}=...).", key.group(1)
    return text.strip().splitlines()[0], None


def suggest_key(cfg: DictConfig, key: str) -> str:
    """For an unknown dotted key, the close existing keys at the same path (hparams.model.hiden_size ->
    hparams.model.hidden_size), then the keys elsewhere with the same last part (hparams.learning_rate_constant ->
    hparams.optim.learning_rate_constant); '' when there are none."""
    parent, _, leaf = key.rpartition(".")
    node = OmegaConf.select(cfg, parent) if parent else cfg
    siblings = list(node.keys()) if isinstance(node, DictConfig) else []
    paths = [f"{parent}.{k}" if parent else str(k) for k in close_matches(leaf, map(str, siblings))]
    container = {k: v for k, v in OmegaConf.to_container(cfg, resolve=False).items() if k != "hydra"}
    paths += [p for p in _leaf_paths(container) if p.rsplit(".", 1)[-1] == leaf and p not in paths]
    return f" Did you mean: {', '.join(paths)}?" if paths else ""


def _leaf_paths(node: object, prefix: str = "") -> list[str]:
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _leaf_paths(v, f"{prefix}{k}.")]
    return [prefix[:-1]]
