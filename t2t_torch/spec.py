"""The contract between data, models, decoding and inference (ports T2T's `problem_hparams`: `modality`,
`vocab_size`, `has_inputs`, `batch_size_means_tokens`). A leaf: it imports nothing of the package.

A problem describes each feature it serves with a `FeatureSpec` (modality name, vocabulary size or number of
classes, per-example shape, dtype, pad value, whether EOS is appended) and itself with a `ProblemSpec` (its
features — no `inputs` means decoder-only, T2T's `has_inputs=False` — batching by tokens or by examples, the
feature that sets an example's length, eval and decode metrics). Checkpoints record `ProblemSpec.as_dict()`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

PAD_ID = 0
EOS_ID = 1
NUM_RESERVED_IDS = 2  # T2T: 0 = <pad>, 1 = <EOS>; the first id of a vocabulary's own symbols

VARIABLE = None  # in a shape: this dimension varies from example to example (a sequence's length)
DTYPES = ("int64", "int32", "uint8", "float32")
SPEC_VERSION = 1  # bump when the meaning of a recorded spec changes


@dataclass(frozen=True)
class FeatureSpec:
    """One feature as examples carry it: `shape` is per example, `None` where it varies (`(None,)` a token
    sequence, `(28, 28, 1)` an image, `(None, 80)` audio frames, `()` a class label)."""

    modality: str
    vocab_size: int = 0  # symbol: ids including the reserved ones; class_label: classes; image: intensity levels
    shape: tuple[int | None, ...] = (VARIABLE,)
    dtype: str = "int64"
    pad_value: int | float = PAD_ID
    append_eos: bool = False

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"feature dtype '{self.dtype}' is not one of {', '.join(DTYPES)}")
        if any(d is not VARIABLE and (not isinstance(d, int) or d < 1) for d in self.shape):
            raise ValueError(f"feature shape {self.shape} holds a dimension that is neither None nor positive")
        if VARIABLE in self.shape[1:]:
            raise ValueError(f"feature shape {self.shape}: only the first dimension may vary")
        object.__setattr__(self, "shape", tuple(self.shape))

    @property
    def is_variable_length(self) -> bool:
        return bool(self.shape) and self.shape[0] is VARIABLE

    @property
    def inner_shape(self) -> tuple[int, ...]:
        """The shape of one row: what follows the varying first dimension (the whole shape when fixed)."""
        return tuple(self.shape[1:]) if self.is_variable_length else tuple(self.shape)  # type: ignore[arg-type]

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["shape"] = list(self.shape)
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> FeatureSpec:
        return cls(**{**values, "shape": tuple(values.get("shape", (VARIABLE,)))})


@dataclass(frozen=True)
class ProblemSpec:
    """What a model, the batching and the decoders need to know about a problem."""

    features: Mapping[str, FeatureSpec]
    batch_size_means_tokens: bool = True  # False: hparams.batching.batch_size counts examples
    length_feature: str | None = None  # None: the longest variable-length feature sets an example's length
    eval_metrics: tuple[str, ...] = ()
    decode_metrics: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)  # e.g. class names, for labels decoded to text

    def __post_init__(self) -> None:
        if "targets" not in self.features:
            raise ValueError("a problem spec needs a 'targets' feature")
        object.__setattr__(self, "features", dict(self.features))
        object.__setattr__(self, "eval_metrics", tuple(self.eval_metrics))
        object.__setattr__(self, "decode_metrics", tuple(self.decode_metrics))

    @property
    def has_inputs(self) -> bool:
        return "inputs" in self.features

    @property
    def inputs(self) -> FeatureSpec | None:
        return self.features.get("inputs")

    @property
    def targets(self) -> FeatureSpec:
        return self.features["targets"]

    def modalities(self) -> dict[str, str]:
        return {name: feature.modality for name, feature in self.features.items()}

    def reversed(self) -> ProblemSpec:
        """The `_rev` problem's spec: inputs and targets swapped (a problem without inputs has none)."""
        if not self.has_inputs:
            raise ValueError("a problem without inputs has no _rev variant")
        features = {**self.features, "inputs": self.features["targets"], "targets": self.features["inputs"]}
        return replace(self, features=features)

    def as_dict(self) -> dict[str, Any]:
        return {"version": SPEC_VERSION, "features": {k: f.as_dict() for k, f in self.features.items()},
                "batch_size_means_tokens": self.batch_size_means_tokens, "length_feature": self.length_feature,
                "eval_metrics": list(self.eval_metrics), "decode_metrics": list(self.decode_metrics),
                "extra": dict(self.extra)}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ProblemSpec:
        if values.get("version") != SPEC_VERSION:
            raise ValueError(f"problem spec version {values.get('version')!r}, this t2t-torch reads {SPEC_VERSION}")
        return cls(features={k: FeatureSpec.from_dict(f) for k, f in values["features"].items()},
                   batch_size_means_tokens=values["batch_size_means_tokens"], length_feature=values["length_feature"],
                   eval_metrics=tuple(values["eval_metrics"]), decode_metrics=tuple(values["decode_metrics"]),
                   extra=dict(values.get("extra") or {}))


def symbol_feature(vocab_size: int, append_eos: bool = True) -> FeatureSpec:
    """A variable-length sequence of token ids (T2T's SymbolModality)."""
    return FeatureSpec("symbol", vocab_size=vocab_size, shape=(VARIABLE,), dtype="int64", pad_value=PAD_ID,
                       append_eos=append_eos)


def class_label_feature(num_classes: int) -> FeatureSpec:
    """One class id per example (T2T's ClassLabelModality)."""
    return FeatureSpec("class_label", vocab_size=num_classes, shape=(), dtype="int64", pad_value=0)
