"""Audio files -> the log-mel filterbank frames speech problems cache, and the SpecAugment masks drawn as training
examples are served (ports the feature half of T2T's `data_generators/speech_recognition.py` and
`layers/common_audio.py` `compute_mel_filterbank_features`; SpecAugment is Park et al. 2019, which T2T did not have).

- Reading: `load_waveform` reads WAV, FLAC, OGG (and whatever else libsndfile reads, MP3 included) with soundfile,
  since torchaudio 2.11's `load` needs torchcodec; averages the two channels of stereo audio into mono; resamples to
  16 kHz with torchaudio's windowed-sinc resampler (`resampler`: its kernel built once per file rate). It returns the
  file's own rate and channel count so callers count conversions. What it cannot use is a `BadAudioError` naming
  the file: unreadable or corrupt, no samples, a rate below 8 kHz, more than 2 channels, shorter than one 25 ms
  frame.
- Features: `log_mel_fbank` is Kaldi's fbank (`torchaudio.compliance.kaldi.fbank`): 25 ms Povey windows every
  10 ms, pre-emphasis 0.97, DC removal, `num_mel_bins` (80) triangular mel bins from 20 Hz to the Nyquist frequency,
  log energies, no dither (so a cache is the same on every rebuild), samples scaled to the int16 range as Kaldi reads
  them: 1 + (samples - 400) // 160 frames. T2T's delta and delta-delta channels are not computed.
- CMVN: `normalize` subtracts a mean and divides by a standard deviation per bin; `utterance_stats` are the
  utterance's own (T2T's "replaces CMVN estimation on data"; variance epsilon 1e-9), `GlobalStats` accumulates them
  over many utterances. A file whose every bin is constant (digital silence) is a `BadAudioError`: normalized, it
  would be all zeros, which the audio modality reads as padding.
- SpecAugment: `SpecAugment.apply(features, rng)` sets `freq_masks` bands of up to `freq_mask_bins` bins and
  `time_masks` runs of up to `time_mask_frames` frames (each at most `time_mask_ratio` of the utterance) to 0, the
  mean of normalized features; each width and start is drawn uniformly from the numpy generator. A time-masked frame
  is all zeros, so the audio modality masks it out of attention like padding; the ratio bound keeps most of every
  utterance unmasked. Time warping is not ported.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from t2t_torch.errors import T2TUserError

SAMPLE_RATE = 16000  # what the features are computed at (T2T's audio_sample_rate)
MIN_SAMPLE_RATE = 8000  # telephone speech; below it the 20 Hz - Nyquist mel bins would mostly be empty
MAX_CHANNELS = 2  # stereo is averaged into mono; more channels (a microphone array, surround) are refused
FRAME_LENGTH_MS = 25.0
FRAME_SHIFT_MS = 10.0
FRAME_SAMPLES = int(SAMPLE_RATE * FRAME_LENGTH_MS / 1000)  # 400
SHIFT_SAMPLES = int(SAMPLE_RATE * FRAME_SHIFT_MS / 1000)  # 160
INT16_SCALE = 32768.0  # Kaldi reads int16 samples; soundfile gives floats in [-1, 1]
VARIANCE_EPSILON = 1e-9  # T2T's var_epsilon


class BadAudioError(T2TUserError):
    """An audio file a speech problem cannot use; its message names the file and the fix."""


@dataclass(frozen=True)
class Waveform:
    """Mono samples at SAMPLE_RATE, and what the file held before conversion."""

    samples: np.ndarray  # float32 (n,), in [-1, 1]
    file_rate: int
    file_channels: int


def num_frames(samples: int) -> int:
    """Frames of `samples` 16 kHz samples (Kaldi's snip_edges: only whole windows)."""
    return 0 if samples < FRAME_SAMPLES else 1 + (samples - FRAME_SAMPLES) // SHIFT_SAMPLES


def load_waveform(path: Path, fix: str) -> Waveform:
    """The samples of an audio file as 16 kHz mono; a `BadAudioError` naming `path` and ending in `fix` when the file
    cannot be used."""
    import soundfile

    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)  # (n, channels)
    except (soundfile.SoundFileError, OSError, ValueError, TypeError) as error:
        reason = getattr(error, "error_string", None) or (str(error).strip().splitlines() or [type(error).__name__])[-1]
        raise BadAudioError(f"{path} is not a readable audio file ({reason}): {fix}") from None
    channels = data.shape[1]
    if rate < MIN_SAMPLE_RATE:
        raise BadAudioError(f"{path} is sampled at {rate} Hz, below the {MIN_SAMPLE_RATE} Hz speech problems read:"
                            f" record or export it at 16 kHz ({fix})")
    if channels > MAX_CHANNELS:
        raise BadAudioError(f"{path} has {channels} channels, speech problems read mono or stereo: mix it down"
                            f" (e.g. `sox in.wav -c 1 out.wav`) ({fix})")
    if len(data) == 0:
        raise BadAudioError(f"{path} holds no audio samples: {fix}")
    samples = data.mean(axis=1) if channels > 1 else data[:, 0]
    if rate != SAMPLE_RATE:
        import torch

        samples = resampler(int(rate))(torch.from_numpy(np.ascontiguousarray(samples))).numpy()
    if num_frames(len(samples)) == 0:
        raise BadAudioError(f"{path} lasts {1000 * len(data) / rate:.1f} ms, shorter than one {FRAME_LENGTH_MS:g} ms"
                            f" frame: {fix}")
    return Waveform(np.ascontiguousarray(samples, dtype=np.float32), int(rate), int(channels))


@functools.lru_cache(maxsize=16)
def resampler(rate: int) -> Any:
    """torchaudio's `Resample(rate, SAMPLE_RATE)`, its windowed-sinc kernel computed once per file rate: the output
    of `torchaudio.functional.resample` bit for bit (the same float32 kernel), without rebuilding the kernel for
    every file (a process-local memo of a pure function: a few kernels, one per rate met)."""
    import torch
    import torchaudio.transforms

    return torchaudio.transforms.Resample(rate, SAMPLE_RATE, dtype=torch.float32)


def log_mel_fbank(samples: np.ndarray, num_mel_bins: int) -> np.ndarray:
    """Kaldi log-mel filterbank energies of 16 kHz mono samples: float32 (frames, num_mel_bins)."""
    import torch
    from torchaudio.compliance import kaldi

    waveform = torch.from_numpy(np.asarray(samples, dtype=np.float32)).unsqueeze(0) * INT16_SCALE  # (1, n)
    features = kaldi.fbank(waveform, num_mel_bins=num_mel_bins, frame_length=FRAME_LENGTH_MS,
                           frame_shift=FRAME_SHIFT_MS, dither=0.0, sample_frequency=SAMPLE_RATE)
    return features.numpy().astype(np.float32, copy=False)


def utterance_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, standard deviation) per bin over the frames of one utterance."""
    mean = features.mean(axis=0, dtype=np.float64)
    variance = features.var(axis=0, dtype=np.float64)
    return mean, np.sqrt(variance + VARIANCE_EPSILON)


def normalize(features: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """(features - mean) / std per bin, as float32."""
    return ((features - mean) / std).astype(np.float32)


def check_not_silent(features: np.ndarray, path: Path, fix: str) -> None:
    """A `BadAudioError` when every bin is constant over the utterance (digital silence)."""
    if np.all(np.ptp(features, axis=0) == 0):
        raise BadAudioError(f"{path} holds only silence (every filterbank bin is constant): {fix}")


class GlobalStats:
    """Sums of frames and of their squares per bin (float64), for a mean and deviation over many utterances."""

    def __init__(self, bins: int) -> None:
        self.count = 0
        self.total = np.zeros(bins, dtype=np.float64)
        self.squares = np.zeros(bins, dtype=np.float64)

    def add(self, features: np.ndarray) -> None:
        self.count += len(features)
        self.total += features.sum(axis=0, dtype=np.float64)
        self.squares += np.square(features, dtype=np.float64).sum(axis=0)

    def mean_std(self) -> tuple[np.ndarray, np.ndarray]:
        mean = self.total / max(self.count, 1)
        variance = np.maximum(self.squares / max(self.count, 1) - mean**2, 0.0)
        return mean, np.sqrt(variance + VARIANCE_EPSILON)


@dataclass(frozen=True)
class SpecAugment:
    """Frequency and time masks (Park et al. 2019; their LibriSpeech "LD" policy has 2 + 2 masks, F = 27, T = 100)."""

    freq_masks: int = 2
    freq_mask_bins: int = 27
    time_masks: int = 2
    time_mask_frames: int = 100
    time_mask_ratio: float = 0.2  # no time mask is longer than this share of the utterance

    def problem(self, setting: str) -> str | None:
        """What is wrong with these settings (None: they are usable); `setting` prefixes each knob's name."""
        counts = {"freq_masks": self.freq_masks, "freq_mask_bins": self.freq_mask_bins,
                  "time_masks": self.time_masks, "time_mask_frames": self.time_mask_frames}
        for name, value in counts.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                return f"{setting}{name} must be a whole number >= 0, got {value!r}"
        ratio = self.time_mask_ratio
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 <= ratio:
            return f"{setting}time_mask_ratio must be a number >= 0, got {ratio!r}"
        if self.time_masks * ratio >= 1:
            return (f"{setting}time_masks x {setting}time_mask_ratio is {self.time_masks * ratio:g}: it must stay"
                    " below 1 so that some of every utterance is left unmasked")
        return None

    @property
    def masks_anything(self) -> bool:
        return (self.freq_masks > 0 and self.freq_mask_bins > 0) or (
            self.time_masks > 0 and self.time_mask_frames > 0 and self.time_mask_ratio > 0)

    def apply(self, features: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A masked copy of `features` (frames, bins): every width in [0, max] and every start uniformly drawn."""
        out = np.array(features, dtype=np.float32)
        frames, bins = out.shape
        for _ in range(self.freq_masks):
            width = int(rng.integers(0, min(self.freq_mask_bins, bins) + 1))
            start = int(rng.integers(0, bins - width + 1))
            out[:, start:start + width] = 0.0
        longest = min(self.time_mask_frames, int(self.time_mask_ratio * frames))
        for _ in range(self.time_masks):
            width = int(rng.integers(0, longest + 1))
            start = int(rng.integers(0, frames - width + 1))
            out[start:start + width] = 0.0
        return out
