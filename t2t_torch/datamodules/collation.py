"""Collation: a list of served examples into one batch of tensors, each feature as its modality collates it (T2T's
`pad_batch` / `padded_batch` in `data_reader.py`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from t2t_torch.modalities import modality_class
from t2t_torch.spec import ProblemSpec


def collate_batch(examples: list[dict[str, Any]], spec: ProblemSpec) -> dict[str, torch.Tensor]:
    """One batch tensor per feature, as each feature's modality collates it (padded sequences, stacked images);
    a key that is not a feature (work `preprocess_example` leaves for `finish_batch` on the device, e.g. an
    image's crop offsets) is stacked as it is."""
    batch = {name: modality_class(feature.modality).collate([e[name] for e in examples], feature)
             for name, feature in spec.features.items() if name in examples[0]}
    for key in examples[0].keys() - spec.features.keys():
        batch[key] = torch.as_tensor(np.stack([e[key] for e in examples]))
    return batch
