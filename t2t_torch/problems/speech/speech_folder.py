"""Speech recognition from a local folder of recordings: `speech_folder`, `SpeechFolderProblem` (the base a user
subclasses to register a corpus of their own), and the two listing formats it reads, which `librispeech` reuses (no
T2T counterpart: T2T's speech problems each wrote a generator; this is the speech twin of `image_folder`).

    python train.py problem=speech_folder 'problem.data_files={root: ~/my_recordings}' model=transformer ...

`problem.data_files={root: <folder>}` takes, per split (train, dev, and test when present), `<folder>/<split>.tsv`
or else the folder `<folder>/<split>/`; `{train: <tsv or folder>, dev: ..., test: ...}` names them one by one.

- A manifest (`.tsv`): one `<audio path><TAB><transcript>` line per utterance, paths relative to the manifest's
  folder (or absolute); a first line `path<TAB>text` is a header.
- A folder: audio files (.wav, .flac, .ogg, .mp3; subfolders too) and transcript files among them, named
  `transcripts.txt`, `transcription` or `*.trans.txt` (LibriSpeech's). Each line gives the transcript of the audio
  file of that name (without its extension) in the transcript's folder, as `<utt-id> TEXT` (Kaldi, LibriSpeech), or
  as `TEXT (utt-id)` with optional `<s>` `</s>` markers (CMU Sphinx, e.g. pocketsphinx-testdata's LibriVox clips) —
  the second when every line of the file ends in `(utt-id)`.

Transcripts are stripped and their spaces collapsed, case kept. Bad input is one line naming the file and the fix:
a split without utterances, a folder without a transcript file, a manifest line without a TAB, an audio file no
transcript names, a transcript line naming a file that does not exist, an empty or repeated transcript; with
`skip_bad_audio=true` the utterance is left out instead (counted and logged, as bad audio is: speech.py).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

from t2t_torch.errors import T2TUserError
from t2t_torch.problems.speech.speech_problem import SERVE_TIME_KEYS, Listing, SpeechRecognitionProblem, Utterance
from t2t_torch.registry import register_problem

SPLIT_KEYS = ("train", "dev", "test")
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")
TRANSCRIPT_NAMES = ("transcripts.txt", "transcription")
TRANSCRIPT_SUFFIX = ".trans.txt"
MANIFEST_HEADER = "path\ttext"
SPHINX_LINE = re.compile(r"^(?P<text>.*?)\s*\((?P<id>[^()\s]+)\)\s*$")
SPHINX_MARKERS = ("<s>", "</s>")
SKIP_HINT = "or pass problem.skip_bad_audio=true to leave such utterances out"


def clean_text(text: str) -> str:
    return " ".join(text.split())


class ListingErrors:
    """Collects what is wrong with a listing: raised at once, or kept as skips with `skip_bad_audio`."""

    def __init__(self, skip: bool) -> None:
        self.skip = skip
        self.skipped: list[str] = []

    def add(self, message: str) -> None:
        if not self.skip:
            raise T2TUserError(f"{message}, {SKIP_HINT}")
        self.skipped.append(message)


def read_lines(path: Path, setting: str) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise T2TUserError(f"{setting} file '{path}' is not UTF-8 text ({error.reason} at byte {error.start}):"
                           " save it as UTF-8") from None
    except OSError as error:
        raise T2TUserError(f"cannot read {setting} file '{path}' ({error.strerror}): fix the path") from None


def transcript_lines(path: Path) -> Iterator[tuple[int, str, str]]:
    """(line number, utterance id, text) of each non-empty line of a transcript file, in either format."""
    lines = [(number, line.strip()) for number, line in enumerate(read_lines(path, "transcript"), start=1)]
    lines = [(number, line) for number, line in lines if line]
    sphinx = bool(lines) and all(SPHINX_LINE.match(line) for _, line in lines)
    for number, line in lines:
        if sphinx:
            match = SPHINX_LINE.match(line)
            words = [w for w in match["text"].split() if w not in SPHINX_MARKERS]
            yield number, match["id"], " ".join(words)
        else:
            utt_id, _, text = line.partition(" ")
            yield number, utt_id, clean_text(text)


def read_manifest(path: Path, skip: bool, setting: str) -> Listing:
    """The utterances of a `path<TAB>text` manifest, audio paths relative to its folder."""
    errors, utterances = ListingErrors(skip), []
    for number, line in enumerate(read_lines(path, setting), start=1):
        if not line.strip() or (number == 1 and line.strip().lower() == MANIFEST_HEADER):
            continue
        where = f"{path} line {number}"
        if "\t" not in line:
            raise T2TUserError(f"{where} has no TAB: each line of a manifest is <audio path><TAB><transcript>")
        audio, text = line.split("\t", 1)
        audio, text = audio.strip(), clean_text(text)
        if not (path.parent / audio).is_file():
            errors.add(f"{where} names {path.parent / audio}, which does not exist: fix the path (relative to"
                       f" {path.parent}) or add the file")
        elif not text:
            errors.add(f"{where} gives {audio} an empty transcript: write its text after the TAB")
        else:
            utterances.append(Utterance(audio, text, where))
    return Listing(path.parent, tuple(utterances), tuple(errors.skipped))


def read_folder(root: Path, folder: Path, skip: bool, setting: str) -> Listing:
    """The utterances of the audio and transcript files under `folder`, audio paths relative to `root`."""
    if not folder.is_dir():
        raise T2TUserError(f"{setting} folder '{folder}' does not exist: point it at a folder of audio files with a"
                           " transcripts.txt (or at a <audio path><TAB><transcript> manifest .tsv)")
    audio: dict[str, str] = {}  # relative path without extension -> relative path
    transcripts: list[Path] = []
    for current, subfolders, files in os.walk(folder):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        for name in sorted(files):
            path = Path(current) / name
            if name.lower().endswith(AUDIO_EXTENSIONS):
                relative = path.relative_to(root).as_posix()
                audio.setdefault(relative.rsplit(".", 1)[0], relative)
            elif name in TRANSCRIPT_NAMES or name.endswith(TRANSCRIPT_SUFFIX):
                transcripts.append(path)
    if not transcripts:
        raise T2TUserError(f"{setting} folder '{folder}' holds {len(audio)} audio files but no transcript file: add a"
                           " transcripts.txt with one '<file name without extension> TEXT' line per file")
    errors, utterances, listed = ListingErrors(skip), [], {}
    for transcript in transcripts:
        for number, utt_id, text in transcript_lines(transcript):
            where = f"{transcript} line {number}"
            key = os.path.relpath(transcript.parent / utt_id, root).replace(os.sep, "/")
            if key in listed:
                errors.add(f"{where} repeats the transcript of '{utt_id}' ({listed[key]}): keep one of the lines")
            elif key not in audio:
                errors.add(f"{where} names '{utt_id}', but {transcript.parent} has no {utt_id}"
                           f"{'/'.join(AUDIO_EXTENSIONS)}: fix the line or add the file")
            elif not text:
                errors.add(f"{where} gives '{utt_id}' an empty transcript: write its text")
            else:
                utterances.append(Utterance(audio[key], text, where))
            listed.setdefault(key, where)
    for key, relative in audio.items():
        if key not in listed:
            errors.add(f"{root / relative} has no transcript: add a line '{Path(key).name} TEXT' to a transcripts.txt"
                       " in its folder, or remove the file")
    return Listing(root, tuple(sorted(utterances, key=lambda u: u.audio)), tuple(errors.skipped))


class SpeechFolderProblem(SpeechRecognitionProblem):
    """Recordings and transcripts in a local folder or manifests (see the module docstring)."""

    data_files: ClassVar[Any] = None  # {root: <folder>} or {train: <tsv or folder>, dev: ..., test: ...}
    config_keys = ("data_files", *SpeechRecognitionProblem.config_keys)
    serve_time_keys = ("data_files", *SERVE_TIME_KEYS)  # the recordings count by their content instead

    def __init__(self, was_reversed: bool = False, **config: Any) -> None:
        super().__init__(was_reversed, **config)
        self.sources = self.split_sources()
        self.splits = tuple(split for split in SPLIT_KEYS if split in self.sources) or ("train", "dev")

    def split_sources(self) -> dict[str, Path]:
        """{split: its manifest or folder} from `data_files` ({} when it is not set)."""
        files = self.data_files
        if files is None:
            return {}
        if not isinstance(files, Mapping) or not files or not (set(files) == {"root"} or set(files) <= set(SPLIT_KEYS)):
            raise T2TUserError(f"problem.data_files of {self.name} must be {{root: <folder with train/ and dev/ or"
                               f" train.tsv and dev.tsv>}} or {{train: <tsv or folder>, dev: ...}} (test: optional),"
                               f" got {files!r}")
        if set(files) != {"root"}:
            if not {"train", "dev"} <= set(files):
                raise T2TUserError(f"problem.data_files of {self.name} names {', '.join(files)}: give both train and"
                                   " dev (a manifest .tsv or a folder each), or {root: <folder>}")
            return {split: Path(str(files[split])).expanduser() for split in SPLIT_KEYS if split in files}
        root = Path(str(files["root"])).expanduser()
        sources = {}
        for split in SPLIT_KEYS:
            manifest = root / f"{split}.tsv"
            sources[split] = manifest if manifest.is_file() else root / split
        if not sources["test"].exists():
            del sources["test"]
        return sources

    def source(self, split: str) -> Path:
        if not self.sources:
            raise T2TUserError(f"problem {self.name} reads your recordings: pass problem.data_files={{root: <folder"
                               " with train/ and dev/ (audio files + transcripts.txt) or train.tsv and dev.tsv>}")
        return self.sources[split]

    def utterances(self, split: str, data_dir: Path) -> Listing:
        source, setting = self.source(split), f"problem.data_files {split}"
        if source.suffix == ".tsv" or source.is_file():
            if not source.is_file():
                raise T2TUserError(f"{setting} manifest '{source}' does not exist: fix the path")
            return read_manifest(source, self.skip_bad_audio, setting)
        return read_folder(source, source, self.skip_bad_audio, setting)


@register_problem()
class SpeechFolder(SpeechFolderProblem):
    """Your recordings: train/ and dev/ folders of audio + transcripts.txt, or path<TAB>text manifests."""
