"""The search over encoded inputs: batches of id sequences (or audio frames) in, hypotheses with scores out (the
inner loop of T2T's `decode_from_file`, and what the in-training dev decodes run).

Inputs are sorted by length (longest first), collated by the model's inputs modality (`Modality.collate`) in
batches of `DecodeConfig.batch_size`, searched, and put back in input order. The search is `t2t_torch.decoding`
driven through the model's incremental cache (`encode` / `init_cache` / `decode_step`, see `models/transformer.py`):
beam search with T2T's length penalty, greedy search when `beam_size=1`, sampling when `sampling_method=random`. A
decoder-only model continues its inputs as prompts (batched by length: prompts are not padded). Speech is searched
by `speech_search.py`: never past the encoder's length, and with `ctc_weight` the CTC head joins in.

    hypotheses = decode_scored(model, [[5, 9, 1]], vocab_size, DecodeConfig(beam_size=4), torch.device("cpu"))
    hypotheses[0][0]   # (ids of the best hypothesis, cut after eos, its score)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from t2t_torch.decoding.beam_search import BeamResult, beam_search
from t2t_torch.decoding.sampling import greedy_search, sample
from t2t_torch.inference.decode_config import DecodeConfig
from t2t_torch.inference.speech_search import check_ctc_head, is_bounded_by_encoder, search_speech
from t2t_torch.models.family import Family


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
