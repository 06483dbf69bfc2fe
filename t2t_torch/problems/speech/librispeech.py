"""LibriSpeech, 1000 hours of read English audiobooks (Panayotov et al. 2015), with T2T's problem names (ports
T2T's `data_generators/librispeech.py`):

| problem | train | dev | test |
|---|---|---|---|
| `librispeech` (960 h) | train-clean-100, -clean-360, -other-500 | dev-clean, dev-other | test-clean, test-other |
| `librispeech_clean` (460 h) | train-clean-100, -clean-360 | dev-clean | test-clean |
| `librispeech_clean_small` (100 h) | train-clean-100 | dev-clean | test-clean |
| `librispeech_noisy` (500 h) | train-other-500 | dev-other | test-other |
| `librispeech_train_full_test_clean` | as `librispeech` | dev-clean | test-clean |
| `librispeech_train_full_test_other` | as `librispeech` | dev-other | test-other |

Sources: the OpenSLR archives (`https://www.openslr.org/resources/12/<subset>.tar.gz`, their sha256 checked as
torchaudio's `datasets.LIBRISPEECH` checks them), downloaded into `data_dir/downloads/` and unpacked there to
`LibriSpeech/<subset>/`; or, offline, `problem.data_files={root: <folder>}` with the folder holding
`LibriSpeech/<subset>/` or `<subset>/` for every subset the problem reads. A subset is
`<speaker>/<chapter>/<speaker>-<chapter>-<utterance>.flac` with one `<speaker>-<chapter>.trans.txt` per chapter of
`<utterance id> TRANSCRIPT` lines (upper case, as T2T trained on them), read by speech_folder.py's folder reader.

The features of a split are cached under `data_dir/librispeech/`, shared by the problems that read the same subsets
with the same settings (`librispeech_clean` and `librispeech_clean_small` share dev and test). A download is named
by its archives' checksums; local folders by the sha256 of every file (hashed once, then remembered by stat).
"""

from __future__ import annotations

import os
import shutil
import tarfile
from pathlib import Path
from typing import Any, ClassVar

from filelock import FileLock

from t2t_torch.errors import T2TUserError
from t2t_torch.problems.sources.data_files import data_files_root
from t2t_torch.problems.sources.downloads import DOWNLOADS
from t2t_torch.problems.speech.speech_folder import read_folder
from t2t_torch.problems.speech.speech_problem import SERVE_TIME_KEYS, Listing, SpeechRecognitionProblem
from t2t_torch.registry import register_problem_variant

OPENSLR_URL = "https://www.openslr.org/resources/12/"
# sha256 of each OpenSLR archive (the values torchaudio.datasets.librispeech checks).
ARCHIVE_SHA256 = {
    "dev-clean": "76f87d090650617fca0cac8f88b9416e0ebf80350acb97b343a85fa903728ab3",
    "dev-other": "12661c48e8c3fe1de2c1caa4c3e135193bfb1811584f11f569dd12645aa84365",
    "test-clean": "39fde525e59672dc6d1551919b1478f724438a95aa55f874b576be21967e6c23",
    "test-other": "d09c181bba5cf717b3dee7d4d592af11a3ee3a09e08ae025c5506f6ebe961c29",
    "train-clean-100": "d4ddd1d5a6ab303066f14971d768ee43278a5f2a0aa43dc716b0e64ecbbbf6e2",
    "train-clean-360": "146a56496217e96c14334a160df97fffedd6e0a04e66b9c5af0d40be3c792ecf",
    "train-other-500": "ddb22f27f96ec163645d53215559df6aa36515f26e01dd70798188350adcb6d2",
}
TRAIN_FULL = ("train-clean-100", "train-clean-360", "train-other-500")
ARCHIVE_FOLDER = "LibriSpeech"  # what every archive unpacks to


class LibrispeechProblem(SpeechRecognitionProblem):
    """LibriSpeech subsets per split: the OpenSLR download or `data_files={root: <folder>}`."""

    train_subsets: ClassVar[tuple[str, ...]] = TRAIN_FULL
    dev_subsets: ClassVar[tuple[str, ...]] = ("dev-clean", "dev-other")
    test_subsets: ClassVar[tuple[str, ...]] = ("test-clean", "test-other")
    data_files: ClassVar[Any] = None  # {root: <folder with LibriSpeech/<subset>/>}: read it instead of downloading
    config_keys = ("data_files", *SpeechRecognitionProblem.config_keys)
    serve_time_keys = ("data_files", *SERVE_TIME_KEYS)  # local files count by their content

    def __init__(self, was_reversed: bool = False, **config: Any) -> None:
        super().__init__(was_reversed, **config)
        self.local_root()  # a malformed setting fails now, before any work

    def subsets(self, split: str) -> tuple[str, ...]:
        return {"train": self.train_subsets, "dev": self.dev_subsets, "test": self.test_subsets}[split]

    def needed_subsets(self) -> list[str]:
        return list(dict.fromkeys(s for split in self.splits for s in self.subsets(split)))

    def local_root(self) -> Path | None:
        """The folder of `data_files`, or None when the problem downloads."""
        return data_files_root(self, f"folder holding {ARCHIVE_FOLDER}/{self.train_subsets[0]}/, ...")

    def cache_dir(self, data_dir: str | Path) -> Path:
        return Path(data_dir) / "librispeech"  # shared: a split's cache is keyed by its subsets, not the problem

    def cache_key(self, split: str) -> list[Any]:
        return ["librispeech", list(self.subsets(split))]

    def subsets_folder(self, data_dir: Path) -> Path:
        """The folder holding `<subset>/` folders."""
        local = self.local_root()
        if local is None:
            return data_dir / DOWNLOADS / ARCHIVE_FOLDER
        return local / ARCHIVE_FOLDER if (local / ARCHIVE_FOLDER).is_dir() else local

    def prepare_sources(self, data_dir: Path) -> None:
        folder = self.subsets_folder(data_dir)
        missing = [s for s in self.needed_subsets() if not (folder / s).is_dir()]
        if self.local_root() is not None:
            if missing:
                raise T2TUserError(f"problem.data_files root '{self.local_root()}' of {self.name} has no"
                                   f" {', '.join(missing)} (neither in it nor in its {ARCHIVE_FOLDER}/): unpack the"
                                   f" OpenSLR archives of those subsets there ({OPENSLR_URL})")
            return
        for subset in missing:
            self.download_subset(subset, data_dir / DOWNLOADS)

    def download_subset(self, subset: str, downloads: Path) -> None:
        """Download `<subset>.tar.gz` (its sha256 checked) and unpack it to `LibriSpeech/<subset>/`, which appears
        only once complete; under a lock shared by processes."""
        downloads.mkdir(parents=True, exist_ok=True)
        target = downloads / ARCHIVE_FOLDER / subset
        with FileLock(str(downloads / f".{subset}.lock")):
            if target.is_dir():
                return
            archive = downloads / f"{subset}.tar.gz"
            if not archive.is_file():
                self.fetch(OPENSLR_URL + archive.name, archive, ARCHIVE_SHA256[subset])
            staging = downloads / f".{subset}.unpacking"
            shutil.rmtree(staging, ignore_errors=True)
            try:
                with tarfile.open(archive, "r:gz") as tar:
                    tar.extractall(staging, filter="data")
            except (tarfile.TarError, OSError, EOFError) as error:
                raise T2TUserError(f"cannot unpack {archive} ({error}): delete it to download it again") from None
            unpacked = staging / ARCHIVE_FOLDER / subset
            if not unpacked.is_dir():
                raise T2TUserError(f"{archive} holds no {ARCHIVE_FOLDER}/{subset}/: delete it to download it again")
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(unpacked, target)
            shutil.rmtree(staging, ignore_errors=True)

    def fetch(self, url: str, archive: Path, sha256: str) -> None:
        import torch.hub

        try:
            torch.hub.download_url_to_file(url, str(archive), hash_prefix=sha256, progress=True)
        except (OSError, RuntimeError) as error:  # URLError is an OSError; a checksum mismatch a RuntimeError
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise T2TUserError(f"could not download {url} ({reason}): without internet, unpack the archives"
                               f" elsewhere and pass problem.data_files={{root: <folder holding"
                               f" {ARCHIVE_FOLDER}/<subset>/>}}") from None

    def utterances(self, split: str, data_dir: Path) -> Listing:
        folder = self.subsets_folder(data_dir)
        utterances, skipped = [], []
        for subset in self.subsets(split):
            listing = read_folder(folder, folder / subset, self.skip_bad_audio, f"LibriSpeech {subset}")
            utterances += listing.utterances
            skipped += listing.skipped
        return Listing(folder, tuple(utterances), tuple(skipped))

    def source_identity(self, split: str, data_dir: Path) -> Any:
        if self.local_root() is None:  # a download is named by the checksums of its archives
            return ["openslr", [ARCHIVE_SHA256[subset] for subset in self.subsets(split)]]
        return super().source_identity(split, data_dir)


# T2T's LibriSpeech problems, one registration each: which subsets are train, dev and test.
for _name, _train, _dev, _test, _doc in (
    ("librispeech", TRAIN_FULL, ("dev-clean", "dev-other"), ("test-clean", "test-other"),
     "LibriSpeech 960 h: every train subset; dev and test are clean + other (T2T's librispeech)."),
    ("librispeech_clean", ("train-clean-100", "train-clean-360"), ("dev-clean",), ("test-clean",),
     "LibriSpeech 460 h of clean speech: train-clean-100 + 360, dev-clean, test-clean."),
    ("librispeech_clean_small", ("train-clean-100",), ("dev-clean",), ("test-clean",),
     "LibriSpeech 100 h: train-clean-100, dev-clean, test-clean."),
    ("librispeech_noisy", ("train-other-500",), ("dev-other",), ("test-other",),
     "LibriSpeech 500 h of harder speech: train-other-500, dev-other, test-other."),
    ("librispeech_train_full_test_clean", TRAIN_FULL, ("dev-clean",), ("test-clean",),
     "LibriSpeech 960 h training, evaluated on the clean dev and test sets."),
    ("librispeech_train_full_test_other", TRAIN_FULL, ("dev-other",), ("test-other",),
     "LibriSpeech 960 h training, evaluated on the other (harder) dev and test sets."),
):
    register_problem_variant(_name, LibrispeechProblem, _doc, train_subsets=_train, dev_subsets=_dev,
                             test_subsets=_test)
