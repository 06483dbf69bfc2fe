"""Image problems: the family's base (`image2class.py`), augmentation, and the registered datasets.

Names that `t2t_torch.problems.image` held when it was one module (the base and MNIST) still import from here, with
a `FutureWarning` naming their module now."""

from __future__ import annotations

import importlib
import warnings
from typing import Any

_OLD_NAMES = {"Image2ClassProblem": "image2class", "AUGMENT_KEYS": "image2class", "AUGMENT_PARAMS": "image2class",
              "DIGIT_LABELS": "image2class", "MnistProblem": "mnist", "ImageMnist": "mnist",
              "ImageFashionMnist": "mnist", "ImageDigits": "mnist", "read_idx": "mnist", "MNIST_FILES": "mnist",
              "data_files_root": "t2t_torch.problems.sources.data_files"}


def __getattr__(name: str) -> Any:
    if name not in _OLD_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    where = _OLD_NAMES[name] if "." in _OLD_NAMES[name] else f"{__name__}.{_OLD_NAMES[name]}"
    warnings.warn(f"{__name__}.{name} moved to {where}: import it from there", FutureWarning, stacklevel=2)
    return getattr(importlib.import_module(where), name)
