"""T2T's algorithmic problems, generated deterministically from a seed (ports `data_generators/algorithmic.py`).

Symbols are drawn with numpy, shifted by the 2 reserved ids (pad, EOS). As in T2T, the dev split uses longer
sequences than training (`dev_length` 400 vs `train_length` 40) to test length generalisation — a Transformer with
absolute positions fails those splits by design. The `_iid` variants keep T2T's task but draw the dev split from the
training lengths, so they measure learning rather than extrapolation; the default recipe uses one of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from t2t_torch.problems.problem import TokenSequenceProblem
from t2t_torch.registry import register_problem, register_problem_variant
from t2t_torch.spec import NUM_RESERVED_IDS
from t2t_torch.text.integer import IntegerEncoder

Sample = tuple[list[int], list[int]]  # (inputs, targets) as symbols, before the reserved-id shift


class AlgorithmicProblem(TokenSequenceProblem):
    """Base: `num_symbols` symbols, `train_size`/`dev_size` examples of length up to `train_length`/`dev_length`."""

    num_symbols: ClassVar[int] = 2
    train_length: ClassVar[int] = 40
    dev_length: ClassVar[int] = 400
    train_size: ClassVar[int] = 100_000
    dev_size: ClassVar[int] = 10_000
    random_seed: ClassVar[int] = 429459  # t2t-datagen's default --random_seed
    config_keys = ("train_size", "dev_size", "train_length", "dev_length", "random_seed")

    def vocab_sizes(self) -> tuple[int | None, int]:
        size = self.vocab_symbols() + NUM_RESERVED_IDS
        return size, size

    def vocab_symbols(self) -> int:
        """Number of distinct symbols in inputs and targets (e.g. addition adds a separator)."""
        return self.num_symbols

    def sample(self, rng: np.random.Generator, max_length: int) -> Sample:
        raise NotImplementedError

    def feature_encoders(self, data_dir: str | Path) -> dict[str, Any]:
        """Symbols as space-separated integers ("1 0 1"), as T2T's base TextEncoder; needs no data_dir."""
        spec = self.spec()  # already swapped for `_rev`
        return {name: IntegerEncoder(feature.vocab_size) for name, feature in spec.features.items()}

    def generate_encoded_samples(self, split: str, data_dir: Path) -> Iterator[dict[str, list[int]]]:
        if split == "train":
            max_length, size = self.train_length, self.train_size
        else:
            max_length, size = self.dev_length, self.dev_size
        rng = np.random.default_rng([self.random_seed, self.splits.index(split)])
        for _ in range(size):
            inputs, targets = self.sample(rng, max_length)
            yield {
                "inputs": [s + NUM_RESERVED_IDS for s in inputs],
                "targets": [s + NUM_RESERVED_IDS for s in targets],
            }


def uniform_sequence(rng: np.random.Generator, num_symbols: int, max_length: int) -> list[int]:
    """Length uniform in [1, max_length], symbols uniform in [0, num_symbols)."""
    length = int(rng.integers(1, max_length + 1))
    return rng.integers(0, num_symbols, size=length).tolist()


class IdentityProblem(AlgorithmicProblem):
    def sample(self, rng: np.random.Generator, max_length: int) -> Sample:
        inputs = uniform_sequence(rng, self.num_symbols, max_length)
        return inputs, list(inputs)


class ReverseProblem(AlgorithmicProblem):
    def sample(self, rng: np.random.Generator, max_length: int) -> Sample:
        inputs = uniform_sequence(rng, self.num_symbols, max_length)
        return inputs, inputs[::-1]


@register_problem()
class AlgorithmicShiftDecimal40(AlgorithmicProblem):
    """Add 10 to every symbol of a sequence over 20 symbols (train length 1-40, dev up to 80)."""

    num_symbols = 20
    dev_length = 80
    shift_distance: ClassVar[int] = 10

    def sample(self, rng: np.random.Generator, max_length: int) -> Sample:
        inputs = uniform_sequence(rng, self.num_symbols - self.shift_distance, max_length)
        return inputs, [s + self.shift_distance for s in inputs]


class ReverseNlplikeProblem(AlgorithmicProblem):
    """Reverse sequences whose symbols follow Zipf(1.5) and whose length is Gaussian around half the maximum."""

    train_length = 70
    dev_length = 70
    zipf_alpha: ClassVar[float] = 1.5
    scale_std_dev: ClassVar[float] = 100.0

    def sample(self, rng: np.random.Generator, max_length: int) -> Sample:
        std_dev = max_length / self.scale_std_dev
        length = int(np.clip(abs(rng.normal(max_length / 2, std_dev)) + 1, 1, max_length))
        ranks = np.arange(1, self.num_symbols + 1, dtype=np.float64)
        weights = ranks**-self.zipf_alpha
        inputs = rng.choice(self.num_symbols, size=length, p=weights / weights.sum()).tolist()
        return inputs, inputs[::-1]


def to_digits(number: int, base: int) -> list[int]:
    """Little-endian digits of a non-negative integer."""
    digits = []
    while True:
        number, digit = divmod(number, base)
        digits.append(digit)
        if number == 0:
            return digits


def from_digits(digits: list[int], base: int) -> int:
    return sum(d * base**i for i, d in enumerate(digits))


class ArithmeticProblem(AlgorithmicProblem):
    """Two little-endian numbers separated by the symbol `base` -> the little-endian result."""

    @property
    def base(self) -> int:
        return self.num_symbols

    def vocab_symbols(self) -> int:
        return self.num_symbols + 1  # the separator

    def combine(self, a: int, b: int) -> int:
        raise NotImplementedError

    def sample(self, rng: np.random.Generator, max_length: int) -> Sample:
        # Both operands together with the separator fit in max_length (T2T: l1 + l2 + 1 <= max_length).
        length_1 = int(rng.integers(1, max(2, (max_length - 1) // 2 + 1)))
        length_2 = int(rng.integers(1, max(2, max_length - 1 - length_1 + 1)))
        first = rng.integers(0, self.base, size=length_1).tolist()
        second = rng.integers(0, self.base, size=length_2).tolist()
        result = self.combine(from_digits(first, self.base), from_digits(second, self.base))
        return first + [self.base] + second, to_digits(result, self.base)


class AdditionProblem(ArithmeticProblem):
    def combine(self, a: int, b: int) -> int:
        return a + b


class MultiplicationProblem(ArithmeticProblem):
    def combine(self, a: int, b: int) -> int:
        return a * b


@register_problem()
class AlgorithmicSortProblem(AlgorithmicProblem):
    """Sort a sequence of numbers below 20 (train length 1-10, dev length up to 20)."""

    num_symbols = 20
    train_length = 10
    dev_length = 20
    eval_metrics = (*AlgorithmicProblem.eval_metrics, "edit_distance")

    def sample(self, rng: np.random.Generator, max_length: int) -> Sample:
        inputs = uniform_sequence(rng, self.num_symbols, max_length)
        return inputs, sorted(inputs)


# T2T's algorithmic problems that differ from their task only in data, one registration each: (name, task, what
# differs from the task's defaults (binary, train length 1-40, dev length up to 400), description).
for _name, _task, _settings, _doc in (
    ("algorithmic_identity_binary40", IdentityProblem, {},
     "Copy a binary sequence (train length 1-40, dev length up to 400)."),
    ("algorithmic_identity_decimal40", IdentityProblem, {"num_symbols": 10},
     "Copy a decimal sequence (train length 1-40, dev length up to 400)."),
    ("algorithmic_reverse_binary40", ReverseProblem, {},
     "Reverse a binary sequence (train length 1-40, dev length up to 400: length generalisation)."),
    ("algorithmic_reverse_decimal40", ReverseProblem, {"num_symbols": 10},
     "Reverse a decimal sequence (train length 1-40, dev length up to 400)."),
    ("algorithmic_reverse_decimal40_iid", ReverseProblem, {"num_symbols": 10, "dev_length": 40, "dev_size": 1000},
     "Reverse a decimal sequence, dev drawn like train (length 1-40): the default problem."),
    ("algorithmic_reverse_nlplike8k", ReverseNlplikeProblem,
     {"num_symbols": 8000, "train_size": 400_000, "dev_size": 10_000},  # T2T's sizes for the nlplike problems
     "Reverse Zipf-distributed sequences over 8k symbols (length around 35, at most 70)."),
    ("algorithmic_reverse_nlplike32k", ReverseNlplikeProblem,
     {"num_symbols": 32000, "train_size": 400_000, "dev_size": 10_000},
     "Reverse Zipf-distributed sequences over 32k symbols (length around 35, at most 70)."),
    ("algorithmic_addition_binary40", AdditionProblem, {},
     "Add two little-endian binary numbers (inputs up to 40 symbols, dev up to 400)."),
    ("algorithmic_addition_decimal40", AdditionProblem, {"num_symbols": 10},
     "Add two little-endian decimal numbers (inputs up to 40 symbols, dev up to 400)."),
    ("algorithmic_multiplication_binary40", MultiplicationProblem, {},
     "Multiply two little-endian binary numbers (inputs up to 40 symbols, dev up to 400)."),
    ("algorithmic_multiplication_decimal40", MultiplicationProblem, {"num_symbols": 10},
     "Multiply two little-endian decimal numbers (inputs up to 40 symbols, dev up to 400)."),
):
    register_problem_variant(_name, _task, _doc, **_settings)
