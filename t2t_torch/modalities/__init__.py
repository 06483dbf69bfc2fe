"""Modalities (ports T2T's `layers/modalities.py`): how one feature enters and leaves a model body.

Each modality is one file registering one `Modality` subclass by name (`symbol`, `class_label`, `image`, `real`,
`audio_spectral`); importing this package registers them all. `modality_class(name)` finds one, with close matches
for a misspelt name.
"""

from t2t_torch.modalities import audio_spectral, class_label, image, real, symbol  # noqa: F401  (they register)
from t2t_torch.modalities.base import Modality, modality_class, modality_config

__all__ = ["Modality", "modality_class", "modality_config"]
