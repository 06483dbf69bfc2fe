"""In-process decoding from a checkpoint: load once, translate lists of strings (T2T's `utils/decoding.py`).

It dispatches on the model's family: an encoder-decoder decodes each input line; a decoder-only language model
continues each line as a prompt (no EOS appended; `sampling_method=random` with `sampling_temp`,
`sampling_keep_top_k`, `sampling_keep_top_p` samples); a classifier returns the argmax label of each line.
`score` gives each (source, target) pair log p(target | source); for a language model the source is the prompt
the target continues, as in decoding, and only the target's tokens are scored.

Ports the inner loop of T2T's `decode_from_file` / `decode_interactively`: inputs are encoded with the problem's
`feature_encoders`, sorted by length (longest first) and decoded in batches, and the outputs are put back in input
order. The search is `t2t_torch.decoding` driven through the model's incremental cache (`encode` / `init_cache` /
`decode_step`, see `models/transformer.py`): beam search with T2T's length penalty, greedy search when
`beam_size=1`, sampling when `sampling_method=random` (T2T's decode/model hparams names throughout). Speech is
searched by `speech_search.py`: never past the encoder's length, and with `ctc_weight` the CTC head joins in.

Every input line gets a defined output: an empty or whitespace-only line (or one that cannot be encoded) decodes to
"" without running the model, and a line longer than the model was trained on (`max_input_size`, by default the
run's `batching.max_length`) is truncated; each kind is counted and reported once per call as a warning.

    translator = Translator.from_checkpoint("outputs/.../checkpoints/last.ckpt")   # data_dir from the run
    translator.translate(["Hello world.", "Good morning."], beam_size=4, alpha=0.6)
    translator.translate(["1 0 1"], return_beams=True)   # [["1 0 1", "1 0", ...]], best first
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from t2t_torch.checkpoints.record import CheckpointRecord
from t2t_torch.decoding.beam_search import BeamResult, beam_search
from t2t_torch.decoding.sampling import greedy_search, sample
from t2t_torch.decoding.scoring import pad, sequence_log_probs
from t2t_torch.errors import T2TUserError
from t2t_torch.hparams import dataclass_from_mapping
from t2t_torch.inference.speech_search import check_ctc_head, check_ctc_weight, is_bounded_by_encoder, search_speech
from t2t_torch.metrics.decode_scores import DEFAULT_TEXT_METRICS
from t2t_torch.modalities import modality_class
from t2t_torch.models.checkpoint_vocabulary import check_vocab_files, vocab_file_mismatch
from t2t_torch.models.family import Family
from t2t_torch.problems.problem import Problem
from t2t_torch.spec import EOS_ID, ProblemSpec

log = logging.getLogger(__name__)

SAMPLING_METHODS = ("argmax", "random")


@dataclass(frozen=True)
class DecodeConfig:
    """Decoding hparams, T2T names (`decoding.decode_hparams` and the model's sampling hparams)."""

    beam_size: int = 4
    alpha: float = 0.6  # length penalty ((5 + len) / 6) ** alpha
    return_beams: bool = False  # every beam, best first, instead of the best one
    write_beam_scores: bool = True  # with return_beams, each beam's score follows it (T2T's write_beam_scores)
    extra_length: int = 100  # decode length = input length + extra_length
    batch_size: int = 32  # sentences per batch (T2T's default for decoding from a file)
    max_input_size: int = 0  # longer inputs are truncated; 0: the max_length the model was trained with
    sampling_method: str = "argmax"  # "random": draw each token instead of beam/greedy search
    sampling_temp: float = 1.0
    sampling_keep_top_k: int = 0  # 0: sample from the whole vocabulary
    sampling_keep_top_p: float = 1.0  # < 1: nucleus sampling (the most likely tokens holding this probability)
    seed: int | None = None  # seeds sampling
    ctc_weight: float = 0.0  # CTC share of the score (speech_search.py): 0 the decoder alone, 1 CTC alone

    def __post_init__(self) -> None:
        if self.beam_size < 1 or self.batch_size < 1 or self.extra_length < 0 or self.max_input_size < 0:
            raise T2TUserError(
                f"decode needs beam_size >= 1, batch_size >= 1, extra_length >= 0 and max_input_size >= 0; got "
                f"{self.beam_size}, {self.batch_size}, {self.extra_length} and {self.max_input_size}"
            )
        if self.sampling_method not in SAMPLING_METHODS:
            raise T2TUserError(f"unknown sampling_method '{self.sampling_method}': pass one of {SAMPLING_METHODS}")
        if self.sampling_temp < 0:
            raise T2TUserError(f"sampling_temp must be >= 0 (0 = greedy), got {self.sampling_temp}")
        if not 0.0 < self.sampling_keep_top_p <= 1.0:
            raise T2TUserError(f"sampling_keep_top_p must be in (0, 1], got {self.sampling_keep_top_p}")
        check_ctc_weight(self.ctc_weight)
        if self.ctc_weight > 0 and self.sampling_method == "random":
            raise T2TUserError("decode.ctc_weight > 0 searches with the CTC head; sampling does not: pass"
                               " decode.sampling_method=argmax or decode.ctc_weight=0")

    @property
    def num_beams(self) -> int:
        """How many hypotheses each input gets back (1 for greedy search and sampling)."""
        return self.beam_size if self.sampling_method == "argmax" and self.beam_size > 1 else 1

    def replace(self, **overrides: Any) -> DecodeConfig:
        return dataclass_from_mapping(DecodeConfig, {**asdict(self), **overrides}, "decode")


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


@torch.inference_mode()
def decode_batch(model: nn.Module, inputs: torch.Tensor, vocab_size: int, config: DecodeConfig,
                 generator: torch.Generator | None = None) -> BeamResult:
    """inputs (B, S) padded ids ending in eos -> BeamResult with ids (B, num_beams, L), best first. For a
    decoder-only model `inputs` are prompts of one length (no eos), continued for `extra_length` tokens."""
    if model.family == Family.DECODER:
        decode_length = config.extra_length
        cache = model.init_cache(prefix=inputs, max_length=decode_length)
    else:
        memory, mask = model.encode(inputs)
        decode_length = inputs.size(1) + config.extra_length
        if is_bounded_by_encoder(model, config.ctc_weight):  # speech
            return search_speech(model, memory, mask, decode_length, vocab_size, config, generator)
        cache = model.init_cache(memory, mask, decode_length)
    batch = inputs.size(0)
    if config.sampling_method == "random":
        return sample(model.decode_step, batch, decode_length, vocab_size, cache, temperature=config.sampling_temp,
                      top_k=config.sampling_keep_top_k, generator=generator, top_p=config.sampling_keep_top_p)
    if config.beam_size == 1:
        return greedy_search(model.decode_step, batch, decode_length, vocab_size, cache)
    return beam_search(model.decode_step, batch, config.beam_size, decode_length, vocab_size, config.alpha, cache)


def decode_scored(model: nn.Module, sequences: Sequence[Sequence[Any]], vocab_size: int, config: DecodeConfig,
                  device: torch.device) -> list[list[tuple[list[int], float]]]:
    """Decode input sequences longest first in batches of `config.batch_size`: id sequences (each ending in eos), or
    the rows of another input modality (audio frames), collated as that modality collates them.

    Returns, in input order, each sequence's hypotheses (best first) as (ids cut after eos, score): the search's
    score, a log-probability over T2T's length penalty for a beam that finished, the summed log-probability for
    greedy search, sampling and a beam that did not finish.
    """
    check_ctc_head(model, config.ctc_weight)
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]), reverse=True)  # T2T: longest first
    generator = None
    if config.seed is not None:
        generator = torch.Generator(device=device).manual_seed(config.seed)
    outputs: list[list[tuple[list[int], float]]] = [[] for _ in sequences]
    for chunk in _chunks(order, sequences, config.batch_size, same_length=model.family == Family.DECODER):
        inputs = collate_inputs(model, [sequences[index] for index in chunk])
        result = decode_batch(model, inputs.to(device), vocab_size, config, generator)
        ids, lengths, scores = result.ids.tolist(), result.lengths.tolist(), result.scores.tolist()
        for row, index in enumerate(chunk):
            outputs[index] = [(hyp[:n], score) for hyp, n, score in zip(ids[row], lengths[row], scores[row],
                                                                        strict=True)]
    return outputs


def decode_sequences(model: nn.Module, sequences: Sequence[Sequence[Any]], vocab_size: int, config: DecodeConfig,
                     device: torch.device) -> list[list[list[int]]]:
    """`decode_scored` without the scores: each sequence's hypotheses (best first) as id lists."""
    return [[ids for ids, _ in hypotheses] for hypotheses in decode_scored(model, sequences, vocab_size, config,
                                                                           device)]


def continuation(prompt: str, text: str) -> str:
    """`text` as the continuation of `prompt`: after one space, unless one of them already has whitespace there (a
    prompt is continued as written, so `text`'s tokens are those it has in the joined text)."""
    return text if not prompt or prompt[-1].isspace() or text[:1].isspace() else f" {text}"


@torch.inference_mode()
def prompted_log_probs(model: nn.Module, prompts: Sequence[Sequence[int]], targets: Sequence[Sequence[int]],
                       pad_id: int = 0, batch_size: int = 32, device: torch.device | str = "cpu") -> list[float]:
    """A decoder-only model's log-probability of each target given its prompt: the sum over the target's tokens of
    log p(token | prompt, previous target tokens), from one teacher-forced pass over prompt + target (natural log,
    float32, eval mode)."""
    model.eval()
    scores: list[float] = []
    for start in range(0, len(prompts), batch_size):
        rows = list(zip(prompts[start:start + batch_size], targets[start:start + batch_size], strict=True))
        sequences = pad([[*prompt, *target] for prompt, target in rows], pad_id, device)
        log_probs = F.log_softmax(model.decode(sequences).float(), dim=-1)
        token = log_probs.gather(-1, sequences.unsqueeze(-1)).squeeze(-1)
        scored = torch.zeros_like(sequences, dtype=torch.bool)
        for row, (prompt, target) in enumerate(rows):
            scored[row, len(prompt):len(prompt) + len(target)] = True
        scores += torch.where(scored, token, torch.zeros_like(token)).sum(-1).tolist()
    return scores


def collate_inputs(model: nn.Module, sequences: list[Sequence[Any]]) -> torch.Tensor:
    """One padded batch of inputs: token ids (prompts of a decoder-only model too), or what the model's inputs
    modality collates (e.g. audio frames (B, T, bins))."""
    modality = model.inputs_modality or model.targets_modality  # a decoder-only model's prompts are targets
    return type(modality).collate([np.asarray(sequence) for sequence in sequences], modality.feature)


def _chunks(order: list[int], sequences: Sequence[Sequence[int]], size: int, same_length: bool) -> list[list[int]]:
    """Batches of at most `size` indices in `order`; with `same_length`, each holds sequences of one length (prompts
    are continued from their last token, so they are not padded)."""
    chunks: list[list[int]] = []
    for index in order:
        last = chunks[-1] if chunks else None
        if last is None or len(last) >= size or (same_length and len(sequences[last[0]]) != len(sequences[index])):
            chunks.append([index])
        else:
            last.append(index)
    return chunks


class Translator:
    """A model, its problem's text encoders and decoding settings, ready to translate lists of strings."""

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
                        device: str | torch.device = "cpu") -> Translator:
        """Rebuild model, problem and encoders from a checkpoint (a file or a sharded directory) alone; `data_dir`
        defaults to the run's."""
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
            decoded = decode_scored(self.model, [sequences[i] for i in todo], self.vocab_size, config, self.device)
            targets = self.encoders["targets"]
            prompted = self.model.family == Family.DECODER  # the prompt's ids and the continuation decode as one text
            for index, hypotheses in zip(todo, decoded, strict=True):
                prompt = list(sequences[index]) if prompted else []
                beams[index] = [(targets.decode([*prompt, *ids]), score) for ids, score in hypotheses]
        stats.seconds = time.perf_counter() - started
        stats.warn(max_length)
        self.last_stats = stats
        return beams

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

    def decode_ids(self, sequences: Sequence[Sequence[Any]], config: DecodeConfig
                   ) -> list[list[tuple[list[int], float]]]:
        """Already-encoded inputs (ids ending in eos, not truncated; or audio frames) -> per input its hypotheses
        as (ids, score), best first (`decode_scored`)."""
        return decode_scored(self.model, sequences, self.vocab_size, config, self.device)

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

