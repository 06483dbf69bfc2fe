"""Problem base classes (ports T2T's `data_generators/problem.py` `Problem`).

A problem knows its splits, how to prepare them into `data_dir` (download, encode, cache), its `ProblemSpec` (the
modality, size and shape of each feature: `t2t_torch/spec.py`) and its eval metrics. Subclasses of `CachedProblem`
only write `generate_encoded_samples`, a generator of dicts of per-feature values (token-id lists without EOS,
image arrays, class ids), and `stored_spec`; caching, EOS (where the spec asks for it), `_rev` and locking are
shared. `TokenSequenceProblem` is the token-to-token case, sized by `vocab_sizes()`.

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
from pathlib import Path
from typing import Any, ClassVar

from filelock import FileLock

from t2t_torch.datamodules.example_cache import FORMAT as CACHE_FORMAT
from t2t_torch.datamodules.example_cache import ExampleCache, ExampleDataset
from t2t_torch.errors import T2TUserError, did_you_mean
from t2t_torch.modalities import modality_class
from t2t_torch.problems.sources.file_identity import file_sha256
from t2t_torch.spec import EOS_ID, FeatureSpec, ProblemSpec, symbol_feature

log = logging.getLogger(__name__)

class Problem:
    """Base class of every problem: splits, preparation into `data_dir`, its spec, metrics."""

    registered_name: ClassVar[str] = ""
    splits: ClassVar[tuple[str, ...]] = ("train", "dev")
    eval_metrics: ClassVar[tuple[str, ...]] = ("accuracy", "accuracy_per_sequence", "neg_log_perplexity")
    decode_metrics: ClassVar[tuple[str, ...]] = ()  # metrics of real decodes (bleu, chrf, rouge, wer, accuracy)
    config_keys: ClassVar[tuple[str, ...]] = ()  # class attributes overridable as problem.<key>=...
    # The modality of each feature, known without data (compose-time checks); the spec adds sizes and shapes.
    input_modality: ClassVar[str | None] = "symbol"  # None: no inputs (decoder-only, T2T's has_inputs=False)
    target_modality: ClassVar[str] = "symbol"
    batch_size_means_tokens: ClassVar[bool] = True  # False: batch_size counts examples (images, labels)
    reversible: ClassVar[bool] = True  # False: no `<name>_rev` even where the modalities would allow one

    def __init__(self, was_reversed: bool = False, **config: Any) -> None:
        self.was_reversed = was_reversed
        if was_reversed and not self.can_reverse():
            why = "it has no inputs" if self.input_modality is None else (
                f"its {self.input_modality} inputs and {self.target_modality} targets cannot swap")
            raise T2TUserError(f"problem {self.registered_name} has no _rev variant ({why}):"
                               f" pass problem={self.registered_name}")
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

    @classmethod
    def can_reverse(cls) -> bool:
        """Whether `<name>_rev` exists: inputs that can be targets and targets that can be inputs."""
        if not cls.reversible or cls.input_modality is None:
            return False
        source, target = modality_class(cls.input_modality), modality_class(cls.target_modality)
        return source.can_be_target and target.can_be_input and source.sequence_top == target.sequence_top

    @classmethod
    def class_modalities(cls, reversed_: bool = False) -> dict[str, str]:
        """{feature: modality name} as served, known from the class alone (checked against the spec by tests)."""
        modalities = {"targets": cls.target_modality}
        if cls.input_modality is not None:
            modalities["inputs"] = cls.input_modality
            if reversed_:
                modalities = {"inputs": cls.target_modality, "targets": cls.input_modality}
        return modalities

    def stored_spec(self, data_dir: str | Path | None) -> ProblemSpec:
        """The spec of the features as stored (before `_rev` swaps them); may read vocabularies from `data_dir`."""
        raise NotImplementedError

    def spec(self, data_dir: str | Path | None = None) -> ProblemSpec:
        """The spec of the features as served: what models are built for and checkpoints record. Problems whose
        vocabulary is learned from data read its size from `data_dir` (prepared by `generate_data`)."""
        spec = self.stored_spec(data_dir)
        return spec.reversed() if self.was_reversed else spec

    def preprocess_example(self, example: dict[str, Any], split: str, rng: Any) -> dict[str, Any]:
        """Per-example work done as examples are served, e.g. augmentation (crop/flip) on `train`; `rng` is a numpy
        Generator seeded from (seed, epoch, example), so a resumed run draws the same. Default: unchanged."""
        return example

    def finish_batch(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Batched work on the training device, after the batch is copied there: it consumes the keys that are not
        features (`preprocess_example` may leave, say, random crop offsets that are cheaper to apply to a whole batch
        on a GPU than image by image in the loader). Default: the batch as it is."""
        return batch

    @property
    def augments(self) -> bool:
        """Whether `preprocess_example` is overridden (then the data loader passes it the epoch)."""
        return type(self).preprocess_example is not Problem.preprocess_example

    def generate_data(self, data_dir: str | Path) -> None:
        """Prepare every split into `data_dir` (download, encode, cache); a no-op when already done."""
        raise NotImplementedError

    def dataset(self, split: str, data_dir: str | Path) -> ExampleDataset:
        raise NotImplementedError

    def vocab_files(self, data_dir: str | Path) -> dict[str, Path]:
        """The vocabulary file of each stored feature (`{}` for problems whose ids need no vocabulary file)."""
        return {}

    def served_vocab_files(self, data_dir: str | Path) -> dict[str, Path]:
        """`vocab_files` keyed by the feature as served (swapped for `_rev`)."""
        files = self.vocab_files(data_dir)
        if self.was_reversed and files:
            files = {"inputs": files["targets"], "targets": files["inputs"]}
        return files

    def vocab_hashes(self, data_dir: str | Path) -> dict[str, str]:
        """sha256 of each served feature's vocabulary file: what a checkpoint records so that a rebuilt vocabulary
        under the same file name is refused, not reused."""
        return {feature: file_sha256(path) for feature, path in self.served_vocab_files(data_dir).items()}

    def feature_encoders(self, data_dir: str | Path) -> dict[str, Any]:
        """Text <-> ids per feature (`{"inputs": TextEncoder, "targets": TextEncoder}`), for decoding text;
        `_rev` problems return them swapped. Read from `data_dir` after `generate_data`."""
        raise NotImplementedError(f"problem {self.name} has no text encoders")


class CachedProblem(Problem):
    """A problem whose examples are generated once into the memory-mapped example cache under `data_dir/<name>/`."""

    cache_version: ClassVar[int] = 1  # bump when the generator's output changes

    def generate_encoded_samples(self, split: str, data_dir: Path) -> Iterator[dict[str, Any]]:
        """Yield examples of `split` as dicts of per-feature values, without EOS."""
        raise NotImplementedError

    def cache_dir(self, data_dir: str | Path) -> Path:
        return Path(data_dir) / self.registered_name  # `_rev` shares the base problem's cache

    def fingerprint_parts(self, split: str, data_dir: Path) -> list[Any]:
        """What the cache of `split` depends on: class, version, settings (overridden to add input content)."""
        return [type(self).__qualname__, self.cache_version, self.config(), split]

    def fingerprint(self, split: str, data_dir: str | Path) -> str:
        parts = [CACHE_FORMAT, *self.fingerprint_parts(split, Path(data_dir))]
        blob = json.dumps(parts, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def split_cache(self, split: str, data_dir: str | Path) -> ExampleCache:
        """The cache of `split` under the settings and inputs of now: a folder per fingerprint, so processes
        preparing other settings in the same data_dir never write into what this one reads."""
        folder = self.cache_dir(data_dir) / f"{split}.{self.fingerprint(split, data_dir)}"
        return ExampleCache(folder, self.stored_spec(data_dir).features)

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
                count = cache.write(with_eos(itertools.chain([first], samples), cache.features), cache.path.name)
                log.info("Wrote %d examples to %s", count, cache.path)

    def dataset(self, split: str, data_dir: str | Path) -> ExampleDataset:
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


def with_eos(samples: Iterator[dict[str, Any]], features: dict[str, FeatureSpec]) -> Iterator[dict[str, Any]]:
    """`samples` with EOS appended to the features whose spec asks for it (T2T appended it to every text feature)."""
    eos = [name for name, feature in features.items() if feature.append_eos]
    for sample in samples:
        yield {**sample, **{name: [*sample[name], EOS_ID] for name in eos}}


class TokenSequenceProblem(CachedProblem):
    """A problem whose inputs and targets are token-id sequences ending in EOS, sized by `vocab_sizes()`."""

    def vocab_sizes(self) -> tuple[int | None, int]:
        """(input vocab size or None, target vocab size), both counting the reserved ids."""
        raise NotImplementedError

    def stored_spec(self, data_dir: str | Path | None) -> ProblemSpec:
        inputs, targets = self.vocab_sizes()
        features = {"inputs": symbol_feature(inputs)} if inputs is not None else {}
        features["targets"] = symbol_feature(targets)
        return ProblemSpec(features=features, batch_size_means_tokens=True, eval_metrics=self.eval_metrics,
                           decode_metrics=self.decode_metrics)


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
