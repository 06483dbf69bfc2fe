"""`Predictor`: a trained model rebuilt from its checkpoint record, loaded once, that predicts for lists of strings
(T2T's `utils/decoding.py`: `decode_from_file` / `decode_interactively`, and `--score_file`).

It dispatches on the model's family: an encoder-decoder decodes each input line (translation, summaries, speech
transcripts from a split's audio); a decoder-only language model continues each line as a prompt (no EOS appended;
`sampling_method=random` with `sampling_temp`, `sampling_keep_top_k`, `sampling_keep_top_p` samples); a classifier
returns the argmax label of each line. `score` gives each (source, target) pair log p(target | source); for a
language model the source is the prompt the target continues, as in decoding, and only the target's tokens are
scored (scoring.py).

Text is encoded with the problem's `feature_encoders` (those stored in the checkpoint first), then searched as
`search.py` says: longest first in batches, outputs put back in input order, T2T's decode hparams
(`DecodeConfig`, decode_config.py). Every input line gets a defined output: an empty or whitespace-only line (or
one that cannot be encoded) decodes to "" without running the model, and a line longer than the model was trained
on (`max_input_size`, by default the run's `batching.max_length`) is truncated; each kind is counted and reported
once per call as a warning.

    predictor = Predictor.from_checkpoint("outputs/.../checkpoints/last.ckpt")   # data_dir from the run
    predictor.translate(["Hello world.", "Good morning."], beam_size=4, alpha=0.6)   # generation from text
    predictor.translate(["1 0 1"], return_beams=True)   # [["1 0 1", "1 0", ...]], best first
    predictor.generate([[5, 9, 1]], DecodeConfig())      # encoded inputs -> [[(ids, score), ...]]
    predictor.classify_examples([image], batch_size=32)  # a classifier's labels
    predictor.score([("Hello world.", "Hallo Welt.")])   # log p(target | source) per pair

The class was `Translator` in `t2t_torch.inference.translator`, which still re-exports it under the old name.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from t2t_torch.checkpoints.record import CheckpointRecord
from t2t_torch.decoding.scoring import sequence_log_probs
from t2t_torch.errors import T2TUserError
from t2t_torch.inference.decode_config import DecodeConfig
from t2t_torch.inference.scoring import continuation, prompted_log_probs
from t2t_torch.inference.search import decode_scored
from t2t_torch.metrics.decode_scores import DEFAULT_TEXT_METRICS
from t2t_torch.modalities import modality_class
from t2t_torch.models.checkpoint_vocabulary import check_vocab_files, vocab_file_mismatch
from t2t_torch.models.family import Family
from t2t_torch.problems.problem import Problem
from t2t_torch.spec import EOS_ID, ProblemSpec

log = logging.getLogger(__name__)


@dataclass
class DecodeStats:
    """What the last `translate` call saw; the CLI prints these."""

    lines: int = 0
    empty: int = 0  # empty or whitespace-only: "" without decoding
    unencodable: int = 0  # the input encoder rejected the line: "" without decoding
    truncated: int = 0  # longer than the max input size
    seconds: float = 0.0
    first_unencodable: str = field(default="", repr=False)

    def warn(self, max_input_size: int) -> None:
        if self.empty:
            log.warning("%d of %d input lines were empty or whitespace only: their outputs are empty",
                        self.empty, self.lines)
        if self.unencodable:
            log.warning("%d of %d input lines could not be encoded (first: %s): their outputs are empty",
                        self.unencodable, self.lines, self.first_unencodable)
        if self.truncated:
            log.warning("%d of %d input lines were longer than %d tokens and were truncated "
                        "(decode.max_input_size)", self.truncated, self.lines, max_input_size)


def resolve_device(device: str | torch.device) -> torch.device:
    """"auto" -> cuda when available, else cpu; anything else as torch.device."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class Predictor:
    """A model, its problem's text encoders and decoding settings, ready to predict for lists of strings: generation
    (`translate`, `translate_scored`, `generate`), classification (`classify`, `classify_examples`) and scoring
    (`score`)."""

    def __init__(self, model: nn.Module, encoders: Mapping[str, Any], spec: ProblemSpec, max_input_length: int,
                 device: str | torch.device = "cpu", problem: Problem | None = None,
                 data_dir: str | Path | None = None) -> None:
        self.device = resolve_device(device)
        self.data_dir = Path(data_dir).expanduser() if data_dir else None  # the problem's prepared data
        self.model = model.to(self.device).eval()
        self.encoders = dict(encoders)
        self.spec = spec
        self.vocab_size = spec.targets.vocab_size
        self.max_input_length = max_input_length  # tokens, eos included
        self.problem = problem
        self.last_stats = DecodeStats()

    @classmethod
    def from_checkpoint(cls, path: str | Path, data_dir: str | Path | None = None,
                        device: str | torch.device = "cpu") -> Predictor:
        """Rebuild model, problem and encoders from a checkpoint (a file or a sharded directory) alone, all read
        through its `CheckpointRecord`; `data_dir` defaults to the run's."""
        record = CheckpointRecord.load(path, weights=True)
        record.require_model()
        problem = record.problem()
        spec = record.spec
        encoders, data_dir = checked_encoders(record, problem, data_dir or record.data_dir)
        model = record.module().model
        return cls(model, encoders, spec, record.batching.effective_max_length, device, problem, data_dir)

    def translate(self, texts: Sequence[str], config: DecodeConfig | None = None,
                  **options: Any) -> list[str] | list[list[str]]:
        """Translate `texts`; `options` are `DecodeConfig` fields (beam_size=4, alpha=0.6, return_beams=False, ...).

        Returns one string per text, in order, or with `return_beams` one list of `num_beams` strings per text.
        """
        config = (config or DecodeConfig()).replace(**options)
        beams = [[text for text, _ in hypotheses] for hypotheses in self.translate_scored(texts, config)]
        return beams if config.return_beams else [b[0] for b in beams]

    def translate_scored(self, texts: Sequence[str], config: DecodeConfig | None = None,
                         **options: Any) -> list[list[tuple[str, float | None]]]:
        """Every text's `num_beams` hypotheses, best first, as (text, score) (`decode_scored`'s score; None for a
        label and for an input that was not decoded: empty or unencodable)."""
        if isinstance(texts, str):
            raise TypeError("translate takes a list of strings: pass [text] to translate one")
        config = (config or DecodeConfig()).replace(**options)
        started = time.perf_counter()
        max_length = config.max_input_size or self.max_input_length
        sequences, stats = self.encode_inputs(texts, max_length)
        todo = [i for i, ids in enumerate(sequences) if ids is not None]
        beams: list[list[tuple[str, float | None]]] = [[("", None)] * config.num_beams for _ in texts]
        if not self.model.targets_modality.sequence_top:  # a classifier: the most likely label, once per input
            labels = self.classify([sequences[i] for i in todo], config.batch_size)
            beams = [[("", None)] for _ in texts]
            for index, label in zip(todo, labels, strict=True):
                beams[index] = [(label, None)]
        else:
            decoded = self.generate([sequences[i] for i in todo], config)
            targets = self.encoders["targets"]
            prompted = self.model.family == Family.DECODER  # the prompt's ids and the continuation decode as one text
            for index, hypotheses in zip(todo, decoded, strict=True):
                prompt = list(sequences[index]) if prompted else []
                beams[index] = [(targets.decode([*prompt, *ids]), score) for ids, score in hypotheses]
        stats.seconds = time.perf_counter() - started
        stats.warn(max_length)
        self.last_stats = stats
        return beams

    def generate(self, sequences: Sequence[Sequence[Any]], config: DecodeConfig
                 ) -> list[list[tuple[list[int], float]]]:
        """Already-encoded inputs (ids ending in eos, not truncated; a language model's prompts without eos; or
        audio frames) -> per input its hypotheses as (ids, score), best first (`search.decode_scored`)."""
        return decode_scored(self.model, sequences, self.vocab_size, config, self.device)

    decode_ids = generate  # its name when the class was `Translator`

    def score(self, pairs: Sequence[tuple[str, str]], batch_size: int = 32) -> list[float]:
        """Per (source, target) pair, the log-probability of the target given the source (natural log, summed over
        the target's tokens and its eos; T2T's --score_file). For a language model (decoder-only) the source is a
        prompt and the target its continuation (`continuation`): one sequence, of which only the target's tokens are
        scored. Sources longer than the model's max length are truncated as for decoding; a pair that does not
        encode is a one-line error naming it."""
        prompted = self.model.family == Family.DECODER
        sources, stats = self.encode_inputs([source for source, _ in pairs], self.max_input_length)
        targets = []
        for number, ((source, target), ids) in enumerate(zip(pairs, sources, strict=True), start=1):
            try:
                target_ids = self.encoders["targets"].encode(continuation(source, target) if prompted else target)
            except ValueError as error:
                raise T2TUserError(f"pair {number}: the target does not encode ({error})") from None
            if ids is None or not target_ids:
                reason = "it is empty" if not (source.strip() and target_ids) else stats.first_unencodable
                raise T2TUserError(f"pair {number}: the source or the target does not encode ({reason})")
            targets.append([*target_ids, EOS_ID])
        stats.warn(self.max_input_length)
        pad_id = int(self.spec.targets.pad_value)
        if prompted:
            return prompted_log_probs(self.model, sources, targets, pad_id, batch_size, self.device)
        return sequence_log_probs(self.model, sources, targets, pad_id, batch_size, self.device)

    @property
    def is_classifier(self) -> bool:
        return not self.model.targets_modality.sequence_top

    @property
    def decode_metrics(self) -> tuple[str, ...]:
        """What decodes are scored with: the spec's list, else accuracy for labels and BLEU/chrF for text."""
        return self.spec.decode_metrics or (("accuracy",) if self.is_classifier else DEFAULT_TEXT_METRICS)

    def label_name(self, index: int) -> str:
        names = list(self.spec.extra.get("labels") or [])
        return names[index] if index < len(names) else str(index)

    def classify(self, sequences: Sequence[Sequence[int]], batch_size: int) -> list[str]:
        """The most likely label of each encoded input, by name when the spec has `extra["labels"]`."""
        return self.classify_examples([np.asarray(ids, dtype=np.int64) for ids in sequences], batch_size)

    @torch.inference_mode()
    def classify_examples(self, inputs: Sequence[np.ndarray], batch_size: int) -> list[str]:
        """The most likely label of each example's inputs (token ids, an image, ...), collated by their modality."""
        feature = self.spec.inputs
        collate = modality_class(feature.modality).collate
        out: list[str] = []
        for start in range(0, len(inputs), batch_size):
            batch = collate(list(inputs[start:start + batch_size]), feature).to(self.device)
            out += [self.label_name(i) for i in self.model.predict(batch).argmax(-1).tolist()]
        return out

    def encode_inputs(self, texts: Sequence[str], max_length: int) -> tuple[list[list[int] | None], DecodeStats]:
        """Ids ending in eos per text (truncated to `max_length` tokens), None for a text that is not decoded. A
        language model's prompts are encoded with the targets' vocabulary and get no eos (they are continued)."""
        stats = DecodeStats(lines=len(texts))
        prompts = self.model.family == Family.DECODER
        if ("targets" if prompts else "inputs") not in self.encoders:
            raise T2TUserError(f"problem {getattr(self.problem, 'name', '?')} has no text inputs to decode from text:"
                               " decode one of its splits instead (decode.split=dev)")
        encoder = self.encoders["targets" if prompts else "inputs"]
        eos = [] if prompts else [EOS_ID]
        sequences: list[list[int] | None] = []
        for number, text in enumerate(texts, start=1):
            try:
                ids = encoder.encode(text) if text.strip() else []
            except ValueError as error:
                stats.unencodable += 1
                stats.first_unencodable = stats.first_unencodable or f"line {number}: {error}"
                sequences.append(None)
                continue
            if not ids:
                stats.empty += 1
                sequences.append(None)
                continue
            if len(ids) + len(eos) > max_length:
                stats.truncated += 1
                ids = ids[-max(max_length - len(eos), 1):] if prompts else ids[: max(max_length - 1, 1)]
            sequences.append([*ids, *eos])
        return sequences, stats


def problem_from_hparams(hp: Mapping[str, Any]) -> Problem:
    """The problem a checkpoint (its `hyper_parameters`) was trained on, with the settings of its run."""
    return CheckpointRecord.from_hparams(hp).problem()


def checked_encoders(record: CheckpointRecord, problem: Problem,
                     data_dir: str | Path | None) -> tuple[dict[str, Any], str | Path | None]:
    """The encoders the checkpoint was trained with, and the data_dir to decode splits from (None when its
    vocabulary differs). The vocabulary stored in the checkpoint comes first; without one, the data_dir's
    vocabulary is used only when its sha256 is the one the checkpoint recorded."""
    path, recorded = record.path, record.vocab_hashes
    encoders = record.encoders()
    if encoders is None:
        encoders = load_encoders(problem, data_dir)
        check_vocab_files(path, recorded, problem, data_dir, "pass data_dir=<the data_dir it was trained with>")
        return encoders, data_dir
    try:
        mismatch = vocab_file_mismatch(path, recorded, problem, data_dir)
    except T2TUserError as error:  # e.g. the corpus the vocabulary was named after is gone: text still decodes
        log.warning("decoding text with the vocabulary stored in the checkpoint; its data_dir cannot serve splits"
                    " (%s)", error)
        return encoders, None
    if mismatch:  # its examples were encoded with that other vocabulary: text decodes, splits do not
        log.warning("%s: decoding text with the vocabulary stored in the checkpoint; decoding a split needs"
                    " data_dir=<the data_dir it was trained with>", mismatch)
        return encoders, None
    return encoders, data_dir


def load_encoders(problem: Problem, data_dir: str | Path | None) -> dict[str, Any]:
    """The problem's text encoders, with a one-line error when they are missing from `data_dir`."""
    try:
        return problem.feature_encoders(Path(data_dir).expanduser() if data_dir else None)
    except NotImplementedError:
        return {}  # no text features (images, audio): splits decode, text does not
    except (OSError, ValueError) as error:
        raise T2TUserError(
            f"cannot load the vocabulary of {problem.name} from data_dir '{data_dir}' ({error}): "
            "pass data_dir=<the data_dir the model was trained with>"
        ) from None
