"""Token-budget bucketed batching (T2T semantics), deterministic shuffling, DDP sharding and resumption."""

import numpy as np
import pytest

import t2t_torch
from t2t_torch.datamodules.batching import (
    BatchingConfig,
    TokenBucketBatchSampler,
    bucket_boundaries,
    collate_padded,
    padding_fraction,
)
from t2t_torch.datamodules.datamodule import ProblemDataModule
from t2t_torch.errors import T2TUserError

LENGTHS = np.random.default_rng(0).integers(1, 60, size=2000)


def test_bucket_boundaries_match_t2t():
    assert bucket_boundaries(20) == [8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]
    bounds = bucket_boundaries(256)
    assert bounds[0] == 8 and bounds[-1] < 256
    assert all(b > a for a, b in zip(bounds, bounds[1:], strict=False))
    assert all(b <= max(a + 1, int(a * 1.1)) for a, b in zip(bounds, bounds[1:], strict=False))
    with pytest.raises(T2TUserError):
        bucket_boundaries(100, length_bucket_step=1.0)


def test_batches_respect_token_budget_and_drop_long_examples():
    config = BatchingConfig(batch_size=256, max_length=50)
    sampler = TokenBucketBatchSampler(LENGTHS, config, shuffle=True, seed=1)
    seen = [i for batch in sampler for i in batch]
    assert sorted(seen) == sorted(np.flatnonzero(LENGTHS <= 50).tolist())  # every kept example exactly once
    for batch in sampler:
        assert max(LENGTHS[batch]) * len(batch) <= 256 or len(batch) == 1
    assert sampler.padding_fraction() < 0.10


def test_eval_keeps_long_examples_and_is_sorted():
    sampler = TokenBucketBatchSampler(LENGTHS, BatchingConfig(batch_size=256, max_length=30), shuffle=False,
                                      drop_long=False)
    assert sorted(i for b in sampler for i in b) == list(range(len(LENGTHS)))


def test_deterministic_per_seed_and_epoch():
    config = BatchingConfig(batch_size=256)
    a = TokenBucketBatchSampler(LENGTHS, config, shuffle=True, seed=3)
    b = TokenBucketBatchSampler(LENGTHS, config, shuffle=True, seed=3)
    assert list(a) == list(b)
    b.set_epoch(1)
    assert list(a) != list(b)
    assert list(TokenBucketBatchSampler(LENGTHS, config, shuffle=True, seed=4)) != list(a)


def test_ddp_shards_are_disjoint_and_equal_in_count():
    config = BatchingConfig(batch_size=256)
    shards = [list(TokenBucketBatchSampler(LENGTHS, config, shuffle=True, seed=5, num_replicas=3, rank=r))
              for r in range(3)]
    assert len({len(s) for s in shards}) == 1
    flat = [i for shard in shards for batch in shard for i in batch]
    assert len(flat) == len(set(flat))


@pytest.mark.parametrize("size", [30, 97, 2000])
@pytest.mark.parametrize("replicas", [2, 3])
def test_ddp_eval_shards_cover_every_example_once_with_equal_batch_counts(size, replicas):
    """Evaluation may not drop the batches that do not divide among the ranks: that biased DDP metrics."""
    config = BatchingConfig(batch_size=256)
    lengths = LENGTHS[:size]
    shards = [list(TokenBucketBatchSampler(lengths, config, shuffle=False, num_replicas=replicas, rank=r))
              for r in range(replicas)]
    assert len({len(s) for s in shards}) == 1
    assert sorted(i for shard in shards for batch in shard for i in batch) == list(range(size))
    assert all(max(lengths[b]) * len(b) <= 256 for shard in shards for b in shard)


def test_ddp_eval_with_too_few_examples_for_the_ranks_is_one_line():
    with pytest.raises(T2TUserError, match="cannot be split evenly into batches for 2 processes"):
        list(TokenBucketBatchSampler(np.array([5]), BatchingConfig(batch_size=256), shuffle=False, num_replicas=2))


@pytest.mark.parametrize(("saved", "now"), [(2, 1), (1, 2), (3, 2), (2, 3)])
def test_resume_on_another_number_of_processes_sees_no_batch_twice(saved, now):
    from t2t_torch.datamodules.datamodule import resume_position

    config = BatchingConfig(batch_size=256)

    def shards(replicas, skip=0):
        out = []
        for rank in range(replicas):
            sampler = TokenBucketBatchSampler(LENGTHS, config, shuffle=True, seed=8, num_replicas=replicas, rank=rank)
            sampler.resume_at(0, skip)
            out.append([tuple(b) for b in sampler])
        return out

    done = 5  # batches each of the `saved` ranks had trained on
    before = {b for shard in shards(saved) for b in shard[:done]}
    skip = resume_position(done, saved, now)
    after = [b for shard in shards(now, skip) for b in shard]
    assert not before & set(after)  # nothing trained on twice
    plan_length = len(shards(1)[0])
    unseen = plan_length - len(before) - len(after)
    assert unseen < now + saved  # at most the skipped remainder and each sharding's dropped tail


def test_resume_skips_consumed_batches_in_that_epoch_only():
    config = BatchingConfig(batch_size=256)
    full = list(TokenBucketBatchSampler(LENGTHS, config, shuffle=True, seed=6))
    resumed = TokenBucketBatchSampler(LENGTHS, config, shuffle=True, seed=6)
    resumed.resume_at(epoch=0, batches_done=7)
    resumed.set_epoch(0)
    assert list(resumed) == full[7:]
    assert len(resumed) == len(full)  # the epoch's length, as the training loop counts it
    assert list(resumed) == full  # the skip applies once


def test_collate_pads_per_batch():
    batch = collate_padded([{"inputs": np.array([5, 1])}, {"inputs": np.array([3, 4, 6, 1])}])
    assert batch["inputs"].tolist() == [[5, 1, 0, 0], [3, 4, 6, 1]]
    assert padding_fraction(np.array([2, 4]), [np.array([0, 1])]) == 0.25


def test_every_training_example_too_long_is_one_line(tmp_path):
    """A max_length below every example (e.g. a language model packed longer than it) would train on nothing."""
    problem = t2t_torch.problem("algorithmic_identity_binary40", train_size=20, dev_size=4, train_length=8)
    problem.generate_data(tmp_path)
    module = ProblemDataModule(problem, tmp_path, BatchingConfig(batch_size=64, max_length=1), seed=0)
    module.setup()
    with pytest.raises(T2TUserError, match="all 20 training examples .* are longer than max_length=1"):
        module.train_dataloader()
