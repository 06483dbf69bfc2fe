"""Token-budget batching with length buckets (ports T2T's `utils/data_reader.py` bucketing).

T2T semantics: `batch_size` counts tokens; examples are grouped in buckets whose boundaries start at
`min_length_bucket` (8) and grow by `length_bucket_step` (x1.1) up to `max_length`; a bucket of length L takes
`batch_size // L` examples; training examples longer than `max_length` are dropped. Batches are shuffled
deterministically from (seed, epoch) and sharded across data-parallel ranks (each rank gets the same number).
The sampler can skip the batches an interrupted run already consumed, so resuming continues the same stream.
`ExampleBatchSampler` is the same with batches of `batch_size` examples, for problems not counted in tokens.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import torch

from t2t_torch.errors import T2TUserError


@dataclass(frozen=True)
class BatchingConfig:
    """Batching hparams (T2T names). `max_length` 0 means `batch_size`, as in T2T."""

    batch_size: int = 4096
    max_length: int = 0
    min_length_bucket: int = 8
    length_bucket_step: float = 1.1
    eval_drop_long_sequences: bool = False
    num_workers: int = 0

    @property
    def effective_max_length(self) -> int:
        return self.max_length or self.batch_size


def bucket_boundaries(max_length: int, min_length: int = 8, length_bucket_step: float = 1.1) -> list[int]:
    """T2T's `_bucket_boundaries`: 8, 9, 10, ... growing by x1.1 (at least +1), below `max_length`."""
    if length_bucket_step <= 1.0:
        raise T2TUserError(f"length_bucket_step must be > 1.0, got {length_bucket_step}")
    boundaries, x = [], min_length
    while x < max_length:
        boundaries.append(x)
        x = max(x + 1, int(x * length_bucket_step))
    return boundaries


def plan_batches(
    lengths: np.ndarray, config: BatchingConfig, drop_long: bool, rng: np.random.Generator | None
) -> list[np.ndarray]:
    """Group example indices into token-budget batches; shuffled within buckets and across batches when `rng`."""
    max_length = config.effective_max_length
    indices = np.arange(len(lengths))
    if drop_long:
        indices = indices[lengths <= max_length]
    uppers = np.array(bucket_boundaries(max_length, config.min_length_bucket, config.length_bucket_step) + [max_length])
    bucket_of = np.searchsorted(uppers, lengths[indices], side="left")  # first boundary >= length
    batches: list[np.ndarray] = []
    for bucket in np.unique(bucket_of):
        members = indices[bucket_of == bucket]
        if rng is not None:
            members = rng.permutation(members)
        else:
            members = members[np.argsort(lengths[members], kind="stable")]
        upper = int(uppers[bucket]) if bucket < len(uppers) else int(lengths[members].max())
        per_batch = max(1, config.batch_size // upper)
        batches.extend(np.array_split(members, range(per_batch, len(members), per_batch)))
    if rng is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def split_to_multiple(batches: list[np.ndarray], multiple: int) -> list[np.ndarray]:
    """`batches` with the largest ones halved until their number is a multiple of `multiple`, so that every rank
    gets as many batches as the others and no example is dropped (for evaluation, where a dropped batch would
    bias the metrics). Smaller batches fit the token budget all the more. A one-line error when the examples are
    too few to give every rank a batch."""
    batches = list(batches)
    while len(batches) % multiple:
        largest = max(range(len(batches)), key=lambda i: len(batches[i]))
        if len(batches[largest]) < 2:
            raise T2TUserError(f"the evaluation split's {sum(len(b) for b in batches)} examples cannot be split evenly"
                               f" into batches for {multiple} processes: evaluate on fewer devices")
        half = len(batches[largest]) // 2
        batches[largest:largest + 1] = [batches[largest][:half], batches[largest][half:]]
    return batches


def padding_fraction(lengths: np.ndarray, batches: list[np.ndarray]) -> float:
    """Share of padding tokens when every batch is padded to its longest example."""
    real = sum(int(lengths[b].sum()) for b in batches)
    padded = sum(int(lengths[b].max()) * len(b) for b in batches)
    return 1.0 - real / padded if padded else 0.0


class TokenBucketBatchSampler(torch.utils.data.Sampler[list[int]]):
    """Yields lists of example indices; deterministic per (seed, epoch); one shard of the plan per rank."""

    def __init__(
        self,
        lengths: np.ndarray,
        config: BatchingConfig,
        *,
        shuffle: bool,
        seed: int = 0,
        drop_long: bool = True,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        self.lengths = np.asarray(lengths)
        self.config = config
        self.shuffle = shuffle
        self.seed = seed
        self.drop_long = drop_long
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.skip_batches = 0  # consumed before an interruption; applies to the current epoch only
        self.tag_epoch = False  # True: yield (index, epoch) pairs, for datasets that augment per epoch
        self._plan_cache: tuple[int, list[np.ndarray]] | None = None

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self.skip_batches = 0
        self.epoch = epoch

    def resume_at(self, epoch: int, batches_done: int) -> None:
        """Continue the stream of `epoch` after its first `batches_done` batches (per rank)."""
        self.epoch = epoch
        self.skip_batches = batches_done

    def make_batches(self, rng: np.random.Generator | None) -> list[np.ndarray]:
        """Every rank's batches of the epoch, before sharding."""
        return plan_batches(self.lengths, self.config, self.drop_long, rng)

    def plan(self) -> list[np.ndarray]:
        """This rank's batches for the current epoch."""
        if self._plan_cache is None or self._plan_cache[0] != self.epoch:
            rng = np.random.default_rng([self.seed, self.epoch]) if self.shuffle else None
            batches = self.make_batches(rng)
            if not self.shuffle and self.num_replicas > 1:  # evaluation: every example once, on some rank
                batches = split_to_multiple(batches, self.num_replicas)
            per_rank = len(batches) // self.num_replicas if self.num_replicas > 1 else len(batches)
            mine = batches[self.rank :: self.num_replicas][:per_rank]
            self._plan_cache = (self.epoch, mine)
        return self._plan_cache[1]

    def padding_fraction(self) -> float:
        return padding_fraction(self.lengths, self.plan())

    def __len__(self) -> int:
        return len(self.plan())

    def __iter__(self) -> Iterator[list[int]]:
        plan, skip = self.plan(), self.skip_batches
        self.skip_batches = 0
        for batch in plan[skip:]:
            yield [(index, self.epoch) for index in batch.tolist()] if self.tag_epoch else batch.tolist()


class ExampleBatchSampler(TokenBucketBatchSampler):
    """Batches of `batch_size` examples (T2T's `batch_size_means_tokens=False`: images, class labels), shuffled per
    (seed, epoch), sharded and resumable as the token sampler; `lengths` are not read."""

    def make_batches(self, rng: np.random.Generator | None) -> list[np.ndarray]:
        indices = np.arange(len(self.lengths)) if rng is None else rng.permutation(len(self.lengths))
        size = max(1, self.config.batch_size)
        return [indices[i:i + size] for i in range(0, len(indices), size)]


def collate_padded(examples: list[Mapping[str, np.ndarray]], pad_id: int = 0) -> dict[str, torch.Tensor]:
    """Pad every feature to the longest example of the batch: a dict of int64 tensors of shape (B, T)."""
    batch = {}
    for name in examples[0]:
        longest = max(len(e[name]) for e in examples)
        out = np.full((len(examples), longest), pad_id, dtype=np.int64)
        for row, example in enumerate(examples):
            out[row, : len(example[name])] = example[name]
        batch[name] = torch.from_numpy(out)
    return batch
