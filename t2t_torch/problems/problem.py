"""Problem base classes (ports T2T's `data_generators/problem.py` `Problem`).

A problem knows its splits, how to prepare them into `data_dir` (download, encode, cache), its vocabulary sizes and
its eval metrics. Subclasses of `TokenSequenceProblem` only write `generate_encoded_samples`: a generator of dicts of
token-id lists (`{"inputs": [...], "targets": [...]}`, no EOS); caching, EOS, `_rev` and locking are shared.

Problem knobs (e.g. `train_size`) are class attributes listed in `config_keys`; they can be overridden from the
command line as `problem.<key>=...` and are part of the cache fingerprint. Each split is cached in a folder named by
its fingerprint (`data_dir/<name>/<split>.<fingerprint>/`), so a changed knob prepares a new cache beside the old one
and processes preparing other settings in one data_dir never write into what another reads.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

from filelock import FileLock

from t2t_torch.problems.file_identity import file_sha256
from t2t_torch.problems.token_cache import TokenCache, TokenDataset
from t2t_torch.errors import T2TUserError, did_you_mean

log = logging.getLogger(__name__)

PAD_ID = 0
EOS_ID = 1
NUM_RESERVED_IDS = 2  # T2T: 0 = <pad>, 1 = <EOS>


@dataclass(frozen=True)
class ProblemInfo:
    """What a model needs to know about a problem to build itself (T2T's `problem_hparams`)."""

    target_vocab_size: int
    input_vocab_size: int | None  # None: the problem has no inputs (language modelling)
    modality: str = "symbol"
    pad_id: int = PAD_ID
    eos_id: int = EOS_ID

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Problem:
    """Base class of every problem: splits, preparation into `data_dir`, vocabulary sizes, metrics."""

    registered_name: ClassVar[str] = ""
    splits: ClassVar[tuple[str, ...]] = ("train", "dev")
    eval_metrics: ClassVar[tuple[str, ...]] = ("accuracy", "accuracy_per_sequence", "neg_log_perplexity")
    config_keys: ClassVar[tuple[str, ...]] = ()  # class attributes overridable as problem.<key>=...

    def __init__(self, was_reversed: bool = False, **config: Any) -> None:
        self.was_reversed = was_reversed
        for key, value in config.items():
            if key not in self.config_keys:
                raise T2TUserError(
                    f"problem {self.name} has no setting '{key}'.{did_you_mean(key, self.config_keys)}"
                    f" Its settings: {', '.join(self.config_keys) or 'none'}."
                )
            setattr(self, key, value)

    @property
    def name(self) -> str:
        return self.registered_name + ("_rev" if self.was_reversed else "")

    @classmethod
    def default_config(cls) -> dict[str, Any]:
        """The problem's knobs and their defaults, as they appear under `problem.` in the Hydra config."""
        return {key: getattr(cls, key) for key in cls.config_keys}

    def config(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in self.config_keys}

    def info(self) -> ProblemInfo:
        raise NotImplementedError

    def generate_data(self, data_dir: str | Path) -> None:
        """Prepare every split into `data_dir` (download, encode, cache); a no-op when already done."""
        raise NotImplementedError

    def dataset(self, split: str, data_dir: str | Path) -> TokenDataset:
        raise NotImplementedError

    def vocab_files(self, data_dir: str | Path) -> dict[str, Path]:
        """The vocabulary file of each stored feature (`{}` for problems whose ids need no vocabulary file)."""
        return {}

    def vocab_hashes(self, data_dir: str | Path) -> dict[str, str]:
        """sha256 of each feature's vocabulary file, keyed by the feature as served (swapped for `_rev`): what a
        checkpoint records so that a rebuilt vocabulary under the same file name is refused, not reused."""
        hashes = {feature: file_sha256(path) for feature, path in self.vocab_files(data_dir).items()}
        if self.was_reversed and hashes:
            hashes = {"inputs": hashes["targets"], "targets": hashes["inputs"]}
        return hashes

    def feature_encoders(self, data_dir: str | Path) -> dict[str, Any]:
        """Text <-> ids per feature (`{"inputs": TextEncoder, "targets": TextEncoder}`), for decoding text;
        `_rev` problems return them swapped. Read from `data_dir` after `generate_data`."""
        raise NotImplementedError(f"problem {self.name} has no text encoders")


class TokenSequenceProblem(Problem):
    """A problem whose examples are sequences of token ids, cached as memory-mapped arrays under `data_dir/<name>/`."""

    features: ClassVar[tuple[str, ...]] = ("inputs", "targets")
    cache_version: ClassVar[int] = 1  # bump when the generator's output changes

    def generate_encoded_samples(self, split: str, data_dir: Path) -> Iterator[dict[str, list[int]]]:
        """Yield examples of `split` as dicts of token-id lists, without EOS."""
        raise NotImplementedError

    def vocab_sizes(self) -> tuple[int | None, int]:
        """(input vocab size or None, target vocab size), both counting the reserved ids."""
        raise NotImplementedError

    def info(self) -> ProblemInfo:
        inputs, targets = self.vocab_sizes()
        if self.was_reversed:
            if inputs is None:
                raise T2TUserError(f"problem {self.registered_name} has no inputs, so it has no _rev variant")
            inputs, targets = targets, inputs
        return ProblemInfo(target_vocab_size=targets, input_vocab_size=inputs)

    def cache_dir(self, data_dir: str | Path) -> Path:
        return Path(data_dir) / self.registered_name  # `_rev` shares the base problem's cache

    def fingerprint_parts(self, split: str, data_dir: Path) -> list[Any]:
        """What the cache of `split` depends on: class, version, settings (overridden to add input content)."""
        return [type(self).__qualname__, self.cache_version, self.config(), split]

    def fingerprint(self, split: str, data_dir: str | Path) -> str:
        blob = json.dumps(self.fingerprint_parts(split, Path(data_dir)), sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def split_cache(self, split: str, data_dir: str | Path) -> TokenCache:
        """The cache of `split` under the settings and inputs of now: a folder per fingerprint, so processes
        preparing other settings in the same data_dir never write into what this one reads."""
        folder = self.cache_dir(data_dir) / f"{split}.{self.fingerprint(split, data_dir)}"
        return TokenCache(folder, self.features)

    def describe_split(self, split: str, data_dir: Path) -> str:
        """Where the examples of `split` come from, for error messages."""
        return f"the {split} split generated by problem {self.name} (settings {self.config()})"

    def generate_data(self, data_dir: str | Path) -> None:
        data_dir = check_data_dir(data_dir)
        self.cache_dir(data_dir).mkdir(parents=True, exist_ok=True)
        for split in self.splits:
            cache = self.split_cache(split, data_dir)
            # One process prepares a fingerprint, the others wait and then reuse it.
            with FileLock(str(cache.path.with_name(cache.path.name + ".lock"))):
                if cache.is_complete(cache.path.name):
                    continue
                log.info("Preparing %s/%s into %s", self.registered_name, split, cache.path)
                samples = iter(self.generate_encoded_samples(split, data_dir))
                first = next(samples, None)
                if first is None:
                    raise T2TUserError(
                        f"{self.describe_split(split, data_dir)} holds no examples: a problem needs at least one"
                        f" example in every split ({', '.join(self.splits)})"
                    )
                samples = itertools.chain([first], samples)
                count = cache.write(({f: [*s[f], EOS_ID] for f in self.features} for s in samples), cache.path.name)
                log.info("Wrote %d examples to %s", count, cache.path)

    def dataset(self, split: str, data_dir: str | Path) -> TokenDataset:
        if split not in self.splits:
            raise T2TUserError(f"problem {self.name} has no split '{split}'; its splits: {', '.join(self.splits)}")
        cache = self.split_cache(split, data_dir)
        if not cache.is_complete(cache.path.name):
            raise T2TUserError(
                f"no prepared data for {self.name}/{split} in {data_dir} (or its input files changed since):"
                f" run `t2t-datagen problem={self.name} data_dir={data_dir}` (train.py does this itself)"
            )
        swap = {"inputs": "targets", "targets": "inputs"} if self.was_reversed else None
        return cache.open(rename=swap)


def check_data_dir(data_dir: str | Path) -> Path:
    """`data_dir` as a Path, created if missing; a one-line error if it cannot be used."""
    path = Path(data_dir).expanduser()
    if path.exists() and not path.is_dir():
        raise T2TUserError(f"data_dir '{path}' is a file, not a folder: pass data_dir=<folder>")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise T2TUserError(
            f"cannot create data_dir '{path}' ({error.strerror}): pass a writable data_dir=<folder>"
        ) from error
    probe = path / f".t2t_write_test-{os.getpid()}-{threading.get_ident()}"  # unique: ranks check at once
    try:
        probe.touch()
        probe.unlink()
    except OSError as error:
        raise T2TUserError(
            f"data_dir '{path}' is not writable ({error.strerror}): pass a writable data_dir=<folder>"
        ) from error
    return path
