"""The old module path `t2t_torch.inference.translator` (before the Predictor split): every name it had still
resolves, to the very object of its new module, with a FutureWarning naming where it lives now."""

from __future__ import annotations

import importlib

import pytest

from t2t_torch.inference import decode_config, predictor, scoring, search

NEW_HOMES = {
    "Translator": (predictor, "Predictor"),
    "Predictor": (predictor, "Predictor"),
    "DecodeStats": (predictor, "DecodeStats"),
    "resolve_device": (predictor, "resolve_device"),
    "problem_from_hparams": (predictor, "problem_from_hparams"),
    "checked_encoders": (predictor, "checked_encoders"),
    "load_encoders": (predictor, "load_encoders"),
    "DecodeConfig": (decode_config, "DecodeConfig"),
    "SAMPLING_METHODS": (decode_config, "SAMPLING_METHODS"),
    "decode_batch": (search, "decode_batch"),
    "decode_scored": (search, "decode_scored"),
    "decode_sequences": (search, "decode_sequences"),
    "collate_inputs": (search, "collate_inputs"),
    "continuation": (scoring, "continuation"),
    "prompted_log_probs": (scoring, "prompted_log_probs"),
}


@pytest.mark.parametrize("name", sorted(NEW_HOMES))
def test_each_old_name_is_its_new_object_with_a_future_warning(name):
    old = importlib.import_module("t2t_torch.inference.translator")
    module, new_name = NEW_HOMES[name]
    with pytest.warns(FutureWarning, match=f"import {new_name} from {module.__name__}"):
        value = getattr(old, name)
    assert value is getattr(module, new_name)


def test_the_old_import_line_still_works_and_translator_is_the_predictor():
    with pytest.warns(FutureWarning, match=r"it is now Predictor"):
        from t2t_torch.inference.translator import Translator
    with pytest.warns(FutureWarning, match="t2t_torch.inference.translator is deprecated"):
        from t2t_torch.inference.translator import DecodeConfig
    assert Translator is predictor.Predictor and DecodeConfig is decode_config.DecodeConfig
    assert Translator.decode_ids is Translator.generate  # the method's old name


def test_a_name_the_old_module_never_had_is_an_attribute_error():
    old = importlib.import_module("t2t_torch.inference.translator")
    with pytest.raises(AttributeError, match="no attribute 'Translater'"):
        old.Translater  # noqa: B018
    assert set(dir(old)) == set(NEW_HOMES)
