"""Tiny offline stand-ins, in the real source formats, for the speech problems (all of which read recordings from
outside the package). Audio is numpy tones and noise written with soundfile; no speech synthesis is needed.
`offline_config(name, folder)` writes them and returns the `problem.<key>` settings that make the problem read them:

- `speech_folder`: train/ (FLAC, with a `transcripts.txt` of `<utt-id> TEXT` lines), dev/ (WAV, with a Sphinx-style
  `transcription` of `TEXT (utt-id)` lines, as pocketsphinx-testdata's LibriVox clips) and a `test.tsv` manifest.
- `common_voice`: a release's language folder, `clips/*.mp3` at 48 kHz and train/dev/test.tsv with its header.
- `librispeech*`: `LibriSpeech/<subset>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac` with one
  `<speaker>-<chapter>.trans.txt` per chapter, for every subset the problem reads.

Clips last 0.3-0.5 s (28-48 frames), under the 64-frame batches of the registry's problem tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

SAMPLE_RATE = 16000
WORDS = ("one", "two", "three", "four", "five", "six", "seven", "eight")
FOLDER_COUNTS = {"train": 6, "dev": 2, "test": 2}


def tone(seconds: float, seed: int, rate: int = SAMPLE_RATE, channels: int = 1) -> np.ndarray:
    """A sine whose pitch is set by `seed`, plus a little noise: float32 (n,) or (n, channels)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    wave = 0.3 * np.sin(2 * np.pi * (200 + 40 * (seed % 10)) * t) + 0.01 * rng.standard_normal(len(t))
    wave = wave.astype(np.float32)
    return wave if channels == 1 else np.stack([wave] * channels, axis=1)


def sentence(index: int) -> str:
    return " ".join(WORDS[(index + k) % len(WORDS)] for k in range(1 + index % 3))


def write_audio(path: Path, seed: int, seconds: float | None = None, rate: int = SAMPLE_RATE) -> Path:
    import soundfile

    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), tone(seconds or 0.3 + 0.05 * (seed % 5), seed, rate), rate)
    return path


def write_speech_folder(root: Path, counts: dict[str, int] = FOLDER_COUNTS) -> dict[str, list[str]]:
    """train/ (flac + transcripts.txt), dev/ (wav + Sphinx `transcription`), test.tsv; returns split -> texts."""
    texts: dict[str, list[str]] = {}
    for offset, split in enumerate(counts):
        texts[split] = [sentence(10 * offset + i) for i in range(counts[split])]
        ids = [f"{split}_{i:03d}" for i in range(counts[split])]
        seeds = [100 * offset + i for i in range(counts[split])]
        if split == "train":
            for utt, seed in zip(ids, seeds, strict=True):
                write_audio(root / "train" / f"{utt}.flac", seed)
            lines = [f"{utt} {text}" for utt, text in zip(ids, texts[split], strict=True)]
            (root / "train" / "transcripts.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        elif split == "dev":
            for utt, seed in zip(ids, seeds, strict=True):
                write_audio(root / "dev" / f"{utt}.wav", seed)
            lines = [f"<s> {text} </s> ({utt})" for utt, text in zip(ids, texts[split], strict=True)]
            (root / "dev" / "transcription").write_text("\n".join(lines) + "\n", encoding="utf-8")
        else:
            for utt, seed in zip(ids, seeds, strict=True):
                write_audio(root / "clips" / f"{utt}.ogg", seed)
            lines = [f"clips/{utt}.ogg\t{text}" for utt, text in zip(ids, texts[split], strict=True)]
            (root / f"{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return texts


def write_librispeech(root: Path, subsets: list[str], per_subset: int = 2) -> Path:
    """LibriSpeech/<subset>/ trees of `per_subset` utterances each (one speaker and chapter per subset)."""
    for number, subset in enumerate(subsets):
        speaker, chapter = 100 + number, 2000 + number
        folder = root / "LibriSpeech" / subset / str(speaker) / str(chapter)
        lines = []
        for utt in range(per_subset):
            utt_id = f"{speaker}-{chapter}-{utt:04d}"
            write_audio(folder / f"{utt_id}.flac", 10 * number + utt)
            lines.append(f"{utt_id} {sentence(number + utt).upper()}")
        (folder / f"{speaker}-{chapter}.trans.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


CV_HEADER = "client_id\tpath\tsentence_id\tsentence\tsentence_domain\tup_votes\tdown_votes\tage\tgender\taccents"


def write_common_voice(root: Path, counts: dict[str, int] = FOLDER_COUNTS, rate: int = 48000) -> dict[str, list[str]]:
    """A Common Voice release's language folder: clips/*.mp3 (48 kHz, as released) and train/dev/test.tsv with the
    release's header; returns split -> sentences."""
    texts: dict[str, list[str]] = {}
    for offset, split in enumerate(counts):
        rows, texts[split] = [], []
        for i in range(counts[split]):
            clip, text = f"common_voice_en_{100 * offset + i}.mp3", sentence(10 * offset + i).capitalize() + "."
            write_audio(root / "clips" / clip, 100 * offset + i, rate=rate)
            rows.append(f"c{i:04x}\t{clip}\t{offset}{i}\t{text}\t\t2\t0\t\t\t")
            texts[split].append(text)
        (root / f"{split}.tsv").write_text("\n".join([CV_HEADER, *rows]) + "\n", encoding="utf-8")
    return texts


def offline_config(name: str, folder: Path) -> dict[str, Any] | None:
    """Settings under which the speech problem `name` prepares from tiny local files in `folder`; None for a
    problem of another family."""
    from t2t_torch import registry
    from t2t_torch.problems.speech.common_voice import CommonVoice
    from t2t_torch.problems.speech.librispeech import LibrispeechProblem
    from t2t_torch.problems.speech.speech_folder import SpeechFolderProblem

    cls = registry.problem_class(name)
    if issubclass(cls, SpeechFolderProblem):
        write_speech_folder(folder / "speech")
        return {"data_files": {"root": str(folder / "speech")}}
    if issubclass(cls, CommonVoice):
        write_common_voice(folder / "cv-corpus" / "en")
        return {"data_files": {"root": str(folder / "cv-corpus" / "en")}}
    if issubclass(cls, LibrispeechProblem):
        subsets = list(dict.fromkeys([*cls.train_subsets, *cls.dev_subsets, *cls.test_subsets]))
        write_librispeech(folder / "librispeech", subsets)
        return {"data_files": {"root": str(folder / "librispeech")}}
    return None
