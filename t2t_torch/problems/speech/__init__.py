"""Speech problems: the family's base (`speech_problem.py`), audio features, and the registered corpora.

Names that `t2t_torch.problems.speech` held when it was one module (the family's base) still import from here, with
a `FutureWarning` naming their module now."""

from __future__ import annotations

import importlib
import warnings
from typing import Any


def __getattr__(name: str) -> Any:
    module = importlib.import_module(f"{__name__}.speech_problem")
    if name.startswith("__") or not hasattr(module, name):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(f"{__name__}.{name} moved to {module.__name__}: import it from there", FutureWarning, stacklevel=2)
    return getattr(module, name)
