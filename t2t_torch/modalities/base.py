"""The modality contract (T2T's `Modality`: bottom, targets_bottom, top, loss), plus its data side (collate).

A modality is built per feature from that feature's `FeatureSpec`, the body's hidden size, its typed knobs
(`hparams.modality.<name>.*`, a dataclass per modality) and what the body takes: `"sequence"` bodies read
(B, T, D) vectors with a (B, T) mask, `"spatial"` bodies read (B, H, W, C) floats. On the data side,
`collate(values, feature)` turns a list of examples' values into one batch tensor, without building the module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn as nn

from t2t_torch.errors import T2TUserError, did_you_mean
from t2t_torch.spec import FeatureSpec

BODY_INPUTS = ("sequence", "spatial")


@dataclass
class NoKnobs:
    """A modality without settings."""


class Modality(nn.Module):
    """Base class; subclasses set `name` (their registry key) and `config_class`, and override what they serve."""

    name: ClassVar[str] = ""
    config_class: ClassVar[type] = NoKnobs
    can_be_input: ClassVar[bool] = True
    can_be_target: ClassVar[bool] = True
    sequence_top: ClassVar[bool] = False  # True: top yields one prediction per position (decodable step by step)
    eval_metrics: ClassVar[str] = "loss"  # the teacher-forced eval metrics as a target (metrics/eval_metrics.py)
    token_ids: ClassVar[bool] = False  # values are ids of a vocabulary: the problem's encoders turn them into text
    labels: ClassVar[bool] = False  # one class id per example, named by the spec's extra["labels"]
    length_unit: ClassVar[str] = "rows"  # what one step of a variable-length value is (data reports)
    bounds_output_length: ClassVar[bool] = False  # as inputs: the encoder's length bounds a decoded output's (speech)
    kinds: ClassVar[dict[str, type[Modality]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:
            if cls.name in Modality.kinds and Modality.kinds[cls.name] is not cls:
                raise ValueError(f"modality '{cls.name}' is already registered by {Modality.kinds[cls.name]}")
            Modality.kinds[cls.name] = cls

    def __init__(self, feature: FeatureSpec, hidden_size: int, config: Any, body_input: str = "sequence") -> None:
        super().__init__()
        if body_input not in BODY_INPUTS:
            raise ValueError(f"body_input must be one of {BODY_INPUTS}, got {body_input!r}")
        self.feature = feature
        self.hidden_size = hidden_size
        self.config = config
        self.body_input = body_input

    @classmethod
    def takes(cls, body_input: str) -> bool:
        """Whether this modality's bottom can feed a body that reads `body_input`."""
        return body_input == "sequence"

    # Model side -------------------------------------------------------------------------------------------------
    def bottom(self, x: torch.Tensor) -> torch.Tensor:
        """The feature as the body reads it: (B, T, D) for sequence bodies, (B, H, W, C) for spatial ones."""
        raise NotImplementedError(f"modality {self.name} cannot be a model input")

    def mask(self, x: torch.Tensor) -> torch.Tensor | None:
        """(B, T) True where `bottom(x)` holds a real position (not padding); None: every position is real."""
        return None

    def targets_bottom(self, y: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: what a decoder reads at each target position (the targets shifted right, embedded)."""
        raise NotImplementedError(f"modality {self.name} cannot feed a decoder")

    def step_bottom(self, ids: torch.Tensor) -> torch.Tensor:
        """Incremental decoding: the last emitted ids (N, 1) as the decoder's next input (N, 1, D)."""
        raise NotImplementedError(f"modality {self.name} cannot be decoded step by step")

    def top(self, h: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Body output -> logits or predictions."""
        raise NotImplementedError(f"modality {self.name} cannot be a model target")

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(sum of the losses, their weight: tokens or examples counted)."""
        raise NotImplementedError(f"modality {self.name} has no loss")

    def weights(self, targets: torch.Tensor) -> torch.Tensor:
        """Which target entries count (True), for metrics: non-padding positions by default."""
        return targets != self.feature.pad_value

    # Data side --------------------------------------------------------------------------------------------------
    @classmethod
    def collate(cls, values: list[np.ndarray], feature: FeatureSpec) -> torch.Tensor:
        """Stack one feature of a batch's examples: variable-length ones padded with `pad_value` to the longest."""
        if not feature.is_variable_length:
            return torch.from_numpy(np.stack([np.asarray(v, dtype=feature.dtype) for v in values]))
        longest = max(len(v) for v in values)
        out = np.full((len(values), longest, *feature.inner_shape), feature.pad_value, dtype=feature.dtype)
        for row, value in enumerate(values):
            out[row, : len(value)] = value
        return torch.from_numpy(out)


def modality_class(name: str) -> type[Modality]:
    if name not in Modality.kinds:
        raise T2TUserError(f"unknown modality '{name}'.{did_you_mean(name, Modality.kinds)}"
                           f" Known modalities: {', '.join(sorted(Modality.kinds))}.")
    return Modality.kinds[name]


def modality_config(name: str, values: Mapping[str, Any] | None) -> Any:
    """The typed knobs of modality `name` from `hparams.modality.<name>`, misspelt keys refused with close matches."""
    cls = modality_class(name).config_class
    known = [f.name for f in fields(cls)]
    for key in values or {}:
        if key not in known:
            raise T2TUserError(f"unknown hparam 'modality.{name}.{key}'.{did_you_mean(key, known)}"
                               f" Known modality.{name} hparams: {', '.join(known) or 'none'}")
    return cls(**dict(values or {}))
