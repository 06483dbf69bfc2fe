"""The raw log-mel frames of many audio files, in order, computed in this process or in worker processes: the
parallel half of a speech problem's preparation (speech_problem.py; T2T's datagen parallelised by shards instead).

`file_features(paths, num_mel_bins, fix, workers)` yields one `FileFeatures` per path in the order given, whatever
the number of workers, so a cache written from them is the same, byte for byte, as the serial path writes. Workers
are forked where the platform forks (as torch's DataLoader forks its workers; a spawned or fork-server worker
re-imports torch and the package, seconds per worker and split), spawned elsewhere. Each worker first sets one
torch thread, which is also what makes forking a process that ran OpenMP safe (as in DataLoader workers): the work
per file is small, and N processes of N threads each would oversubscribe the cores (the cost shows as system time).
`worker_count` resolves a problem's `prepare_workers` setting.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from t2t_torch.datamodules.cpus import usable_cpus
from t2t_torch.errors import T2TUserError
from t2t_torch.problems.speech import audio_features
from t2t_torch.problems.speech.audio_features import BadAudioError

AUTO_MAX_WORKERS = 4  # the default's cap (benchmarks/speech_features.md: preparation is read- and fbank-bound)
AUTO_MIN_UTTERANCES = 64  # the default prepares smaller splits in this process (starting workers costs a few files)
CHUNK = 8  # files a worker takes at a time


@dataclass(frozen=True)
class FileFeatures:
    """One file's frames before CMVN, or why it cannot be used, and what the file held before conversion."""

    features: np.ndarray | None  # float32 (frames, num_mel_bins); None when the file is bad
    error: str | None  # the BadAudioError's message when the file is bad
    file_rate: int = 0
    file_channels: int = 0

    def conversions(self) -> list[str]:
        """What was done to the file's samples, as counted in the preparation log."""
        done = ["averaged to mono"] if self.file_channels > 1 else []
        if self.file_rate != audio_features.SAMPLE_RATE:
            done.append(f"resampled from {self.file_rate} Hz")
        return done


def one_file(path: Path, num_mel_bins: int, fix: str) -> FileFeatures:
    """The frames of `path` (audio_features: read as 16 kHz mono, Kaldi fbank, refused when silent)."""
    try:
        waveform = audio_features.load_waveform(path, fix)
        features = audio_features.log_mel_fbank(waveform.samples, num_mel_bins)
        audio_features.check_not_silent(features, path, fix)
    except BadAudioError as error:
        return FileFeatures(None, str(error))
    return FileFeatures(features, None, waveform.file_rate, waveform.file_channels)


def one_thread() -> None:
    """A worker's initializer: one torch thread per process (the processes are the parallelism)."""
    import torch

    torch.set_num_threads(1)


def file_features(paths: Sequence[Path], num_mel_bins: int, fix: str, workers: int) -> Iterator[FileFeatures]:
    """`one_file` of every path, in order; over `workers` processes when it is above 1. Closing the
    iterator early (an error while its results are used) ends the workers."""
    compute = partial(one_file, num_mel_bins=num_mel_bins, fix=fix)
    if workers <= 1:
        yield from map(compute, paths)
        return
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with multiprocessing.get_context(method).Pool(workers, initializer=one_thread) as pool:
        yield from pool.imap(compute, paths, chunksize=CHUNK)


def check_worker_setting(value: object, problem: str) -> None:
    """A one-line error unless `value` is None (automatic) or a whole number >= 1."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise T2TUserError(f"problem.prepare_workers of {problem} must be a whole number >= 1 (1: prepare in this"
                           f" process) or null (automatic: up to {AUTO_MAX_WORKERS} processes), got {value!r}")


def worker_count(setting: int | None, files: int) -> int:
    """The processes preparing `files` files: `setting`, at most one per file; automatic (None): this process for
    fewer than AUTO_MIN_UTTERANCES files, else min(AUTO_MAX_WORKERS, the usable CPUs)."""
    if setting is None:
        return 1 if files < AUTO_MIN_UTTERANCES else min(AUTO_MAX_WORKERS, usable_cpus())
    return max(1, min(setting, files))
