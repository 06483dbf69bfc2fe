"""Mozilla Common Voice, read from a release you downloaded (ports T2T's `data_generators/common_voice.py`, whose
`common_voice` problem read the v1 tarball's cv-valid-train/dev/test CSVs).

    python train.py problem=common_voice 'problem.data_files={root: ~/cv-corpus-17.0-2024-03-15/en}' \
        model=transformer hparams=transformer_librispeech hparams.model.ctc_weight=0.3

A Common Voice release (https://commonvoice.mozilla.org/datasets: one archive per language, after accepting its
terms, so nothing downloads here) unpacks to `cv-corpus-<version>/<language>/` with `clips/*.mp3` and TAB-separated
split files whose header names the columns (`client_id path sentence up_votes ...`). `common_voice` reads
`train.tsv`, `dev.tsv` and `test.tsv` (the release's own split of validated clips, by speaker). T2T's
`common_voice_clean`, `_noisy` and `_train_full_test_clean` chose between v1's "valid" and "other" clips, which later
releases no longer split that way; they are not ported. MP3 is read with soundfile (libsndfile 1.1+) and resampled
from 48 kHz to 16 kHz.

Why not Hugging Face `datasets`: the Hub's `mozilla-foundation/common_voice_*` datasets are loading scripts, which
`datasets` 4 and later no longer run, and they are gated behind a login.

Bad input is one line naming the file (a split file without `path` and `sentence` columns, a row naming a clip that
is not in `clips/`, an empty sentence), or with `problem.skip_bad_audio=true` a counted skip, as for every speech
problem (speech.py).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, ClassVar

from t2t_torch.errors import T2TUserError
from t2t_torch.problems.sources.data_files import data_files_root
from t2t_torch.problems.speech.speech_folder import ListingErrors, clean_text
from t2t_torch.problems.speech.speech_problem import SERVE_TIME_KEYS, Listing, SpeechRecognitionProblem, Utterance
from t2t_torch.registry import register_problem

SPLIT_FILES = {"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"}
COLUMNS = ("path", "sentence")
RELEASES = "https://commonvoice.mozilla.org/datasets"


@register_problem()
class CommonVoice(SpeechRecognitionProblem):
    """Common Voice: a release's train.tsv / dev.tsv / test.tsv and clips/, from `problem.data_files={root: ...}`."""

    data_files: ClassVar[Any] = None  # {root: <cv-corpus-<version>/<language>>}
    config_keys = ("data_files", *SpeechRecognitionProblem.config_keys)
    serve_time_keys = ("data_files", *SERVE_TIME_KEYS)  # the clips count by their content

    def __init__(self, was_reversed: bool = False, **config: Any) -> None:
        super().__init__(was_reversed, **config)
        self.root = data_files_root(self, "cv-corpus-<version>/<language> folder of a Common Voice release")

    def release_folder(self) -> Path:
        if self.root is None:
            raise T2TUserError(f"problem {self.name} reads a Common Voice release you downloaded ({RELEASES}, after"
                               " accepting its terms): unpack it and pass problem.data_files={root:"
                               " <cv-corpus-<version>/<language>>}")
        return self.root

    def utterances(self, split: str, data_dir: Path) -> Listing:
        root = self.release_folder()
        path = root / SPLIT_FILES[split]
        if not path.is_file():
            raise T2TUserError(f"{path} does not exist: problem.data_files root must be the language folder of a"
                               f" Common Voice release (holding clips/ and {', '.join(SPLIT_FILES.values())})")
        errors, utterances = ListingErrors(self.skip_bad_audio), []
        with open(path, encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise T2TUserError(f"{path} has no {' and '.join(missing)} column (its header: "
                                   f"{' '.join(reader.fieldnames or []) or 'empty'}): pass a Common Voice split file")
            for number, row in enumerate(reader, start=2):
                where = f"{path} line {number}"
                clip, text = f"clips/{(row.get('path') or '').strip()}", clean_text(row.get("sentence") or "")
                if not (root / clip).is_file():
                    errors.add(f"{where} names {root / clip}, which does not exist: unpack the whole release")
                elif not text:
                    errors.add(f"{where} gives {clip} an empty sentence")
                else:
                    utterances.append(Utterance(clip, text, where))
        return Listing(root, tuple(utterances), tuple(errors.skipped))
