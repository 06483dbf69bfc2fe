"""Code written against the flat `t2t_torch/problems/` of earlier releases (a user's `usr_dir`) keeps importing:
every old module path is the moved module itself, with a FutureWarning naming where it lives now."""

from __future__ import annotations

import importlib
import sys

import pytest

import t2t_torch  # noqa: F401  (registers the built-ins)
from t2t_torch.problems import _REDIRECTED


@pytest.mark.parametrize("old", sorted(_REDIRECTED))
def test_an_old_module_path_is_the_moved_module_with_a_warning(old):
    sys.modules.pop(f"t2t_torch.problems.{old}", None)
    with pytest.warns(FutureWarning, match=f"moved to t2t_torch.problems.{_REDIRECTED[old]}"):
        module = importlib.import_module(f"t2t_torch.problems.{old}")
    assert module is importlib.import_module(f"t2t_torch.problems.{_REDIRECTED[old]}")


def test_names_of_the_old_image_and_speech_modules_resolve_to_the_same_classes():
    from t2t_torch.problems.image.image2class import Image2ClassProblem
    from t2t_torch.problems.image.mnist import ImageMnist
    from t2t_torch.problems.speech.speech_problem import SpeechRecognitionProblem

    with pytest.warns(FutureWarning, match="image2class"):
        from t2t_torch.problems.image import Image2ClassProblem as old_base
    with pytest.warns(FutureWarning, match="mnist"):
        from t2t_torch.problems.image import ImageMnist as old_mnist
    with pytest.warns(FutureWarning, match="speech_problem"):
        from t2t_torch.problems.speech import SpeechRecognitionProblem as old_speech
    assert (old_base, old_mnist, old_speech) == (Image2ClassProblem, ImageMnist, SpeechRecognitionProblem)


def test_an_unknown_name_is_still_an_import_error():
    with pytest.raises(ImportError):
        from t2t_torch.problems.image import NoSuchProblem  # noqa: F401
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("t2t_torch.problems.no_such_module")
