"""Model bodies and their families: what a body reads and serves, and which family a (problem, model) pair is.

A body is a plain `nn.Module` between the modalities' bottoms and tops (T2T's `T2TModel.body`), registered with
`@register_model(name)`, a typed `config_class` (its `hparams.model` section) and the families it can serve
(`family.py`: the `Family` enum and the methods each family's bodies implement, checked when a body class is made).

`family_for` picks the first family of the body that the problem's modalities allow, or raises one line naming
the models that can take the problem.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch.nn as nn

from t2t_torch.errors import T2TUserError
from t2t_torch.modalities import modality_class
from t2t_torch.models.family import Family, missing_methods

FAMILIES = tuple(Family)


class Body(nn.Module):
    """Base of every registered model body."""

    families: ClassVar[tuple[Family, ...]] = ()
    config_class: ClassVar[type]
    body_input: ClassVar[str] = "sequence"  # what its inputs' bottom must give: sequence (B, T, D) or spatial

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A body's `families` become `Family` members (a misspelt one fails here) and it must implement each."""
        super().__init_subclass__(**kwargs)
        unknown = [f for f in cls.families if f not in FAMILIES]
        if unknown:
            raise TypeError(f"{cls.__qualname__}.families names {unknown}: families are {[str(f) for f in FAMILIES]}")
        cls.families = tuple(Family(f) for f in cls.families)
        for family in cls.families:
            if missing_methods(cls, family):
                raise TypeError(f"{cls.__qualname__} serves {family} but lacks {missing_methods(cls, family)}"
                                " (models/family.py)")

    def __init__(self, config: Any, family: Family | str, input_shape: tuple[int | None, ...] = ()) -> None:
        """`input_shape`: the per-example shape of the inputs feature (the spec's), `()` without inputs."""
        super().__init__()
        if family not in self.families:
            raise ValueError(f"{type(self).__name__} serves {self.families}, not {family}")
        self.config = config
        self.family = Family(family)
        self.input_shape = tuple(input_shape)

    @classmethod
    def output_width(cls, config: Any) -> int:
        """The width of what the body writes, per position (the targets' top is built for it): `hidden_size` for
        sequence bodies; a CNN overrides it with its last stage's channels."""
        return int(config.hidden_size)

    @classmethod
    def auxiliary_losses(cls, config: Any) -> dict[str, float]:
        """The auxiliary losses this config asks for on the encoder's output, by name (`models/auxiliary_loss.py`)
        with their share of the loss; the generic wrapper builds and mixes them. Default: none."""
        return {}

    @property
    def hidden_size(self) -> int:
        """The width of what the body writes (the LR schedule's rsqrt_hidden_size reads it)."""
        return self.output_width(self.config)

    @classmethod
    def shrink(cls, values: Mapping[str, Any]) -> dict[str, Any]:
        """`values` (an hparams.model mapping) at toy width and depth, same architecture: what the registry-generated
        tests build every hparams set at. Default: the Transformer-style width keys that are present."""
        tiny = {"hidden_size": 16, "filter_size": 32, "num_heads": 2}
        return {**values, **{key: value for key, value in tiny.items() if key in values}}


def _allows(family: str, body_input: str, inputs: str | None, targets: str) -> bool:
    target = modality_class(targets)
    if not target.can_be_target:
        return False
    source = modality_class(inputs) if inputs is not None else None
    if source is not None and not source.can_be_input:
        return False
    if family == Family.ENCODER_DECODER:
        return source is not None and source.takes(body_input) and target.sequence_top
    if family == Family.DECODER:
        return source is None and target.sequence_top
    if family in (Family.ENCODER, Family.SPATIAL):
        wanted = "sequence" if family == Family.ENCODER else "spatial"
        return source is not None and body_input == wanted and source.takes(wanted) and not target.sequence_top
    return False


def family_for(body: type[Body], modalities: Mapping[str, str], model_name: str = "",
               problem_name: str = "", candidates: Mapping[str, type] | None = None) -> Family:
    """The family `body` serves for a problem with these modalities ({"inputs": ..., "targets": ...})."""
    inputs, targets = modalities.get("inputs"), modalities["targets"]
    for family in body.families:
        if _allows(family, body.body_input, inputs, targets):
            return family
    fits = [name for name, cls in sorted((candidates or {}).items())
            if any(_allows(f, cls.body_input, inputs, targets) for f in getattr(cls, "families", ()))]
    described = f"inputs: {inputs}, targets: {targets}" if inputs else f"no inputs, targets: {targets}"
    raise T2TUserError(f"model {model_name or body.__name__} ({', '.join(body.families)}) cannot take problem"
                       f" {problem_name or '?'} ({described}): pass model=<one of: {', '.join(fits) or 'none yet'}>")
