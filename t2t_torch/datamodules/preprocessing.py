"""Per-example preprocessing as examples are served: a split passed through the problem's `preprocess_example`
(T2T's `Problem.preprocess_example`, mode-aware: augmentation on train), with a random generator that depends only
on (seed, epoch, example)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from t2t_torch.datamodules.served_problem import ServedProblem


class PreprocessedDataset(torch.utils.data.Dataset):
    """A split served through `problem.preprocess_example`, with a numpy generator seeded from (seed, epoch,
    example): augmentation is the same in every worker layout and after a resume. Items are keyed by
    (index, epoch), as the batch samplers yield them when `tag_epoch` is set."""

    def __init__(self, dataset: Any, problem: ServedProblem, split: str, seed: int) -> None:
        self.dataset, self.problem, self.split, self.seed = dataset, problem, split, seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, Any]:
        index, epoch = key
        rng = np.random.default_rng([self.seed, epoch, index])
        return self.problem.preprocess_example(dict(self.dataset[index]), self.split, rng)
