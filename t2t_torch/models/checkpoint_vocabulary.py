"""A checkpoint's vocabulary: pinned by sha256 and stored inside the checkpoint.

`T2TModule` records `vocab_hashes` (feature -> sha256 of its vocabulary file, `Problem.vocab_hashes`) as a
hyper-parameter and, on every save, stores the text of those files under the top-level checkpoint key
`t2t_vocabularies` (sha256 -> {"file": name, "text": the file's JSON}). It is not a hyper-parameter because Lightning
also writes those into hparams.yaml and TensorBoard. Consumers:

- decoding prefers the stored vocabulary (its sha256 checked against the recorded one), so a checkpoint decodes
  after its data_dir is gone;
- a vocabulary file in a data_dir is used only when its sha256 is the recorded one: resume and decoding refuse
  another in one line naming both files (a vocabulary rebuilt under the same name would give garbage).

Checkpoints written before vocabularies were recorded (no `vocab_hashes`) are accepted with a warning, since
nothing can be checked.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from t2t_torch.errors import T2TUserError
from t2t_torch.text import EncoderFileError, TextEncoder, load_encoder

log = logging.getLogger(__name__)

VOCABULARIES_KEY = "t2t_vocabularies"


class Problem(Protocol):
    """What this module reads of a problem (`t2t_torch.problems.problem.Problem`; models do not import the data
    package)."""

    name: str

    def served_vocab_files(self, data_dir: str | Path) -> dict[str, Path]: ...


def served_vocab_files(problem: Problem, data_dir: str | Path) -> dict[str, Path]:
    """The vocabulary file of each feature as served (swapped for `_rev`): `Problem.served_vocab_files`."""
    return problem.served_vocab_files(Path(data_dir).expanduser())


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_vocabularies(problem: Problem, data_dir: str | Path, recorded: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """What a checkpoint stores under VOCABULARIES_KEY: each vocabulary file's text keyed by its sha256; a file whose
    sha256 is not the recorded one (rebuilt since the module was built) is refused."""
    stored: dict[str, dict[str, str]] = {}
    for feature, path in served_vocab_files(problem, data_dir).items():
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest != recorded.get(feature):
            raise T2TUserError(f"vocabulary '{path}' changed after the model was built (sha256 {digest[:12]}, recorded"
                               f" {str(recorded.get(feature))[:12]}): run the command again")
        stored[digest] = {"file": path.name, "text": data.decode("utf-8")}
    return stored


def vocab_file_mismatch(checkpoint_path: str | Path, recorded: Mapping[str, str] | None, problem: Problem,
                        data_dir: str | Path | None) -> str | None:
    """Why the vocabulary files of `problem` in `data_dir` are not the ones the checkpoint recorded (naming both
    files), else None. Missing files are left to whoever loads them; unrecorded hashes cannot be checked."""
    if data_dir is None or recorded is None:
        return None
    for feature, path in served_vocab_files(problem, data_dir).items():
        if path.is_file() and (digest := file_sha256(path)) != recorded.get(feature):
            return (f"vocabulary '{path}' is not the one checkpoint '{checkpoint_path}' was trained with (sha256"
                    f" {digest[:12]}, recorded {str(recorded.get(feature))[:12]})")
    return None


def check_vocab_files(checkpoint_path: str | Path, recorded: Mapping[str, str] | None, problem: Problem,
                      data_dir: str | Path | None, fix: str) -> None:
    """Refuse, in one line ending in `fix`, vocabulary files that differ from the recorded ones; warn when the
    checkpoint records none although the problem has vocabulary files (a checkpoint from before the record)."""
    if recorded is None and data_dir is not None and served_vocab_files(problem, data_dir):
        log.warning("checkpoint '%s' records no vocabulary hashes (written by an older t2t-torch): its vocabulary in"
                    " '%s' cannot be checked", checkpoint_path, data_dir)
    mismatch = vocab_file_mismatch(checkpoint_path, recorded, problem, data_dir)
    if mismatch:
        raise T2TUserError(f"{mismatch}: {fix}")


def stored_encoders(stored: Mapping[str, Any] | None, recorded: Mapping[str, str] | None,
                    path: str | Path | None) -> dict[str, TextEncoder] | None:
    """The encoder of each feature (as served) from the vocabularies a checkpoint stores (`stored`, its
    VOCABULARIES_KEY entry), each checked against the `recorded` sha256; None when it stores none."""
    if not stored or not recorded:
        return None
    encoders: dict[str, TextEncoder] = {}
    with tempfile.TemporaryDirectory(prefix="t2t-vocab-") as folder:
        for feature, digest in recorded.items():
            entry = stored.get(digest)
            data = entry.get("text", "").encode("utf-8") if isinstance(entry, Mapping) else b""
            if hashlib.sha256(data).hexdigest() != digest:
                raise T2TUserError(f"checkpoint '{path}' does not store the {feature} vocabulary it recorded (sha256"
                                   f" {digest[:12]}): is it corrupt? pass another checkpoint")
            file = Path(folder) / f"{feature}.json"  # load_encoder reads files; the text is already verified
            file.write_bytes(data)
            try:
                encoders[feature] = load_encoder(file)
            except EncoderFileError as error:
                raise T2TUserError(f"checkpoint '{path}' stores an unreadable {feature} vocabulary ({error})") from None
    return encoders
