"""Range checks of a composed config's numbers, run by config_check.py before any data is prepared.

A type check alone lets through values that Lightning, numpy or a model refuse much later with a traceback
(`trainer.val_check_interval=0`: a ZeroDivisionError after the data is prepared; `seed=-1`: numpy's bounds error;
`hparams.model.hidden_size=0`), or that train silently wrong (`hparams.batching.batch_size=0` trains on batches of
one example). Each check here raises a `T2TUserError` whose one line names the setting, its accepted values and an
example.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf

from t2t_torch.datamodules.batching import BatchingConfig
from t2t_torch.errors import T2TUserError

MAX_SEED = 2**32 - 1  # numpy's and Lightning's seeds are unsigned 32-bit numbers

# trainer.<key> -> (the smallest whole number it takes (-1: "no limit" or "all", as Lightning reads it), an example).
TRAINER_MINIMUM = {"num_nodes": (1, 2), "max_epochs": (-1, 10), "min_epochs": (0, 1), "min_steps": (0, 100),
                   "check_val_every_n_epoch": (1, 1), "num_sanity_val_steps": (-1, 2), "log_every_n_steps": (0, 50),
                   "accumulate_grad_batches": (1, 2), "reload_dataloaders_every_n_epochs": (0, 1)}
# Lightning's batch limits: a whole number of batches, or a fraction of them in [0, 1].
TRAINER_LIMITS = ("limit_train_batches", "limit_val_batches", "limit_test_batches", "limit_predict_batches",
                  "overfit_batches")
TIMEDELTA_KEYS = ("weeks", "days", "hours", "minutes", "seconds", "milliseconds", "microseconds")

# hparams.model.<key> -> its smallest value, for the size-like fields every model names the same way. Fields ending
# in `dropout` are rates in [0, 1); `num_hidden_layers` of a model with num_encoder_layers/num_decoder_layers (0:
# num_hidden_layers, the transformer's) must give each stack at least one layer.
MODEL_MINIMUM = {"hidden_size": 1, "filter_size": 1, "num_heads": 1, "num_hidden_layers": 0,
                 "num_encoder_layers": 0, "num_decoder_layers": 0}
# hparams.batching.<key> -> its smallest value (a batch_size counts tokens, or examples for problems not counted in
# tokens; max_length 0: batch_size).
BATCHING_MINIMUM = {"batch_size": 1, "max_length": 0, "min_length_bucket": 1, "num_workers": 0}


def is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _at_least(key: str, value: Any, minimum: int, example: Any) -> None:
    if not is_whole(value) or value < minimum:
        raise T2TUserError(f"{key} must be a whole number >= {minimum}, not {value!r}: pass e.g. {key}={example}")


def check_seed(value: Any) -> None:
    """A seed numpy and Lightning take: a whole number in [0, 2**32 - 1]."""
    if not is_whole(value) or not 0 <= value <= MAX_SEED:
        raise T2TUserError(f"seed must be a whole number from 0 to {MAX_SEED}, not {value!r}: pass e.g. seed=1234")


def check_max_time(value: Any) -> None:
    """`trainer.max_time` in a form Lightning's Timer takes: 'DD:HH:MM:SS' or a mapping of timedelta arguments."""
    if value is None:
        return
    if isinstance(value, DictConfig):
        value = OmegaConf.to_container(value, resolve=True)
    if isinstance(value, str) and re.fullmatch(r"\d+:\d\d:\d\d:\d\d", value.strip()):
        return
    if isinstance(value, Mapping) and value and all(
            k in TIMEDELTA_KEYS and is_number(v) and v >= 0 for k, v in value.items()):
        return
    raise T2TUserError(f"trainer.max_time must be a duration, not {value!r}: pass 'DD:HH:MM:SS' (e.g."
                       f" trainer.max_time=00:12:00:00) or timedelta arguments ({', '.join(TIMEDELTA_KEYS)}; e.g."
                       " 'trainer.max_time={hours:12}')")


def check_trainer(trainer: Mapping[str, Any], training: bool) -> None:
    """The trainer's numbers in the ranges Lightning takes (their types are checked already); `training`: the run
    trains (mode=train), so max_steps=0 would train nothing."""
    for key, (minimum, example) in TRAINER_MINIMUM.items():
        value = trainer.get(key)
        if value is not None:
            _at_least(f"trainer.{key}", value, minimum, example)
    steps = trainer.get("max_steps")
    if steps is not None and (not is_whole(steps) or steps < -1 or (steps == 0 and training)):
        raise T2TUserError(f"trainer.max_steps must be -1 (no limit) or a whole number >= 1, not {steps!r}: pass"
                           " e.g. trainer.max_steps=1000 (to evaluate a checkpoint without training: mode=eval)")
    for key in TRAINER_LIMITS:
        value = trainer.get(key)
        if value is not None and not (is_number(value) and (0 <= value <= 1 or float(value).is_integer())
                                      and value >= 0):
            raise T2TUserError(f"trainer.{key} must be a whole number of batches >= 0 or a fraction of them in"
                               f" [0, 1], not {value!r}: pass e.g. trainer.{key}=100 or trainer.{key}=0.25")
    interval = trainer.get("val_check_interval")
    if interval is not None and not (is_number(interval) and interval > 0 and (
            interval <= 1 or float(interval).is_integer())):
        raise T2TUserError(f"trainer.val_check_interval must be a whole number of steps >= 1 or a fraction of an"
                           f" epoch in (0, 1], not {interval!r}: pass e.g. trainer.val_check_interval=1000")
    clip = trainer.get("gradient_clip_val")
    if clip is not None and (not is_number(clip) or clip < 0):
        raise T2TUserError(f"trainer.gradient_clip_val must be a number >= 0 (0 or null: no clipping), not {clip!r}:"
                           " pass e.g. trainer.gradient_clip_val=1.0")
    check_max_time(trainer.get("max_time"))


def _fields_with_defaults(config_class: type, values: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """field name -> (its value in `values`, else its default; its default) for each field of `config_class`,
    less those left None by a None default (a value derived later) and those without a value or default (building
    the class names them)."""
    out = {}
    for field in dataclasses.fields(config_class):
        if field.default is not dataclasses.MISSING:
            default = field.default
        elif field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        elif field.name not in values:
            continue
        else:
            default = None
        value = values.get(field.name, default)
        if value is not None or default is not None:
            out[field.name] = (value, default)
    return out


def check_model_sizes(config_class: type, values: Mapping[str, Any]) -> None:
    """A model's size-like hparams (`MODEL_MINIMUM`, `*dropout`) in range, before its config class is built (whose
    own checks, `__post_init__`, could divide by a size of 0). Unknown keys are left to that build."""
    fields = _fields_with_defaults(config_class, values)
    for name, (value, default) in fields.items():
        key = f"hparams.model.{name}"
        if name in MODEL_MINIMUM:
            _at_least(key, value, MODEL_MINIMUM[name], default)
        elif name.endswith("dropout") and not (is_number(value) and 0 <= value < 1):
            raise T2TUserError(f"{key} must be a number in [0, 1), not {value!r}: pass e.g. {key}={default}")
    stacks = [k for k in ("num_encoder_layers", "num_decoder_layers") if k in fields]
    layers, default = fields.get("num_hidden_layers", (1, 1))
    if stacks and layers < 1 and not all(fields[k][0] for k in stacks):  # a stack of 0 layers ignores its inputs
        raise T2TUserError(f"hparams.model.num_hidden_layers must be a whole number >= 1 (the layers of each stack"
                           f" whose own {' or '.join(stacks)} is 0), not {layers}: pass e.g."
                           f" hparams.model.num_hidden_layers={default}")


def check_batching(values: Mapping[str, Any]) -> None:
    """hparams.batching's numbers in range (`BATCHING_MINIMUM`, and buckets that grow); unknown keys are left to
    building BatchingConfig."""
    fields = _fields_with_defaults(BatchingConfig, values)
    for name, minimum in BATCHING_MINIMUM.items():
        if name in fields:
            value, default = fields[name]
            _at_least(f"hparams.batching.{name}", value, minimum, default)
    step = values.get("length_bucket_step")
    if step is not None and not (is_number(step) and step > 1):
        raise T2TUserError(f"hparams.batching.length_bucket_step must be a number > 1 (how much each length bucket"
                           f" grows), not {step!r}: pass e.g. hparams.batching.length_bucket_step=1.1")
