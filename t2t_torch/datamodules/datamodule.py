"""The LightningDataModule that serves any problem (T2T's `Problem.input_fn`, as a Lightning DataModule).

A problem's typed Hydra node (`problem=<name>`, problems/settings.py) has `_target_: ProblemDataModule.for_problem`,
so `hydra.utils.instantiate(cfg.problem, data_dir=..., batching=..., seed=...)` builds this DataModule for it.

`prepare_data` runs the problem's preparation once (rank 0 of each node; a file lock guards the rest), `setup`
memory-maps the prepared splits, and the dataloaders batch them by token budget. Its `state_dict` records how far
the current epoch got, so a resumed run continues with the very batch the interrupted one would have seen next
(on another number of processes: after the batches all ranks had consumed, `resume_position`).
Each dataloader draws its worker seeds from a generator of its own (seeded from `seed` and the split), never from
torch's global generator: an evaluation would otherwise shift the dropout masks of every later training step, and
a run resumed from a checkpoint written at that evaluation could not continue exactly.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader

from t2t_torch import registry
from t2t_torch.datamodules.batching import BatchingConfig, ExampleBatchSampler, TokenBucketBatchSampler
from t2t_torch.datamodules.collation import collate_batch
from t2t_torch.datamodules.preprocessing import PreprocessedDataset
from t2t_torch.datamodules.served_problem import ServedProblem
from t2t_torch.errors import T2TUserError
from t2t_torch.hparams import dataclass_from_mapping
from t2t_torch.spec import ProblemSpec

log = logging.getLogger(__name__)


class ProblemDataModule(L.LightningDataModule):
    def __init__(self, problem: ServedProblem, data_dir: str | Path, batching: BatchingConfig, seed: int = 0) -> None:
        super().__init__()
        self.problem = problem
        self.data_dir = Path(data_dir).expanduser()
        self.batching = batching
        self.seed = seed
        self.datasets: dict[str, Any] = {}
        self.spec: ProblemSpec | None = None
        self._resume: tuple[int, int] | None = None
        self._train_sampler: TokenBucketBatchSampler | None = None

    @classmethod
    def for_problem(cls, name: str, data_dir: str | Path, batching: BatchingConfig | Mapping[str, Any] | None = None,
                    seed: int = 0, **settings: Any) -> ProblemDataModule:
        """The DataModule of registered problem `name` with its `settings` (the `_target_` of every problem node:
        `instantiate(cfg.problem, data_dir=..., batching=..., seed=...)`); `batching` as a BatchingConfig or the
        `hparams.batching` mapping."""
        if not isinstance(batching, BatchingConfig):
            batching = dataclass_from_mapping(BatchingConfig, batching, "batching")
        return cls(registry.problem(name, **settings), data_dir, batching, seed=seed)

    def prepare_data(self) -> None:
        self.problem.generate_data(self.data_dir)

    def setup(self, stage: str | None = None) -> None:
        if self.spec is None:
            self.spec = self.problem.spec(self.data_dir)
        for split in self.problem.splits:
            if split not in self.datasets:
                self.datasets[split] = self.problem.dataset(split, self.data_dir)

    def lengths(self, split: str) -> Any:
        return self.datasets[split].lengths(self.spec.length_feature)

    def sampler(self, split: str, **options: Any) -> TokenBucketBatchSampler:
        """The token-budget sampler, or the example-count one when the spec does not count tokens."""
        kind = TokenBucketBatchSampler if self.spec.batch_size_means_tokens else ExampleBatchSampler
        return kind(self.lengths(split), self.batching, **options)

    def eval_split(self) -> str:
        return "dev" if "dev" in self.problem.splits else self.problem.splits[-1]

    def _replicas(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)

    def _loader(self, split: str, sampler: TokenBucketBatchSampler) -> DataLoader:
        workers = self.batching.num_workers
        generator = torch.Generator().manual_seed(self.seed * 1000 + self.problem.splits.index(split))
        dataset = self.datasets[split]
        if self.problem.augments:  # every split, as T2T's (mode-aware) preprocess_example; draws from (seed, epoch,
            sampler.tag_epoch = True  # example)
            dataset = PreprocessedDataset(dataset, self.problem, split, self.seed)
        return DataLoader(
            dataset,
            batch_sampler=sampler,
            collate_fn=partial(collate_batch, spec=self.spec),
            num_workers=workers,
            persistent_workers=workers > 0,
            pin_memory=self._on_cuda(),
            generator=generator,
        )

    def _on_cuda(self) -> bool:
        """Whether batches go to a CUDA device (then the loader pins them, so the copy overlaps compute)."""
        trainer = self.trainer
        return trainer is not None and trainer.strategy.root_device.type == "cuda"

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """The problem's batched work on the training device (`Problem.finish_batch`), after the copy."""
        return self.problem.finish_batch(batch) if isinstance(batch, dict) else batch

    def train_dataloader(self) -> DataLoader:
        replicas, rank = self._replicas()
        lengths = self.lengths("train")
        sampler = self.sampler("train", shuffle=True, seed=self.seed, drop_long=self.spec.batch_size_means_tokens,
                               num_replicas=replicas, rank=rank)
        if self._resume is not None:
            epoch, batches_done, saved_replicas = self._resume
            sampler.resume_at(epoch, resume_position(batches_done, saved_replicas, replicas))
            if saved_replicas != replicas:
                log.warning("Resuming a run of %d processes on %d: continuing after the first %d batches of epoch %d"
                            " (the steps that follow average another number of batches, so the run is not the one"
                            " it would have been)", saved_replicas, replicas, batches_done * saved_replicas, epoch)
            self._resume = None
        kept = int((lengths <= self.batching.effective_max_length).sum())
        if kept == 0 and self.spec.batch_size_means_tokens:
            raise T2TUserError(f"all {len(lengths)} training examples of {self.problem.name} are longer than"
                               f" max_length={self.batching.effective_max_length} tokens: raise"
                               " hparams.batching.max_length (or make the problem's examples shorter)")
        longest = int(lengths[lengths <= self.batching.effective_max_length].max()) if kept else 0
        if self.spec.batch_size_means_tokens and longest > self.batching.batch_size:
            raise T2TUserError(f"hparams.batching.batch_size={self.batching.batch_size} tokens is less than the longest"
                               f" training example {self.problem.name} keeps ({longest} tokens, under max_length="
                               f"{self.batching.effective_max_length}), which would make batches over the budget: pass"
                               f" batch_size>={longest} or max_length<={self.batching.batch_size}")
        if kept < len(lengths) and self.spec.batch_size_means_tokens:
            log.info("Dropped %d training examples longer than max_length=%d", len(lengths) - kept,
                     self.batching.effective_max_length)
        log.info("Train batches per epoch: %d, padding fraction: %.1f%%", len(sampler),
                 100 * sampler.padding_fraction())
        self._train_sampler = sampler
        return self._loader("train", sampler)

    def _eval_loader(self, split: str) -> DataLoader:
        replicas, rank = self._replicas()
        sampler = self.sampler(split, shuffle=False, drop_long=self.batching.eval_drop_long_sequences,
                               num_replicas=replicas, rank=rank)
        return self._loader(split, sampler)

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader(self.eval_split())

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader("test" if "test" in self.problem.splits else self.eval_split())

    def padding_fraction(self) -> float:
        return self._train_sampler.padding_fraction() if self._train_sampler is not None else float("nan")

    # Data position for exact resumption -------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        trainer = self.trainer
        if trainer is None or trainer.state.fn != "fit":
            return {}
        progress = trainer.fit_loop.epoch_loop.batch_progress.current
        return {"epoch": trainer.current_epoch, "batches_done": int(progress.processed),
                "world_size": int(trainer.world_size)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            self._resume = (int(state["epoch"]), int(state["batches_done"]), int(state.get("world_size", 1)))


def resume_position(batches_done: int, saved_replicas: int, replicas: int) -> int:
    """Batches each of `replicas` ranks skips to continue an epoch of which each of `saved_replicas` ranks had done
    `batches_done`. Rank r serves batches r, r + W, ... of one plan, so the first batches_done * saved_replicas of
    the plan were consumed; when that does not divide among the new ranks, each skips the next whole number, so no
    batch is seen twice (at most replicas - 1 are not seen in that epoch)."""
    consumed = batches_done * saved_replicas
    return -(-consumed // replicas)
