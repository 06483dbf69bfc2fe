"""An example user folder (T2T's --t2t_usr_dir): `python train.py usr_dir=examples/my_t2t problem=word_reverse ...`.

Importing this package registers its problem; its conf/ folder adds the hparams set `transformer_word_tiny`.
"""

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from t2t_torch import register_problem
from t2t_torch.problems.text.text2text import Text2TextProblem

WORDS = "the cat sat on a mat while dogs ran in big green fields".split()


@register_problem()
class WordReverse(Text2TextProblem):
    """Reverse the order of the words of a random sentence (an example problem from a usr_dir)."""

    approx_vocab_size = 300  # a small subword vocabulary, built from the training data on first use
    train_size = 2000
    dev_size = 100
    config_keys = (*Text2TextProblem.config_keys, "train_size", "dev_size")

    def generate_samples(self, split: str, data_dir: Path) -> Iterator[dict[str, str]]:
        rng = np.random.default_rng(0 if split == "train" else 1)
        for _ in range(self.train_size if split == "train" else self.dev_size):
            words = rng.choice(WORDS, size=int(rng.integers(1, 8))).tolist()
            yield {"inputs": " ".join(words), "targets": " ".join(reversed(words))}
