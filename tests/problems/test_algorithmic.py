"""T2T's algorithmic problems: contents, sizes and lengths as T2T defines them."""

import numpy as np

import t2t_torch
from t2t_torch.problems.algorithmic import from_digits

SHIFT = 2  # reserved ids


def examples(name, tmp_path, split="train", **settings):
    problem = t2t_torch.problem(name, **{"train_size": 200, "dev_size": 50, **settings})
    problem.generate_data(tmp_path)
    dataset = problem.dataset(split, tmp_path)
    return [
        ((dataset[i]["inputs"][:-1] - SHIFT).tolist(), (dataset[i]["targets"][:-1] - SHIFT).tolist())
        for i in range(len(dataset))
    ]


def test_reverse_and_identity(tmp_path):
    for x, y in examples("algorithmic_reverse_binary40", tmp_path):
        assert y == x[::-1] and set(x) <= {0, 1} and 1 <= len(x) <= 40
    for x, y in examples("algorithmic_identity_decimal40", tmp_path):
        assert y == x and set(x) <= set(range(10))


def test_dev_split_is_longer_for_length_generalisation(tmp_path):
    train = examples("algorithmic_reverse_binary40", tmp_path, "train")
    dev = examples("algorithmic_reverse_binary40", tmp_path, "dev")
    assert max(len(x) for x, _ in train) <= 40 < max(len(x) for x, _ in dev) <= 400


def test_iid_variant_draws_dev_from_training_lengths(tmp_path):
    dev = examples("algorithmic_reverse_decimal40_iid", tmp_path, "dev")
    assert max(len(x) for x, _ in dev) <= 40 and len(dev) == 50


def test_addition_and_multiplication_are_correct(tmp_path):
    for name, op, base in (("algorithmic_addition_decimal40", int.__add__, 10),
                           ("algorithmic_multiplication_binary40", int.__mul__, 2)):
        for x, y in examples(name, tmp_path / name):
            separator = x.index(base)
            a, b = from_digits(x[:separator], base), from_digits(x[separator + 1 :], base)
            assert from_digits(y, base) == op(a, b) and len(x) <= 40


def test_shift_and_sort(tmp_path):
    for x, y in examples("algorithmic_shift_decimal40", tmp_path):
        assert y == [s + 10 for s in x] and max(x) < 10
    for x, y in examples("algorithmic_sort_problem", tmp_path / "sort"):
        assert y == sorted(x) and len(x) <= 10 and max(x) < 20


def test_nlplike_is_zipfian(tmp_path):
    pairs = examples("algorithmic_reverse_nlplike8k", tmp_path, train_size=300)
    symbols = np.concatenate([x for x, _ in pairs])
    assert np.mean(symbols == 0) > 0.2  # rank-1 symbol dominates under Zipf(1.5)
    assert all(y == x[::-1] for x, y in pairs)


def test_vocab_sizes_count_reserved_ids():
    assert t2t_torch.problem("algorithmic_reverse_binary40").spec().targets.vocab_size == 4
    assert t2t_torch.problem("algorithmic_addition_decimal40").spec().targets.vocab_size == 13
