"""Speech recognition problems: an utterance's audio in, its transcript out (ports T2T's
`data_generators/speech_recognition.py` `SpeechRecognitionProblem`).

A subclass lists its utterances, `utterances(split, data_dir) -> Listing` (a root folder, (audio path, transcript)
pairs, and what it left out while listing), and fetches its sources in `prepare_sources(data_dir)`. The base does
the rest:

- inputs: log-mel filterbank frames (audio_features.py: `num_mel_bins` 80, 25 ms windows every 10 ms) of each file
  read as 16 kHz mono, computed once into the example cache, stored as `feature_storage` (float16 by default,
  served as float32), after CMVN (`cmvn`: `utterance`, T2T's per-utterance mean and variance; `global`, one mean and
  deviation per bin from up to GLOBAL_CMVN_UTTERANCES training utterances evenly spread over the split, saved
  beside the cache; `none`).
- targets: the transcript as UTF-8 bytes (`vocab_type=character`, the default: T2T's byte-level
  `ByteTextEncoderWithEos`, 256 + 2 ids) or as subwords learned from the training transcripts
  (`vocab_type=subword`, `approx_vocab_size`), EOS appended.
- SpecAugment on `train` only, as examples are served (`preprocess_example`, drawn from the loader's numpy
  generator, so a resumed run draws the same masks): `spec_augment`, `freq_masks`, `freq_mask_bins`, `time_masks`,
  `time_mask_frames`, `time_mask_ratio` (audio_features.SpecAugment). These never change the cache.
- preparation over `prepare_workers` processes (feature_workers.py; null, the default: up to 4 for splits of 64
  utterances or more, else this process), each with one torch thread; the cache is the same whatever the count.
- batching by frames: `hparams.batching.batch_size` counts input frames (the spec's `length_feature` is `inputs`),
  and training utterances longer than `max_length` frames are dropped.
- metrics: T2T's teacher-forced ones plus `edit_distance`; `wer` and `cer` of real decodes (`decode.split=test`).

Bad audio (audio_features.BadAudioError: unreadable or corrupt, no samples, a rate below 8 kHz, more than two
channels, shorter than a frame, only silence) is a one-line error naming the file, or with `skip_bad_audio=true`
left out; the skips (with those made while listing, e.g. a file without a transcript) are counted and logged per
split, as are the stereo files averaged to mono and the files resampled to 16 kHz.

A split's cache is keyed by the settings, its listing (paths and transcripts), the content of its audio
(`input_identity`: the sha256 of every file, or a download's archive checksums), the vocabulary and the global
CMVN statistics, so a changed audio file, transcript or setting rebuilds it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from filelock import FileLock
from tqdm import tqdm

from t2t_torch.datamodules.example_cache import ExampleCache
from t2t_torch.errors import T2TUserError
from t2t_torch.problems.problem import CachedProblem, check_data_dir
from t2t_torch.problems.sources.file_identity import HASH_MEMO, file_sha256
from t2t_torch.problems.sources.image_files import folder_digest
from t2t_torch.problems.speech import audio_features, feature_workers
from t2t_torch.problems.speech.audio_features import BadAudioError, GlobalStats, SpecAugment
from t2t_torch.spec import FeatureSpec, ProblemSpec, symbol_feature
from t2t_torch.text import ByteEncoder, EncoderFileError, SubwordEncoder, TextEncoder, load_encoder

log = logging.getLogger(__name__)

VOCAB_TYPES = ("character", "subword")
CMVN_MODES = ("utterance", "global", "none")
FEATURE_STORAGE = ("float16", "float32")
SPEC_AUGMENT_KEYS = ("spec_augment", "freq_masks", "freq_mask_bins", "time_masks", "time_mask_frames",
                     "time_mask_ratio")
SERVE_TIME_KEYS = (*SPEC_AUGMENT_KEYS, "prepare_workers")  # settings that never change a cache's content
GLOBAL_CMVN_UTTERANCES = 1000  # training utterances the global CMVN statistics are estimated from
SKIP_FIX = "replace or delete it, or pass problem.skip_bad_audio=true to leave such files out"


@dataclass(frozen=True)
class Utterance:
    audio: str  # the audio file, relative to its listing's root (or absolute)
    text: str  # its transcript, stripped, spaces collapsed
    where: str  # where it was listed ("<file> line 3"), for messages


@dataclass(frozen=True)
class Listing:
    """The utterances of a split and what was left out while listing them (one line each)."""

    root: Path
    utterances: tuple[Utterance, ...]
    skipped: tuple[str, ...] = ()

    def path(self, utterance: Utterance) -> Path:
        return self.root / utterance.audio


class SpeechRecognitionProblem(CachedProblem):
    """Base of audio -> transcript problems: a subclass writes `utterances` (and `prepare_sources` if it downloads)."""

    input_modality = "audio_spectral"
    target_modality = "symbol"
    reversible: ClassVar[bool] = False  # text -> speech is not a problem this port has
    batch_size_means_tokens = True  # hparams.batching.batch_size counts input frames
    requires_download: ClassVar[bool] = True  # reads recordings from outside the package
    splits: ClassVar[tuple[str, ...]] = ("train", "dev", "test")
    eval_metrics = ("accuracy", "accuracy_per_sequence", "neg_log_perplexity", "edit_distance")
    decode_metrics = ("wer", "cer")
    vocab_type: ClassVar[str] = "character"
    approx_vocab_size: ClassVar[int] = 2**10
    num_mel_bins: ClassVar[int] = 80
    cmvn: ClassVar[str] = "utterance"
    feature_storage: ClassVar[str] = "float16"
    skip_bad_audio: ClassVar[bool] = False
    spec_augment: ClassVar[bool] = True
    freq_masks: ClassVar[int] = SpecAugment.freq_masks
    freq_mask_bins: ClassVar[int] = SpecAugment.freq_mask_bins
    time_masks: ClassVar[int] = SpecAugment.time_masks
    time_mask_frames: ClassVar[int] = SpecAugment.time_mask_frames
    time_mask_ratio: ClassVar[float] = SpecAugment.time_mask_ratio
    prepare_workers: ClassVar[int | None] = None  # feature_workers.worker_count: None is automatic
    config_keys = ("vocab_type", "approx_vocab_size", "num_mel_bins", "cmvn", "feature_storage", "skip_bad_audio",
                   *SERVE_TIME_KEYS)
    serve_time_keys: ClassVar[tuple[str, ...]] = SERVE_TIME_KEYS  # not in the cache's identity

    def __init__(self, was_reversed: bool = False, **config: Any) -> None:
        super().__init__(was_reversed, **config)  # `_rev`: a one-line error there (`reversible` is False)
        choices = {"vocab_type": VOCAB_TYPES, "cmvn": CMVN_MODES, "feature_storage": FEATURE_STORAGE}
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise T2TUserError(f"problem.{key} of {self.name} must be one of {', '.join(allowed)},"
                                   f" got {getattr(self, key)!r}")
        for key, low in (("approx_vocab_size", 259), ("num_mel_bins", 1)):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise T2TUserError(f"problem.{key} of {self.name} must be a whole number >= {low}, got {value!r}")
        for key in ("skip_bad_audio", "spec_augment"):
            if not isinstance(getattr(self, key), bool):
                raise T2TUserError(f"problem.{key} of {self.name} must be true or false, got {getattr(self, key)!r}")
        feature_workers.check_worker_setting(self.prepare_workers, self.name)
        self.masks = SpecAugment(self.freq_masks, self.freq_mask_bins, self.time_masks, self.time_mask_frames,
                                 self.time_mask_ratio)
        wrong = self.masks.problem("problem.")
        if wrong:
            raise T2TUserError(f"{wrong} (problem {self.name})")
        self._encoder: TextEncoder | None = None
        self._global_stats: tuple[np.ndarray, np.ndarray] | None = None

    # What a subclass writes ---------------------------------------------------------------------------------------
    def utterances(self, split: str, data_dir: Path) -> Listing:
        """The utterances of `split`; one-line errors for a bad layout (see speech_folder.py for the checks)."""
        raise NotImplementedError

    def prepare_sources(self, data_dir: Path) -> None:
        """Download and unpack what `utterances` reads (default: nothing, the files are local)."""

    def source_identity(self, split: str, data_dir: Path) -> Any:
        """What the audio of `split` is, by content (default: the sha256 of every listed file, remembered under its
        stat beside the cache; a download overrides it with its archives' checksums)."""
        listing = self.utterances(split, data_dir)
        entries = [(u.audio, 0) for u in listing.utterances]
        return folder_digest(listing.root, entries, self.cache_dir(data_dir) / HASH_MEMO)

    # Spec, vocabulary ---------------------------------------------------------------------------------------------
    def stored_spec(self, data_dir: str | Path | None) -> ProblemSpec:
        frames = FeatureSpec("audio_spectral", 0, (None, self.num_mel_bins), "float32", 0.0, False)
        features = {"inputs": frames, "targets": symbol_feature(self.target_vocab_size(data_dir))}
        return ProblemSpec(features=features, batch_size_means_tokens=True, length_feature="inputs",
                           eval_metrics=self.eval_metrics, decode_metrics=self.decode_metrics)

    def target_vocab_size(self, data_dir: str | Path | None) -> int:
        if self.vocab_type == "character":
            return ByteEncoder().vocab_size
        if data_dir is None:
            raise T2TUserError(f"the subword vocabulary of {self.name} is known once its data is prepared: call"
                               " problem.generate_data(data_dir), then problem.spec(data_dir)")
        return self.target_encoder(Path(data_dir)).vocab_size

    def transcripts_digest(self, split: str, data_dir: Path) -> str:
        """sha256 of the listing of `split`: its audio paths and transcripts."""
        listing = self.utterances(split, data_dir)
        pairs = [[u.audio, u.text] for u in listing.utterances]
        return hashlib.sha256(json.dumps(pairs, ensure_ascii=False).encode()).hexdigest()

    def vocab_files(self, data_dir: str | Path) -> dict[str, Path]:
        """The targets' vocabulary file; a subword one is named after the training transcripts it was learned from."""
        if self.vocab_type == "character":
            return {"targets": self.cache_dir(data_dir) / "vocab.byte.json"}
        identity = [self.approx_vocab_size, self.transcripts_digest("train", Path(data_dir))]
        digest = hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:8]
        return {"targets": self.cache_dir(data_dir) / f"vocab.subword.{self.approx_vocab_size}.{digest}.json"}

    def get_or_create_vocab(self, data_dir: Path) -> TextEncoder:
        path = self.vocab_files(data_dir)["targets"]
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path.parent / ".vocab.lock")):
            if not path.is_file():
                if self.vocab_type == "character":
                    encoder: TextEncoder = ByteEncoder()
                else:
                    texts = (u.text for u in self.utterances("train", data_dir).utterances)
                    encoder = SubwordEncoder.build(texts, self.approx_vocab_size)
                encoder.save(path)  # atomic: tmp file + rename
                log.info("Saved the vocabulary of %s to %s", self.name, path)
        return self.target_encoder(data_dir)

    def target_encoder(self, data_dir: Path) -> TextEncoder:
        if self._encoder is None:
            path = self.vocab_files(data_dir)["targets"]
            if not path.is_file():
                raise T2TUserError(f"no vocabulary for {self.name} in {data_dir} matching its settings and"
                                   f" transcripts: run `t2t-datagen problem={self.name} data_dir={data_dir}`"
                                   " (train.py does this itself)")
            try:
                self._encoder = load_encoder(path)
            except EncoderFileError as error:
                raise T2TUserError(str(error)) from None
        return self._encoder

    def feature_encoders(self, data_dir: str | Path) -> dict[str, TextEncoder]:
        """Only the targets are text: the inputs are frames, decoded from a split (`decode.split=test`)."""
        return {"targets": self.target_encoder(Path(data_dir))}

    # Cache identity -----------------------------------------------------------------------------------------------
    def cache_settings(self) -> dict[str, Any]:
        return {k: v for k, v in self.config().items() if k not in self.serve_time_keys}

    def cache_key(self, split: str) -> list[Any]:
        """What names the source of `split` in its cache's identity (problems reading the same sources of a split
        under other names may share its cache)."""
        return [type(self).__qualname__, split]

    def fingerprint_parts(self, split: str, data_dir: Path) -> list[Any]:
        vocab = self.vocab_files(data_dir)["targets"]
        stats = self.global_stats_file(data_dir) if self.cmvn == "global" else None
        return [*self.cache_key(split), self.cache_version, self.cache_settings(),
                self.transcripts_digest(split, data_dir), self.source_identity(split, data_dir),
                file_sha256(vocab) if vocab.is_file() else None,
                file_sha256(stats) if stats is not None and stats.is_file() else None]

    def split_cache(self, split: str, data_dir: str | Path) -> ExampleCache:
        folder = self.cache_dir(data_dir) / f"{split}.{self.fingerprint(split, data_dir)}"
        storage = {"inputs": self.feature_storage} if self.feature_storage != "float32" else None
        return ExampleCache(folder, self.stored_spec(data_dir).features, storage)

    def describe_split(self, split: str, data_dir: Path) -> str:
        return f"the {split} split of {self.name}, read from {self.utterances(split, data_dir).root},"

    # Preparation --------------------------------------------------------------------------------------------------
    def generate_data(self, data_dir: str | Path) -> None:
        data_dir = check_data_dir(data_dir)
        self.prepare_sources(data_dir)
        for split in self.splits:  # every split's layout and transcripts are checked before any audio is read
            if not self.utterances(split, data_dir).utterances:
                raise T2TUserError(f"{self.describe_split(split, data_dir)} lists no utterances: every split"
                                   f" ({', '.join(self.splits)}) needs at least one recording with its transcript")
        self.get_or_create_vocab(data_dir)
        if self.cmvn == "global":
            self.get_or_create_global_stats(data_dir)
        super().generate_data(data_dir)

    def raw_features(self, paths: list[Path], counts: Counter[str], skipped: list[str]) -> Iterator[np.ndarray | None]:
        """The log-mel frames of each file before CMVN, in order, over `prepare_workers` processes; None for a bad
        file with `skip_bad_audio` (its reason added to `skipped`), else its BadAudioError; `counts` tallies the
        conversions."""
        workers = feature_workers.worker_count(self.prepare_workers, len(paths))
        with closing(feature_workers.file_features(paths, self.num_mel_bins, SKIP_FIX, workers)) as results:
            for result in results:
                if result.error is not None:
                    if not self.skip_bad_audio:
                        raise BadAudioError(result.error)
                    skipped.append(result.error)
                    yield None
                    continue
                counts.update(result.conversions())
                yield result.features

    def normalized(self, features: np.ndarray, data_dir: Path) -> np.ndarray:
        if self.cmvn == "utterance":
            return audio_features.normalize(features, *audio_features.utterance_stats(features))
        if self.cmvn == "global":
            return audio_features.normalize(features, *self.global_stats(data_dir))
        return features

    def generate_encoded_samples(self, split: str, data_dir: Path) -> Iterator[dict[str, Any]]:
        listing = self.utterances(split, data_dir)
        encoder = self.target_encoder(data_dir)
        counts: Counter[str] = Counter()
        skipped = list(listing.skipped)
        frames = self.raw_features([listing.path(u) for u in listing.utterances], counts, skipped)
        for utterance, features in zip(tqdm(listing.utterances, desc=f"{self.registered_name}/{split}",
                                            unit=" utterances", disable=None), frames, strict=True):
            if features is not None:
                yield {"inputs": self.normalized(features, data_dir), "targets": encoder.encode(utterance.text)}
        if counts:
            log.info("%s/%s: %s", self.name, split, ", ".join(f"{n} {what}" for what, n in sorted(counts.items())))
        if skipped:
            log.warning("%s/%s: skipped %d utterances (skip_bad_audio=true), the first: %s", self.name, split,
                        len(skipped), skipped[0])

    # Global CMVN --------------------------------------------------------------------------------------------------
    def global_stats_file(self, data_dir: Path) -> Path:
        identity = [self.num_mel_bins, self.skip_bad_audio, self.transcripts_digest("train", data_dir),
                    self.source_identity("train", data_dir)]
        digest = hashlib.sha256(json.dumps(identity, default=str).encode()).hexdigest()[:8]
        return self.cache_dir(data_dir) / f"cmvn.{self.num_mel_bins}.{digest}.json"

    def get_or_create_global_stats(self, data_dir: Path) -> None:
        """Mean and deviation per bin over up to GLOBAL_CMVN_UTTERANCES training utterances, saved once."""
        path = self.global_stats_file(data_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path) + ".lock"):
            if path.is_file():
                return
            listing = self.utterances("train", data_dir)
            count = min(GLOBAL_CMVN_UTTERANCES, len(listing.utterances))
            picks = np.linspace(0, len(listing.utterances) - 1, count).round().astype(int)
            stats = GlobalStats(self.num_mel_bins)
            paths = [listing.path(listing.utterances[index]) for index in picks]
            for features in self.raw_features(paths, Counter(), []):
                if features is not None:
                    stats.add(features)
            mean, std = stats.mean_std()
            tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
            tmp.write_text(json.dumps({"mean": mean.tolist(), "std": std.tolist(), "frames": stats.count,
                                       "utterances": count}), encoding="utf-8")
            os.replace(tmp, path)
            log.info("Saved the global CMVN statistics of %s (%d frames) to %s", self.name, stats.count, path)

    def global_stats(self, data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
        if self._global_stats is None:
            path = self.global_stats_file(data_dir)
            try:
                saved = json.loads(path.read_text(encoding="utf-8"))
                mean, std = np.asarray(saved["mean"]), np.asarray(saved["std"])
            except (OSError, ValueError, KeyError, TypeError) as error:
                raise T2TUserError(f"cannot read the global CMVN statistics {path} ({error}): delete it and run"
                                   f" `t2t-datagen problem={self.name} data_dir={data_dir}`") from None
            if mean.shape != (self.num_mel_bins,) or std.shape != (self.num_mel_bins,):
                raise T2TUserError(f"global CMVN statistics {path} do not hold {self.num_mel_bins} bins: delete it"
                                   " and rerun")
            self._global_stats = (mean, std)
        return self._global_stats

    # Serving ------------------------------------------------------------------------------------------------------
    @property
    def augments(self) -> bool:
        return self.spec_augment and self.masks.masks_anything

    def preprocess_example(self, example: dict[str, Any], split: str, rng: Any) -> dict[str, Any]:
        """SpecAugment's frequency and time masks on `train` only (audio_features.SpecAugment)."""
        if split != "train" or not self.augments:
            return example
        return {**example, "inputs": self.masks.apply(example["inputs"], rng)}
