"""The registry: listing, lookups with close matches, duplicates, `_rev`, and the t2t-registry command."""

import subprocess

import pytest

import t2t_torch
from t2t_torch import registry
from t2t_torch.errors import UnknownNameError


def test_lists_builtins():
    assert "algorithmic_reverse_binary40" in t2t_torch.list_problems()
    assert "transformer" in t2t_torch.list_models()
    assert {"transformer_tiny", "transformer_base", "transformer_big", "transformer_base_single_gpu",
            "transformer_big_single_gpu", "transformer_small"} <= set(t2t_torch.list_hparams())


def test_unknown_problem_suggests_close_matches():
    with pytest.raises(UnknownNameError) as error:
        t2t_torch.problem("algorithmic_reverse_binary4")
    message = str(error.value)
    assert "algorithmic_reverse_binary40" in message and "\n" not in message


def test_unknown_model_and_hparams():
    with pytest.raises(UnknownNameError, match="transformer"):
        t2t_torch.model("transfomer")
    with pytest.raises(UnknownNameError, match="transformer_tiny"):
        registry.hparams_file("transformer_tiyn")


def test_duplicate_registration_raises():
    class Dummy:
        pass

    registry.register_model("dummy_for_duplicate_test")(Dummy)

    class Other:
        pass

    try:
        with pytest.raises(ValueError, match="already registered"):
            registry.register_model("dummy_for_duplicate_test")(Other)
    finally:
        registry._MODELS.pop("dummy_for_duplicate_test")


def test_rev_swaps_inputs_and_targets(tmp_path):
    settings = {"train_size": 20, "dev_size": 5, "train_length": 6, "dev_length": 6}
    base = t2t_torch.problem("algorithmic_addition_binary40", **settings)
    rev = t2t_torch.problem("algorithmic_addition_binary40_rev", **settings)
    base.generate_data(tmp_path)
    forward, backward = base.dataset("train", tmp_path), rev.dataset("train", tmp_path)
    for i in range(len(forward)):
        assert list(forward[i]["inputs"]) == list(backward[i]["targets"])
        assert list(forward[i]["targets"]) == list(backward[i]["inputs"])
    assert rev.name == "algorithmic_addition_binary40_rev"


def test_registry_command_lists_everything():
    out = subprocess.run(["t2t-registry"], capture_output=True, text=True, check=True)
    for name in [*t2t_torch.list_problems(), *t2t_torch.list_models(), *t2t_torch.list_hparams()]:
        assert name in out.stdout


def test_a_problem_variant_is_one_registration_with_other_defaults():
    from t2t_torch.problems.image.cifar import CifarProblem

    plain = registry.problem_class("image_cifar100_plain")
    assert plain.__qualname__ == "ImageCifar100Plain"  # the name its caches' fingerprints always recorded
    assert plain.__bases__ == (CifarProblem,) and (plain.augment_shift, plain.augment_flip) == (0, False)
    assert plain.class_labels == registry.problem_class("image_cifar100").class_labels
    assert t2t_torch.problem("librispeech_noisy").train_subsets == ("train-other-500",)


def test_a_problem_variant_must_set_attributes_its_base_has_and_have_a_class_name():
    from t2t_torch.problems.algorithmic import ReverseProblem

    with pytest.raises(ValueError, match="num_symbol"):
        registry.register_problem_variant("algorithmic_reverse_typo", ReverseProblem, "typo", num_symbol=10)
    with pytest.raises(ValueError, match="cannot be named by a class"):
        registry.register_problem_variant("algorithmic__double", ReverseProblem, "bad name")
    assert "algorithmic_reverse_typo" not in t2t_torch.list_problems()
    assert "algorithmic__double" not in t2t_torch.list_problems()
