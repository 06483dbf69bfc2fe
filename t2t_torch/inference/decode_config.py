"""`DecodeConfig`: how to decode, in T2T's names (its `decoding.decode_hparams` plus the model's sampling hparams):
beam search with T2T's length penalty, greedy search when `beam_size=1`, sampling when `sampling_method=random`, and
a speech model's CTC share (`ctc_weight`, speech_search.py). Checked when built: a bad value is one line."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from t2t_torch.errors import T2TUserError
from t2t_torch.hparams import dataclass_from_mapping
from t2t_torch.inference.speech_search import check_ctc_weight

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
