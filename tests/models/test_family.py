"""Families are a typed enum (`models/family.py`) and a body implements what each family it serves needs: checked
when the body class is made, so a misspelt family or a missing method fails at import, not in the middle of a run;
every registered body passes that check and its families compare equal to their plain names (config files and
checkpoints keep strings)."""

import pytest
import torch

import t2t_torch  # noqa: F401  (registers the built-ins)
from t2t_torch.models.body import Body
from t2t_torch.models.family import Family, missing_methods
from t2t_torch.registry import model_classes


@pytest.mark.parametrize("name", sorted(model_classes()))
def test_every_registered_body_implements_its_families(name):
    body = model_classes()[name]
    assert body.families and all(isinstance(family, Family) for family in body.families)
    assert all(missing_methods(body, family) == [] for family in body.families)
    assert all(family == str(family) for family in body.families)  # a StrEnum: equal to the YAML string


def test_a_misspelt_family_or_a_missing_method_fails_when_the_class_is_made():
    with pytest.raises(TypeError, match=r"families names \['encoder-decoder'\]"):
        type("Misspelt", (Body,), {"families": ("encoder-decoder",)})
    with pytest.raises(TypeError, match=r"serves decoder but lacks \['decode', 'init_cache', 'step'\]"):
        type("NoDecoder", (Body,), {"families": ("decoder",)})

    class Encoder(Body):
        families = ("encoder",)

        def encode(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
            return x

    assert Encoder.families == (Family.ENCODER,)
