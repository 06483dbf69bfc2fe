"""The Transformer's incremental decoding against its teacher-forced decoder, on a seeded untrained model.

Untrained weights give spread-out distributions, so any mistake in the key/value cache, in sharing the encoder
state across beams (`BeamInvariant`) or in reordering the cache shows up as different logits or different ids.
"""

from __future__ import annotations

import pytest
import torch

import t2t_torch
from t2t_torch.decoding import BeamInvariant, beam_search, expand_to_beams, greedy_search, reorder_cache
from t2t_torch.inference.decode_config import DecodeConfig
from t2t_torch.inference.search import decode_batch, decode_sequences
from t2t_torch.models.t2t_model import T2TModel
from t2t_torch.spec import ProblemSpec, symbol_feature

VOCAB = 11


@pytest.fixture(scope="module")
def model() -> T2TModel:
    torch.manual_seed(0)
    spec = ProblemSpec(features={"inputs": symbol_feature(VOCAB), "targets": symbol_feature(VOCAB)})
    hparams = {"hidden_size": 32, "num_hidden_layers": 2, "num_heads": 4, "filter_size": 64}
    return t2t_torch.model("transformer")(hparams, spec).eval()


def padded_inputs() -> torch.Tensor:
    """Three inputs of lengths 6, 3 and 1 (eos included), padded with 0."""
    inputs = torch.tensor([[5, 3, 7, 2, 9, 1], [4, 8, 1, 0, 0, 0], [1, 0, 0, 0, 0, 0]])
    return inputs


@torch.no_grad()
def test_cached_steps_match_teacher_forcing_while_beams_are_reordered(model):
    """Rows are shuffled within their batch item after every step, as beam search does; each row's logits at
    every step must equal the teacher-forced logits of the sequence that row ends up holding."""
    beams, steps = 3, 7
    inputs = padded_inputs()
    batch = inputs.size(0)
    memory, mask = model.encode(inputs)
    cache = expand_to_beams(model.init_cache(memory, mask, steps), beams)
    gen = torch.Generator().manual_seed(1)
    ids = torch.zeros(batch * beams, 1, dtype=torch.long)
    history: list[torch.Tensor] = []  # per step (N, V), kept aligned with the rows of `ids`
    for step in range(steps):
        logits, cache = model.decode_step(ids, step, cache)
        history.append(logits)
        within_item = torch.stack([torch.randperm(beams, generator=gen) for _ in range(batch)])  # (B, beams)
        parents = (within_item + torch.arange(batch)[:, None] * beams).view(-1)
        cache = reorder_cache(cache, parents)
        history = [h[parents] for h in history]
        ids = torch.cat([ids[parents], torch.randint(2, VOCAB, (batch * beams, 1), generator=gen)], dim=1)
    full = model.decode(ids[:, 1:], memory.repeat_interleave(beams, 0), mask.repeat_interleave(beams, 0))
    for step, logits in enumerate(history):
        torch.testing.assert_close(logits, full[:, step], atol=1e-5, rtol=1e-5)


def test_encoder_state_is_shared_by_beams_not_copied(model):
    memory, mask = model.encode(padded_inputs())
    cache = expand_to_beams(model.init_cache(memory, mask), 4)
    assert isinstance(cache["encoder_0"], BeamInvariant) and cache["encoder_0"].value["k"].size(0) == 3
    assert cache["layer_0"]["k"].shape[:3] == (12, 4, 0)
    reordered = reorder_cache(cache, torch.arange(12).flip(0))
    assert reordered["encoder_1"] is cache["encoder_1"]


def test_expanded_cache_of_one_item_can_be_written_in_place():
    expanded = expand_to_beams({"k": torch.zeros(1, 2, 3)}, 4)["k"]
    expanded[:, 0] = torch.arange(4.0)[:, None]  # a stride-0 view would refuse this
    assert expanded[:, 0, 0].tolist() == [0.0, 1.0, 2.0, 3.0]


@torch.no_grad()
def test_beam_size_one_equals_greedy_search(model):
    inputs = padded_inputs()
    memory, mask = model.encode(inputs)
    greedy = greedy_search(model.decode_step, 3, 12, VOCAB, model.init_cache(memory, mask))
    beam = beam_search(model.decode_step, 3, 1, 12, VOCAB, alpha=0.0, cache=model.init_cache(memory, mask))
    assert torch.equal(greedy.ids, beam.ids) and torch.equal(greedy.lengths, beam.lengths)
    torch.testing.assert_close(greedy.scores, beam.scores)
    assert torch.equal(decode_batch(model, inputs, VOCAB, DecodeConfig(beam_size=1, extra_length=6)).ids, greedy.ids)


@torch.no_grad()
@pytest.mark.parametrize("beam_size", [1, 4])
def test_a_padded_batch_decodes_like_each_input_alone(model, beam_size):
    inputs = padded_inputs()
    memory, mask = model.encode(inputs)
    batched = beam_search(model.decode_step, 3, beam_size, 10, VOCAB, 0.6, model.init_cache(memory, mask))
    for row, length in enumerate((6, 3, 1)):
        alone_memory, alone_mask = model.encode(inputs[row : row + 1, :length])
        alone = beam_search(model.decode_step, 1, beam_size, 10, VOCAB, 0.6, model.init_cache(alone_memory, alone_mask))
        width = alone.ids.size(-1)
        assert torch.equal(batched.ids[row, :, :width], alone.ids[0]), row
        torch.testing.assert_close(batched.scores[row], alone.scores[0], atol=1e-5, rtol=1e-5)


def test_sampling_repeats_with_its_seed_and_differs_with_another(model):
    """Untrained weights spread the distribution, so a seed that were ignored would show as differing draws."""
    sequences = [[5, 3, 7, 2, 9, 1], [4, 8, 1], [1]] * 4
    config = DecodeConfig(sampling_method="random", extra_length=8, batch_size=5)
    draws = {seed: decode_sequences(model, sequences, VOCAB, config.replace(seed=seed), torch.device("cpu"))
             for seed in (7, 8)}
    assert draws[7] == decode_sequences(model, sequences, VOCAB, config.replace(seed=7), torch.device("cpu"))
    assert draws[7] != draws[8]
