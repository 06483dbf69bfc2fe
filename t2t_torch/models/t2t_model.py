"""The generic model: bottom -> body -> top -> loss, for every family (T2T's `T2TModel.model_fn` without its
god class), and the incremental-decoding contract for sequence targets, implemented once for every body.

`build_model(body_class, model_hparams, spec, modality_hparams)` builds one: a modality per feature (from the
spec, or the override `hparams.modality.inputs` / `.targets` names, T2T's escape hatch), the body for the family
`family_for` picks. Inputs and targets that are symbols of one vocabulary share one embedding when
`hparams.modality.symbol.shared_embedding` (T2T's `shared_embedding`).

Decoding (`t2t_torch.decoding` searches call these): `encode(inputs)` -> (memory, mask); `init_cache(memory, mask,
max_length, prefix=None, batch_size=None)`, where `prefix` (B, P) is a prompt a decoder-only model continues; and
`decode_step(ids, step, cache)` -> next-position logits (N, V).

A body may declare auxiliary losses on the encoder's output of an encoder-decoder (`Body.auxiliary_losses`, e.g. the
Transformer's CTC loss with `hparams.model.ctc_weight` = w > 0): `loss` is then (1 - w) x decoder + w x auxiliary
(models/auxiliary_loss.py). Each is a submodule named after it (`ctc.*` in the state dict).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn as nn

from t2t_torch.errors import T2TUserError
from t2t_torch.hparams import dataclass_from_mapping
from t2t_torch.modalities import Modality, modality_class, modality_config
from t2t_torch.models.auxiliary_loss import AUXILIARY_LOSSES
from t2t_torch.models.body import Body, family_for
from t2t_torch.models.family import Family
from t2t_torch.spec import PAD_ID, ProblemSpec

OVERRIDE_KEYS = ("inputs", "targets")  # hparams.modality.<feature>: a modality name replacing the spec's


def feature_modalities(spec: ProblemSpec, modality_hparams: Mapping[str, Any] | None) -> dict[str, str]:
    """{feature: modality name} after the model's overrides."""
    overrides = {k: v for k, v in (modality_hparams or {}).items() if k in OVERRIDE_KEYS and v}
    return {name: overrides.get(name, feature.modality) for name, feature in spec.features.items()}


class T2TModel(nn.Module):
    def __init__(self, body_class: type[Body], body_config: Any, spec: ProblemSpec,
                 modality_hparams: Mapping[str, Any] | None = None, model_name: str = "",
                 problem_name: str = "") -> None:
        super().__init__()
        self.spec = spec
        modality_hparams = dict(modality_hparams or {})
        names = feature_modalities(spec, modality_hparams)
        self.family = family_for(body_class, names, model_name, problem_name)
        hidden = body_class.output_width(body_config)

        def build(feature: str) -> Modality:
            name = names[feature]
            config = modality_config(name, modality_hparams.get(name))
            return modality_class(name)(spec.features[feature], hidden, config, body_class.body_input)

        self.targets_modality = build("targets")
        self.inputs_modality: Modality | None = None
        if spec.has_inputs:
            same = (names["inputs"] == names["targets"] and modality_class(names["targets"]).token_ids
                    and spec.inputs == spec.targets)
            shared = same and self.targets_modality.config.shared_embedding
            self.inputs_modality = self.targets_modality if shared else build("inputs")
        self.body = body_class(body_config, self.family, spec.inputs.shape if spec.inputs else ())
        self.auxiliary_weights = body_class.auxiliary_losses(body_config)
        for name, weight in self.auxiliary_weights.items():
            if self.family != Family.ENCODER_DECODER or not self.targets_modality.sequence_top:
                raise T2TUserError(f"hparams.model.{name}_weight={weight} trains an encoder's output on the target"
                                   f" sequence; a {self.family} model has none: pass hparams.model.{name}_weight=0")
            self.add_module(name, AUXILIARY_LOSSES[name](hidden, spec))

    @property
    def hidden_size(self) -> int:
        return self.body.hidden_size

    def forward(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """batch {"inputs": ..., "targets": ...} -> {"logits", "loss" (mean over weights), "num_tokens" (weight)}."""
        targets, top = batch["targets"], self.targets_modality
        mask = None
        if self.family == Family.DECODER:
            logits = self.decode(targets)
        else:
            inputs = batch["inputs"]
            x, mask = self.inputs_modality.bottom(inputs), self.inputs_modality.mask(inputs)
            if self.family == Family.ENCODER_DECODER:
                memory = self.body.encode(x, mask)
                logits = self.decode(targets, memory, mask)
            elif self.family == Family.ENCODER:
                logits = top.top(self.body.encode(x, mask), mask)
            else:
                logits = top.top(self.body(x))
        loss_sum, weight = top.loss(logits, targets)
        loss = loss_sum / weight.clamp(min=1)
        if self.auxiliary_weights:
            auxiliary = sum(w * getattr(self, name).loss(memory, mask, targets)
                            for name, w in self.auxiliary_weights.items())
            loss = (1 - sum(self.auxiliary_weights.values())) * loss + auxiliary
        return {"logits": logits, "loss": loss, "num_tokens": weight}

    def decode(self, targets: torch.Tensor, memory: torch.Tensor | None = None,
               memory_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Teacher forcing: logits (B, T, V) of every target position given the earlier ones (and the memory)."""
        top = self.targets_modality
        return top.top(self.body.decode(top.targets_bottom(targets), memory, memory_mask))

    def predict(self, inputs: torch.Tensor) -> torch.Tensor:
        """An encoder or spatial model's output for `inputs` alone: logits (B, C) or values."""
        x, mask = self.inputs_modality.bottom(inputs), self.inputs_modality.mask(inputs)
        h = self.body.encode(x, mask) if self.family == Family.ENCODER else self.body(x)
        return self.targets_modality.top(h, mask)

    # Incremental decoding (sequence targets) --------------------------------------------------------------------
    def encode(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """inputs -> the body's memory (B, S, D) and its (B, S) mask (True = attend)."""
        if self.inputs_modality is None:
            raise ValueError("a decoder-only model has no inputs to encode: call init_cache(prefix=...)")
        mask = self.inputs_modality.mask(inputs)
        return self.body.encode(self.inputs_modality.bottom(inputs), mask), mask

    def init_cache(self, memory: torch.Tensor | None = None, memory_mask: torch.Tensor | None = None,
                   max_length: int = 0, prefix: torch.Tensor | None = None,
                   batch_size: int | None = None) -> dict[str, Any]:
        """The body's decoding cache; with `prefix` (B, P), the prompt already read into it, so the first
        `decode_step` predicts the token after the prompt."""
        if batch_size is None:
            batch_size = memory.size(0) if memory is not None else prefix.size(0) if prefix is not None else 1
        cache = self.body.init_cache(memory, memory_mask, batch_size)
        cache["offset"] = 0
        if prefix is not None and prefix.size(1) > 0:
            tokens = torch.cat([prefix.new_full((prefix.size(0), 1), PAD_ID), prefix[:, :-1]], dim=1)  # go + prompt
            for position in range(tokens.size(1)):
                self.body.step(self.targets_modality.step_bottom(tokens[:, position:position + 1]), position, cache)
            cache["prefix_last"] = prefix[:, -1:]
            cache["offset"] = prefix.size(1)
        return cache

    def decode_step(self, ids: torch.Tensor, step: int, cache: dict[str, Any]) -> tuple[torch.Tensor, dict[str, Any]]:
        """ids (N, t) decoded so far (only ids[:, -1] is read) -> next-position logits (N, V) and the cache."""
        offset = cache.get("offset", 0)
        last = cache["prefix_last"] if offset and step == 0 else ids[:, -1:]
        h = self.body.step(self.targets_modality.step_bottom(last), step + offset, cache)
        return self.targets_modality.top(h)[:, -1], cache


def build_model(body_class: type[Body], model_hparams: Mapping[str, Any], spec: ProblemSpec,
                modality_hparams: Mapping[str, Any] | None = None, model_name: str = "",
                problem_name: str = "") -> T2TModel:
    """A `T2TModel` of `body_class` with its typed config from `model_hparams` (misspelt keys refused)."""
    config = dataclass_from_mapping(body_class.config_class, model_hparams, "model")
    name = model_name or getattr(body_class, "registered_name", "")
    return T2TModel(body_class, config, spec, modality_hparams, name, problem_name)
