"""`init_from=<checkpoint>`: start a new run from another run's weights, for fine-tuning (T2T's
`--warm_start_from`). Only weights are taken: no optimizer state, step, learning-rate schedule or data position.

    python train.py problem=<in-domain problem> ... init_from=outputs/<pretraining run>/checkpoints/last.ckpt
    python train.py ... init_from=outputs/<pretraining run>/best        # its best checkpoint (checkpoints/best.py)

`init_from` names one checkpoint file (or sharded checkpoint directory): a run directory is refused in one line that
names the two checkpoints to pass instead, `<run>/checkpoints/last.ckpt` and `<run>/best` (a run keeps several: which
one is meant is not guessed), and so is a path that does not exist (`checkpoints/best.py` `resolve_checkpoint`;
`warm_start` itself names them as `init_from=...`). `ckpt_path` is another thing: it resumes a run instead of starting a
new one.

What may differ from the checkpoint, per parameter of the new model (`warm_start`):

- the same name and shape: copied;
- an embedding or softmax of a text feature (under `inputs_modality.` / `targets_modality.`) whose vocabulary
  changed: rows are mapped by token, each new id taking the row of the old id that decodes to the same text (both
  vocabularies are known: the checkpoint stores its own, the problem gives the new one); the reserved pad and eos
  rows are copied, and rows of tokens the old vocabulary lacks keep their fresh initialisation (a vocabulary the
  checkpoint does not pin, such as the algorithmic problems' integers, comes from its problem);
- the top of a class-label feature with another number of classes: freshly initialised (a new classifier head);
- a parameter the checkpoint does not have (extra layers): freshly initialised;
- any other shape mismatch (a body of another width): a one-line error naming the parameter and both shapes.

A checkpoint of another model (name) is refused in one line. What was copied, mapped, initialised and left unused
is counted, logged and returned. A run that resumes from its own last.ckpt ignores `init_from` (the weights it
resumes already started from it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from t2t_torch.checkpoints.best import resolve_checkpoint
from t2t_torch.checkpoints.record import CheckpointRecord
from t2t_torch.errors import T2TUserError
from t2t_torch.spec import EOS_ID, PAD_ID

log = logging.getLogger(__name__)

MODALITY_PREFIXES = {"inputs_modality.": "inputs", "targets_modality.": "targets"}
RESERVED = (PAD_ID, EOS_ID)


@dataclass
class WarmStartReport:
    copied: list[str] = field(default_factory=list)
    mapped: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (rows found by token, rows)
    initialized: list[str] = field(default_factory=list)  # a new classifier head, or absent from the checkpoint
    unused: list[str] = field(default_factory=list)  # in the checkpoint, not in the new model

    def summary(self) -> str:
        mapped = "; ".join(f"{name}: {found}/{rows} rows by token" for name, (found, rows) in self.mapped.items())
        return (f"{len(self.copied)} tensors copied" + (f", {len(self.mapped)} mapped ({mapped})" if mapped else "")
                + f", {len(self.initialized)} freshly initialised"
                + (f" ({', '.join(self.initialized[:4])}{', ...' if len(self.initialized) > 4 else ''})"
                   if self.initialized else "")
                + f", {len(self.unused)} of the checkpoint's unused")


def feature_of(name: str) -> str | None:
    return next((feature for prefix, feature in MODALITY_PREFIXES.items() if name.startswith(prefix)), None)


def token_rows(new_encoder: Any, old_encoder: Any, rows: int, old_rows: int) -> dict[int, int]:
    """new id -> old id of the same token text (reserved ids map to themselves)."""
    old_index: dict[str, int] = {}
    for old_id in range(len(RESERVED), old_rows):
        text = old_encoder.decode([old_id])
        if text and "\ufffd" not in text:
            old_index.setdefault(text, old_id)
    mapping = {i: i for i in RESERVED if i < rows and i < old_rows}
    for new_id in range(len(RESERVED), rows):
        text = new_encoder.decode([new_id])
        if text in old_index and "\ufffd" not in text:
            mapping[new_id] = old_index[text]
    return mapping


def unpinned_encoders(record: CheckpointRecord) -> dict[str, Any]:
    """The encoders of a checkpoint's problem when it pins no vocabulary file (a generated vocabulary, e.g. the
    algorithmic problems' integers, that its problem rebuilds the same every time); {} when there are none."""
    if record.vocab_hashes or not record.data_dir:
        return {}  # a pinned vocabulary is read from the checkpoint itself (record.encoders), never rebuilt
    try:
        return dict(record.problem().feature_encoders(record.data_dir))
    except (NotImplementedError, T2TUserError, OSError):
        return {}


def warm_start(model: torch.nn.Module, model_name: str, path: str | Path, new_encoders: dict[str, Any],
               class_label_features: set[str]) -> WarmStartReport:
    """Load the weights of checkpoint `path` (a file, a sharded directory or `<run>/best`) into `model` as the module
    docstring says."""
    path = resolve_checkpoint(path, key="init_from")
    record = CheckpointRecord.load(path, weights=True)
    if record.model_name and record.model_name != model_name:
        raise T2TUserError(f"init_from '{path}' is a {record.model_name} model and this run trains {model_name}:"
                           f" pass a checkpoint of a {model_name} run, or model={record.model_name}")
    old = record.model_weights()
    if not old:
        raise T2TUserError(f"init_from '{path}' holds no model weights: pass a checkpoint written by t2t-train")
    old_encoders: dict[str, Any] | None = None  # read only when a vocabulary changed

    def old_encoder(feature: str) -> Any | None:
        nonlocal old_encoders
        if old_encoders is None:
            old_encoders = record.encoders() or unpinned_encoders(record)
        return old_encoders.get(feature)

    state = model.state_dict()
    report = WarmStartReport()
    for name, tensor in state.items():
        if name not in old:
            report.initialized.append(name)
            continue
        source = old[name]
        if source.shape == tensor.shape:
            state[name] = source.to(tensor.dtype)
            report.copied.append(name)
            continue
        feature = feature_of(name)
        if feature in class_label_features:
            report.initialized.append(name)  # another number of classes: a new head
            continue
        if feature is not None and source.dim() == tensor.dim() and source.shape[1:] == tensor.shape[1:] \
                and feature in new_encoders and old_encoder(feature) is not None:
            mapping = token_rows(new_encoders[feature], old_encoder(feature), tensor.shape[0], source.shape[0])
            merged = tensor.clone()
            new_ids = torch.tensor(list(mapping), dtype=torch.long)
            old_ids = torch.tensor(list(mapping.values()), dtype=torch.long)
            merged[new_ids] = source[old_ids].to(tensor.dtype)
            state[name] = merged
            report.mapped[name] = (len(mapping), tensor.shape[0])
            continue
        why = " and the vocabularies to map its rows by are not both known" if feature else ""
        raise T2TUserError(f"init_from '{path}': {name} is {tuple(source.shape)} there and {tuple(tensor.shape)} in"
                           f" this model{why}: pass the model hparams it was trained with, or another checkpoint")
    report.unused = sorted(set(old) - set(state))
    model.load_state_dict(state)
    log.info("Warm start from %s: %s", path, report.summary())
    return report
