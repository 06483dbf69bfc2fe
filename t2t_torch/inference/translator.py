"""The old home of `Predictor` (it was `Translator`), kept so that code written against it still runs: every name
it had resolves to its new module, with a FutureWarning naming that module; `Translator` is `Predictor`.

    from t2t_torch.inference.translator import Translator      # FutureWarning: use Predictor (inference/predictor.py)
    from t2t_torch.inference.predictor import Predictor         # what to write instead
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

# Each old name -> (its module now, its name there).
MOVED: dict[str, tuple[str, str]] = {
    "Translator": ("t2t_torch.inference.predictor", "Predictor"),
    **{name: ("t2t_torch.inference.predictor", name)
       for name in ("Predictor", "DecodeStats", "resolve_device", "problem_from_hparams", "checked_encoders",
                    "load_encoders")},
    **{name: ("t2t_torch.inference.decode_config", name) for name in ("DecodeConfig", "SAMPLING_METHODS")},
    **{name: ("t2t_torch.inference.search", name)
       for name in ("decode_batch", "decode_scored", "decode_sequences", "collate_inputs")},
    **{name: ("t2t_torch.inference.scoring", name) for name in ("continuation", "prompted_log_probs")},
}

__all__ = sorted(MOVED)


def __getattr__(name: str) -> Any:
    if name not in MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, new_name = MOVED[name]
    renamed = f" (it is now {new_name})" if new_name != name else ""
    warnings.warn(f"t2t_torch.inference.translator is deprecated: import {new_name} from {module}{renamed}",
                  FutureWarning, stacklevel=2)
    return getattr(importlib.import_module(module), new_name)


def __dir__() -> list[str]:
    return __all__
