"""Generated from the registry: every problem (and its `_rev`) prepares offline at tiny size and yields batches.

Problems that need a download (`requires_download = True`) prepare from tiny local files in their real source
format (`text_fixtures.offline_config`), through the same `data_files` path a user without internet takes.
"""

import numpy as np
import pytest
import torch

import t2t_torch
from t2t_torch import registry
from t2t_torch.problems.batching import BatchingConfig
from t2t_torch.problems.datamodule import ProblemDataModule
from text_fixtures import offline_config

TINY_SETTINGS = {"train_size": 30, "dev_size": 6, "train_length": 6, "dev_length": 9}
PROBLEMS = t2t_torch.list_problems()


def tiny_settings(name, tmp_path):
    cls = registry.problem_class(name)
    if getattr(cls, "requires_download", False):
        return offline_config(name, tmp_path / "fixtures")
    return {k: v for k, v in TINY_SETTINGS.items() if k in cls.config_keys}


def tiny_problem(name, tmp_path):
    return t2t_torch.problem(name, **tiny_settings(name, tmp_path))


@pytest.mark.parametrize("name", PROBLEMS)
def test_problem_prepares_and_batches(name, tmp_path):
    problem = tiny_problem(name, tmp_path)
    problem.generate_data(tmp_path)
    info = problem.info()
    for split in problem.splits:
        dataset = problem.dataset(split, tmp_path)
        assert len(dataset) > 0
        example = dataset[0]
        assert example["targets"][-1] == info.eos_id and 0 not in example["targets"]
        assert example["targets"].max() < info.target_vocab_size
    encoders = problem.feature_encoders(tmp_path)  # the text <-> ids side agrees with the sizes the model is built for
    assert encoders["targets"].vocab_size == info.target_vocab_size
    if info.input_vocab_size is not None:
        assert encoders["inputs"].vocab_size == info.input_vocab_size
    module = ProblemDataModule(problem, tmp_path, BatchingConfig(batch_size=64), seed=0)
    module.setup()
    batch = next(iter(module.train_dataloader()))
    assert batch["targets"].dtype == torch.int64 and batch["targets"].dim() == 2
    assert (batch["targets"] != 0).sum(1).min() >= 1


@pytest.mark.parametrize("name", PROBLEMS)
def test_rev_variant_swaps(name, tmp_path):
    settings = tiny_settings(name, tmp_path)
    base, rev = t2t_torch.problem(name, **settings), t2t_torch.problem(name + "_rev", **settings)
    base.generate_data(tmp_path)
    a, b = base.dataset("dev", tmp_path)[0], rev.dataset("dev", tmp_path)[0]
    assert np.array_equal(a["inputs"], b["targets"]) and np.array_equal(a["targets"], b["inputs"])
    if base.info().input_vocab_size is not None:
        assert rev.info().input_vocab_size == base.info().target_vocab_size


def test_generation_is_deterministic(tmp_path):
    first, second = (tiny_problem("algorithmic_sort_problem", tmp_path) for _ in range(2))
    first.generate_data(tmp_path / "a")
    second.generate_data(tmp_path / "b")
    x, y = first.dataset("train", tmp_path / "a"), second.dataset("train", tmp_path / "b")
    assert all(np.array_equal(x[i]["inputs"], y[i]["inputs"]) for i in range(len(x)))
