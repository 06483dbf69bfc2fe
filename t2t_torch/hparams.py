"""Typed hparams sections: build a dataclass from a config mapping, rejecting unknown keys with close matches.

T2T kept one flat bag of 100+ hparams that every layer read; here each owner (model architecture, optimization,
batching, decoding) has its own small dataclass, and an hparams set YAML fills the sections.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any, TypeVar

from t2t_torch.errors import T2TUserError, did_you_mean

D = TypeVar("D")


def dataclass_from_mapping(cls: type[D], values: Mapping[str, Any] | None, section: str) -> D:
    """`cls(**values)`, with a one-line error naming the closest field for a misspelt key."""
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    values = dict(values or {})
    for key in values:
        if key not in names:
            raise T2TUserError(
                f"unknown hparam '{section}.{key}'.{did_you_mean(key, names)}"
                f" Known {section} hparams: {', '.join(names)}"
            )
    try:
        return cls(**values)
    except T2TUserError:
        raise
    except (TypeError, ValueError) as error:  # a config's own check (`__post_init__`) or a wrong value type
        message = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise T2TUserError(f"hparams.{section}: {message}") from None
