"""Generated from the registry: every problem (and its `_rev`, where it has one) prepares offline at tiny size,
serves examples that match its spec (modality, dtype, shape, sizes, EOS) and batches them as its modalities collate.

Problems that need a download (`requires_download = True`) prepare from tiny local files in their real source
format (`text_fixtures.offline_config`), through the same `data_files` path a user without internet takes.
"""

import numpy as np
import pytest
import torch

import t2t_torch
from t2t_torch import registry
from t2t_torch.datamodules.batching import BatchingConfig
from t2t_torch.datamodules.datamodule import ProblemDataModule
from t2t_torch.errors import T2TUserError
from t2t_torch.spec import EOS_ID, PAD_ID
from tests.fixtures.text import offline_config

TINY_SETTINGS = {"train_size": 30, "dev_size": 6, "train_length": 6, "dev_length": 9}
PROBLEMS = t2t_torch.list_problems()
REVERSIBLE = [name for name in PROBLEMS if registry.problem_class(name).can_reverse()]
BATCH_SIZE = 64


def tiny_settings(name, tmp_path):
    cls = registry.problem_class(name)
    if getattr(cls, "requires_download", False):
        return offline_config(name, tmp_path / "fixtures")
    return {k: v for k, v in TINY_SETTINGS.items() if k in cls.config_keys}


def tiny_problem(name, tmp_path):
    return t2t_torch.problem(name, **tiny_settings(name, tmp_path))


def check_example(example, spec):
    for name, feature in spec.features.items():
        value = np.asarray(example[name])
        assert value.dtype == np.dtype(feature.dtype), (name, value.dtype, feature)
        assert value.ndim == len(feature.shape)
        assert all(d is None or d == n for d, n in zip(feature.shape, value.shape, strict=True)), (name, value.shape)
        if feature.modality in ("symbol", "class_label"):
            assert 0 <= value.min() and value.max() < feature.vocab_size, (name, feature)
        if feature.append_eos:
            assert value[-1] == EOS_ID and PAD_ID not in value


@pytest.mark.parametrize("name", PROBLEMS)
def test_problem_prepares_and_batches(name, tmp_path):
    problem = tiny_problem(name, tmp_path)
    problem.generate_data(tmp_path)
    spec = problem.spec(tmp_path)
    assert spec.modalities() == problem.class_modalities()  # what compose-time checks use agrees with the data
    assert set(spec.eval_metrics) <= set(problem.eval_metrics) | {"loss"}
    for split in problem.splits:
        dataset = problem.dataset(split, tmp_path)
        assert len(dataset) > 0
        check_example(dataset[0], spec)
    try:
        encoders = problem.feature_encoders(tmp_path)  # the text side agrees with the sizes the model is built for
    except NotImplementedError:
        encoders = {}
    for feature, encoder in encoders.items():
        assert encoder.vocab_size == spec.features[feature].vocab_size
    module = ProblemDataModule(problem, tmp_path, BatchingConfig(batch_size=BATCH_SIZE), seed=0)
    module.setup()
    batch = next(iter(module.train_dataloader()))
    for feature_name, feature in spec.features.items():
        tensor = batch[feature_name]
        assert tensor.dtype == getattr(torch, feature.dtype) and tensor.dim() == 1 + len(feature.shape)
    rows = batch["targets"].size(0)
    if spec.batch_size_means_tokens:
        for feature_name, feature in spec.features.items():  # no example of a token batch is all padding
            if feature.is_variable_length and feature.modality == "symbol":
                assert (batch[feature_name] != PAD_ID).sum(1).min() >= 1
    else:
        assert rows == min(BATCH_SIZE, len(module.datasets["train"]))


@pytest.mark.parametrize("name", REVERSIBLE)
def test_rev_variant_swaps(name, tmp_path):
    settings = tiny_settings(name, tmp_path)
    base, rev = t2t_torch.problem(name, **settings), t2t_torch.problem(name + "_rev", **settings)
    base.generate_data(tmp_path)
    a, b = base.dataset("dev", tmp_path)[0], rev.dataset("dev", tmp_path)[0]
    assert np.array_equal(a["inputs"], b["targets"]) and np.array_equal(a["targets"], b["inputs"])
    assert rev.spec(tmp_path).inputs == base.spec(tmp_path).targets


@pytest.mark.parametrize("name", sorted(set(PROBLEMS) - set(REVERSIBLE)))
def test_problems_without_rev_say_so(name):
    assert name + "_rev" not in t2t_torch.list_problems(include_reversed=True)
    with pytest.raises(T2TUserError, match="has no _rev variant"):
        t2t_torch.problem(name + "_rev")


def test_generation_is_deterministic(tmp_path):
    first, second = (tiny_problem("algorithmic_sort_problem", tmp_path) for _ in range(2))
    first.generate_data(tmp_path / "a")
    second.generate_data(tmp_path / "b")
    x, y = first.dataset("train", tmp_path / "a"), second.dataset("train", tmp_path / "b")
    assert all(np.array_equal(x[i]["inputs"], y[i]["inputs"]) for i in range(len(x)))
