"""Run identity: which settings make a run, and so name its directory and decide whether a relaunch may resume it.

A run's identity is its composed config minus the settings that may change between a run and its resumption
(`RESUMABLE_KEYS`, `RESUMABLE_PREFIXES`): how long to train (`trainer.max_steps` may grow, as T2T's
`--train_steps` did, unless the learning-rate schedule decays over it), where files live (`output_dir`,
`ckpt_path`, `usr_dir`), how often to evaluate, log and report, which loggers, and early stopping. Everything else
(problem and its settings, model, hparams, callbacks, seed, trainer hardware and precision, `data_dir`, ...) is
identity: its hash names the run directory (`run_dir_name`), and `train()` refuses to resume a `last.ckpt` whose
saved config differs in it (`first_differences`)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from typing import Any

from t2t_torch.optim.schedule import parse_schedule

# Dotted keys that may differ between a run and the relaunch that resumes it.
RESUMABLE_KEYS = frozenset({
    "output_dir", "ckpt_path", "resume", "usr_dir", "objective", "mode", "eval_split",
    "eval_at_end", "eval_bleu_every", "eval_bleu_samples", "eval_bleu_beam_size", "eval_bleu_ctc_weight",
    "keep_checkpoint_max",
    "trainer.max_steps", "trainer.max_epochs", "trainer.max_time", "trainer.min_steps", "trainer.min_epochs",
    "trainer.val_check_interval", "trainer.limit_val_batches", "trainer.num_sanity_val_steps",
    "trainer.log_every_n_steps", "trainer.enable_progress_bar", "trainer.enable_model_summary", "trainer.profiler",
})
# Subtrees that may differ between a run and its resumption: where and how it logs, when it stops early, the dev
# decodes during training, and the `expected:` band that recipes carried before bands moved to
# conf/known_results.yaml (such runs keep their name). The eval_bleu_* keys above are decode_eval's old names: runs
# written with them keep their name too.
RESUMABLE_PREFIXES = ("logger.", "early_stopping.", "expected.", "decode_eval.")
# Keys the problem's name decides (the factory of its DataModule, problems/settings.py): no identity of their own, and
# left out so that runs composed before the problem node had them keep their directory name and resume.
DERIVED_KEYS = frozenset({"problem._target_"})
# Schedule factors that read the run length (schedule.py's `need_train_steps`): with them max_steps is identity.
TRAIN_STEPS_FACTORS = frozenset({"linear_decay", "single_cycle_cos_decay"})
# Overrides left out of the readable part of a run directory's name: the path names them already
# (outputs/<problem>/<model>-<hparams>/), or they are paths (the hash covers data_dir).
UNNAMED_OVERRIDES = frozenset({"problem", "model", "hparams", "data_dir"})
MAX_READABLE = 80
HASH_CHARS = 8


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """{'a.b': leaf, ...} for nested mappings (lists stay leaves)."""
    if isinstance(node, Mapping) and node:
        return {k: v for key, value in node.items() for k, v in flatten(value, f"{prefix}{key}.").items()}
    return {prefix[:-1]: node}


def resumable_keys(config: Mapping[str, Any]) -> frozenset[str]:
    """RESUMABLE_KEYS, less trainer.max_steps when the learning-rate schedule decays over the run length."""
    schedule = ((config.get("hparams") or {}).get("optim") or {}).get("learning_rate_schedule") or ""
    try:
        factors = set(parse_schedule(schedule)) if schedule else set()
    except ValueError:  # an invalid schedule is reported where it is built; here, assume the worst
        factors = set(TRAIN_STEPS_FACTORS)
    return RESUMABLE_KEYS - {"trainer.max_steps"} if factors & TRAIN_STEPS_FACTORS else RESUMABLE_KEYS


def _under(key: str, prefixes: tuple[str, ...]) -> bool:
    """Whether `key` is one of the subtrees `prefixes` ('logger.') names, or the subtree itself ('logger')."""
    return f"{key}.".startswith(prefixes)


def identity(config: Mapping[str, Any]) -> dict[str, Any]:
    """The flattened settings that make the run (a resolved config as a plain mapping, without `hydra`)."""
    skip = resumable_keys(config) | DERIVED_KEYS
    unnamed = ("hydra.", *RESUMABLE_PREFIXES)
    flat = {k: v for k, v in flatten(config).items() if k not in skip and not _under(k, unnamed)}
    if isinstance(flat.get("data_dir"), str):  # '~/d', '/home/me/d' and 'd' from /home/me are one directory
        flat["data_dir"] = os.path.abspath(os.path.expanduser(flat["data_dir"]))
    return flat


def identity_hash(config: Mapping[str, Any]) -> str:
    text = json.dumps(identity(config), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_CHARS]


def readable_overrides(overrides: list[str], config: Mapping[str, Any]) -> str:
    """The command-line overrides that name the run ('debug=overfit,seed=2'), or 'default'; bounded in length."""
    skip = resumable_keys(config) | UNNAMED_OVERRIDES
    kept = sorted(o for o in overrides if (key := o.lstrip("+~").split("=", 1)[0]) not in skip
                  and not _under(key, RESUMABLE_PREFIXES))
    name = ",".join(kept).replace("/", "_").replace(os.sep, "_") or "default"
    return name if len(name) <= MAX_READABLE else name[:MAX_READABLE].rstrip(",")


def run_dir_name(overrides: list[str], config: Mapping[str, Any]) -> str:
    """'<readable overrides or default>-<hash of the identity>': the same for every relaunch of one run (so it
    resumes), different for any two configs that would train differently (so none silently resumes another)."""
    return f"{readable_overrides(overrides, config)}-{identity_hash(config)}"


def first_differences(saved: Mapping[str, Any], current: Mapping[str, Any], limit: int = 3) -> list[str]:
    """'key: <saved> vs <current>' for the first `limit` identity keys that differ (in the current config's order)."""
    old, new = identity(saved), identity(current)
    keys = [*new, *(k for k in old if k not in new)]
    return [f"{k}: {old.get(k, '<unset>')!r} vs {new.get(k, '<unset>')!r}" for k in keys
            if old.get(k, "<unset>") != new.get(k, "<unset>")][:limit]
