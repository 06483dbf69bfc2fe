"""Tests for `t2t_torch.decoding`: beam search, greedy search, sampling and the cache helpers, on toy models.

Two toy models stand in for a network: a hand-made Markov transition table (to build cases whose answer is known
in closed form) and a tiny seeded RNN whose incremental cache holds its hidden state and a per-item "static_"
memory, so any mistake in expanding or reordering the cache changes the logits; it is checked against a version
that recomputes the whole prefix at every step without a cache.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from t2t_torch.decoding import (
    EOS_ID,
    PAD_ID,
    BeamResult,
    beam_search,
    expand_to_beams,
    greedy_search,
    length_penalty,
    reorder_cache,
    sample,
)

VOCAB = 12
HIDDEN = 16


class ToyRnn:
    """A seeded one-layer RNN: h' = tanh(h W + E[token] + memory[item]); logits = h' U, + eos_bias on eos, no pad."""

    def __init__(self, batch_size: int, seed: int = 0, eos_bias: float = 0.0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.embedding = torch.randn(VOCAB, HIDDEN, generator=g, dtype=torch.float64)
        self.w = torch.randn(HIDDEN, HIDDEN, generator=g, dtype=torch.float64) / HIDDEN**0.5
        self.u = torch.randn(HIDDEN, VOCAB, generator=g, dtype=torch.float64)
        self.memory = torch.randn(batch_size, HIDDEN, generator=g, dtype=torch.float64)  # (B, D)
        self.eos_bias = eos_bias
        self.calls: list[tuple[int, int]] = []  # (step, prefix width) of every cached call

    def item(self, b: int) -> ToyRnn:
        """The same network decoding only batch item `b`."""
        single = object.__new__(ToyRnn)
        single.__dict__.update(self.__dict__, memory=self.memory[b : b + 1], calls=[])
        return single

    def initial_cache(self) -> dict:
        batch = self.memory.shape[0]
        return {
            "h": torch.zeros(batch, HIDDEN, dtype=torch.float64),
            "static_memory": self.memory.clone(),
            "meta": {"calls": torch.zeros(batch, dtype=torch.long), "label": "kept", "step0": torch.tensor(0)},
        }

    def _cell(self, h: torch.Tensor, tokens: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        return torch.tanh(h @ self.w + self.embedding[tokens] + memory)  # (N, D)

    def _logits(self, h: torch.Tensor) -> torch.Tensor:
        logits = h @ self.u  # (N, V)
        logits[:, EOS_ID] += self.eos_bias
        logits[:, PAD_ID] = float("-inf")  # like a trained model, never emit the pad/start id
        return logits.float()

    def cached(self, ids: torch.Tensor, step: int, cache: dict) -> tuple[torch.Tensor, dict]:
        """Incremental: reads only ids[:, -1] and the cache."""
        self.calls.append((step, ids.shape[1]))
        assert torch.all(cache["meta"]["calls"] == step), "cache rows were not carried from the previous step"
        assert cache["meta"]["label"] == "kept"
        h = self._cell(cache["h"], ids[:, -1], cache["static_memory"])
        meta = {**cache["meta"], "calls": cache["meta"]["calls"] + 1}
        return self._logits(h), {"h": h, "static_memory": cache["static_memory"], "meta": meta}

    def recomputing(self, beam_size: int):
        """Cache-free: reruns the RNN over the whole prefix; row r belongs to batch item r // beam_size."""
        memory = self.memory.repeat_interleave(beam_size, dim=0)  # (N, D)

        def fn(ids: torch.Tensor, step: int, cache: dict) -> tuple[torch.Tensor, dict]:
            h = torch.zeros(ids.shape[0], HIDDEN, dtype=torch.float64)
            for t in range(ids.shape[1]):
                h = self._cell(h, ids[:, t], memory)
            return self._logits(h), cache

        return fn

    def sequence_log_prob(self, b: int, tokens: torch.Tensor) -> float:
        """Teacher-forced log-probability of `tokens` (no start id, no padding) for batch item b."""
        fn = self.item(b).recomputing(1)
        prefix = torch.tensor([[PAD_ID]])
        total = 0.0
        for token in tokens.tolist():
            logits, _ = fn(prefix, prefix.shape[1] - 1, {})
            total += torch.log_softmax(logits, -1)[0, token].item()
            prefix = torch.cat([prefix, torch.tensor([[token]])], dim=1)
        return total


def table_model(transitions: dict[int, dict[int, float]], vocab: int):
    """A Markov model: next-token probabilities depend on the last id only; unlisted transitions get ~1e-6."""
    table = torch.full((vocab, vocab), 1e-6)
    for source, row in transitions.items():
        for target, prob in row.items():
            table[source, target] = prob
    log_table = torch.log_softmax(table.log(), dim=-1)  # (V, V) normalised

    def fn(ids: torch.Tensor, step: int, cache: dict) -> tuple[torch.Tensor, dict]:
        return log_table[ids[:, -1]], cache

    return fn, log_table


def rnn_beam(model: ToyRnn, beam_size: int, alpha: float, decode_length: int = 15, **kw) -> BeamResult:
    batch = model.memory.shape[0]
    return beam_search(model.cached, batch, beam_size, decode_length, VOCAB, alpha, model.initial_cache(), **kw)


def rnn_greedy(model: ToyRnn, decode_length: int = 15) -> BeamResult:
    return greedy_search(model.cached, model.memory.shape[0], decode_length, VOCAB, model.initial_cache())


def pad_to(ids: torch.Tensor, width: int) -> torch.Tensor:
    return F.pad(ids, (0, width - ids.shape[-1]), value=PAD_ID)


# --- length penalty and cache helpers -------------------------------------------------------------------------


def test_length_penalty_matches_closed_form():
    for length in (1, 2, 7, 50):
        for alpha in (0.0, 0.6, 1.0, 2.0):
            assert length_penalty(length, alpha) == pytest.approx(((5 + length) / 6) ** alpha, rel=1e-12)
    assert length_penalty(1, 0.6) == 1.0 and length_penalty(30, 0.0) == 1.0
    lengths = torch.tensor([1, 7, 19])
    expected = torch.tensor([1.0, 2.0**0.6, 4.0**0.6])
    torch.testing.assert_close(length_penalty(lengths, 0.6), expected)


def test_expand_and_reorder_cache_walk_nested_structures():
    cache = {
        "static_memory": torch.arange(6.0).view(2, 3),
        "layers": [{"k": torch.tensor([[1], [2]])}, (torch.tensor([5, 6]),)],
        "step": torch.tensor(3),
        "name": "x",
    }
    expanded = expand_to_beams(cache, 3)
    torch.testing.assert_close(expanded["static_memory"], cache["static_memory"].repeat_interleave(3, dim=0))
    assert expanded["layers"][0]["k"].view(-1).tolist() == [1, 1, 1, 2, 2, 2]
    assert isinstance(expanded["layers"][1], tuple) and expanded["layers"][1][0].tolist() == [5, 5, 5, 6, 6, 6]
    assert expanded["step"] is cache["step"] and expanded["name"] == "x"

    index = torch.tensor([2, 0, 0, 5, 3, 3])
    reordered = reorder_cache(expanded, index)
    torch.testing.assert_close(reordered["static_memory"], expanded["static_memory"][index])
    assert reordered["layers"][0]["k"].view(-1).tolist() == [1, 1, 1, 2, 2, 2]
    assert reordered["layers"][1][0].tolist() == [5, 5, 5, 6, 6, 6]
    assert reordered["step"].item() == 3 and reordered["name"] == "x"


# --- beam search ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stop_early", [True, False])
def test_beam_size_one_equals_greedy(stop_early):
    beam = rnn_beam(ToyRnn(6, seed=1, eos_bias=0.5), 1, alpha=0.0, decode_length=20, stop_early=stop_early)
    greedy = rnn_greedy(ToyRnn(6, seed=1, eos_bias=0.5), decode_length=20)
    assert beam.ids.shape == greedy.ids.shape
    assert torch.equal(beam.ids, greedy.ids)
    assert torch.equal(beam.lengths, greedy.lengths)
    torch.testing.assert_close(beam.scores, greedy.scores)
    assert (greedy.ids == EOS_ID).any(), "the case should include finished sequences"


def test_beam_search_finds_the_best_sequence_greedy_misses():
    a, b, c = 2, 3, 4
    fn, log_table = table_model(
        {
            PAD_ID: {a: 0.55, b: 0.45},
            a: {c: 0.5, b: 0.3, EOS_ID: 0.2},
            b: {EOS_ID: 0.95, c: 0.05},
            c: {EOS_ID: 0.6, c: 0.4},
        },
        vocab=5,
    )
    greedy = greedy_search(fn, 1, 10, 5)
    assert greedy.ids[0, 0].tolist() == [a, c, EOS_ID]
    best = (log_table[PAD_ID, b] + log_table[b, EOS_ID]).item()
    assert best == pytest.approx(math.log(0.45 * 0.95), abs=1e-4) and best > greedy.scores[0, 0].item()

    # After one step "b eos" (p=.43) beats every alive prefix (a c: .28), so the bound settles the search.
    beams = beam_search(fn, 1, 2, 10, 5, alpha=0.0)
    assert beams.ids[0].tolist() == [[b, EOS_ID], [PAD_ID, PAD_ID]]
    assert beams.scores[0, 0].item() == pytest.approx(best, abs=1e-5)
    assert beams.scores[0, 1].item() == float("-inf") and beams.lengths[0].tolist() == [2, 0]

    full = beam_search(fn, 1, 2, 10, 5, alpha=0.0, stop_early=False)  # runs on and fills the second slot
    assert full.ids[0, :, :3].tolist() == [[b, EOS_ID, PAD_ID], [a, c, EOS_ID]]
    torch.testing.assert_close(full.scores[0], torch.cat([beams.scores[0, :1], greedy.scores[0]]))
    assert full.lengths[0].tolist() == [2, 3]


def test_alpha_moves_preference_from_short_to_long_hypothesis():
    short, l1, l2, l3, l4, junk = 2, 3, 4, 5, 6, 7
    fn, log_table = table_model(
        {
            PAD_ID: {short: 0.5, l1: 0.3, junk: 0.2},
            short: {EOS_ID: 0.6, junk: 0.4},
            l1: {l2: 0.97, junk: 0.03},
            l2: {l3: 0.97, junk: 0.03},
            l3: {l4: 0.97, junk: 0.03},
            l4: {EOS_ID: 0.97, junk: 0.03},
            junk: {junk: 0.5, EOS_ID: 0.5},
        },
        vocab=8,
    )
    short_log_prob = (log_table[PAD_ID, short] + log_table[short, EOS_ID]).item()
    path = [PAD_ID, l1, l2, l3, l4, EOS_ID]
    long_log_prob = sum(log_table[s, t].item() for s, t in zip(path, path[1:], strict=False))
    assert short_log_prob > long_log_prob  # the short one is more probable ...

    no_penalty = beam_search(fn, 1, 2, 10, 8, alpha=0.0)
    assert no_penalty.ids[0, 0, :2].tolist() == [short, EOS_ID]
    assert no_penalty.scores[0, 0].item() == pytest.approx(short_log_prob, abs=1e-5)

    penalised = beam_search(fn, 1, 2, 10, 8, alpha=1.0)  # ... but alpha=1 favours length enough to flip it
    assert penalised.ids[0, 0].tolist() == path[1:]
    assert penalised.ids[0, 1].tolist() == [short, EOS_ID, PAD_ID, PAD_ID, PAD_ID]
    assert penalised.scores[0, 0].item() == pytest.approx(long_log_prob / length_penalty(5, 1.0), abs=1e-5)
    assert penalised.scores[0, 1].item() == pytest.approx(short_log_prob / length_penalty(2, 1.0), abs=1e-5)


def test_finished_scores_are_penalised_sequence_log_probs():
    model = ToyRnn(5, seed=3, eos_bias=1.5)
    result = rnn_beam(model, 3, alpha=0.6)
    filled = result.lengths > 0  # (B, beam)
    assert filled[:, 0].all() and filled.sum() >= 10
    for b, k in filled.nonzero().tolist():
        length = result.lengths[b, k].item()
        assert result.ids[b, k, length - 1] == EOS_ID
        log_prob = model.sequence_log_prob(b, result.ids[b, k, :length])
        assert result.scores[b, k].item() == pytest.approx(log_prob / length_penalty(length, 0.6), abs=1e-4)


def test_eos_stops_sequences_and_pads_after():
    model = ToyRnn(5, seed=3, eos_bias=1.5)
    for result in (rnn_beam(model, 3, alpha=0.6), rnn_greedy(model)):
        width = result.ids.shape[-1]
        assert width == result.lengths.max().item() < 15
        after_end = torch.arange(width) >= result.lengths.unsqueeze(-1)  # (B, beam, L)
        assert torch.all(result.ids[after_end] == PAD_ID)
        assert torch.all(result.ids[~after_end] != PAD_ID), "no start/pad id inside a hypothesis"
        filled = result.lengths > 0  # (B, beam)
        assert torch.all((result.ids == EOS_ID).sum(-1)[filled] == 1), "every hypothesis here ends at one eos"
        last = result.ids.gather(-1, (result.lengths - 1).clamp(min=0).unsqueeze(-1)).squeeze(-1)
        assert torch.all(last[filled] == EOS_ID)
        assert torch.all(result.scores[~filled] == float("-inf")), "an empty beam slot is marked by score -inf"
        assert (result.lengths[filled] < width).any(), "the case should mix lengths"


def test_without_eos_decodes_to_length_with_unpenalised_scores():
    model = ToyRnn(2, seed=4, eos_bias=float("-inf"))
    result = rnn_beam(model, 3, alpha=0.6, decode_length=7)
    assert result.ids.shape == (2, 3, 7)
    assert torch.all(result.lengths == 7) and not (result.ids == EOS_ID).any()
    for b in range(2):
        for k in range(3):  # T2T returns the alive beams' raw log-probs when nothing finished
            assert result.scores[b, k].item() == pytest.approx(model.sequence_log_prob(b, result.ids[b, k]), abs=1e-4)
    assert len(set(map(tuple, result.ids[0].tolist()))) == 3, "beams are distinct"


def test_scores_sorted_best_first():
    result = rnn_beam(ToyRnn(5, seed=9, eos_bias=1.5), 4, alpha=0.6, decode_length=30, stop_early=False)
    filled = torch.isfinite(result.scores)  # (B, beam)
    assert filled[:, 0].all() and filled.sum() >= 15
    assert torch.all(result.scores[:, :-1] >= result.scores[:, 1:])
    both_filled = filled[:, :-1] & filled[:, 1:]
    assert (result.scores[:, :-1] > result.scores[:, 1:])[both_filled].all(), "distinct hypotheses"


@pytest.mark.parametrize("beam_size", [1, 3])
def test_batch_items_decode_independently(beam_size):
    model = ToyRnn(5, seed=2, eos_bias=1.0)
    together = rnn_beam(model, beam_size, alpha=0.6, decode_length=12)
    greedy_together = rnn_greedy(model, decode_length=12)
    for b in range(5):
        alone = rnn_beam(model.item(b), beam_size, alpha=0.6, decode_length=12)
        width = together.ids.shape[-1]
        assert torch.equal(pad_to(alone.ids[0], width), together.ids[b])
        assert torch.equal(alone.lengths[0], together.lengths[b])
        torch.testing.assert_close(alone.scores[0], together.scores[b])
        greedy_alone = rnn_greedy(model.item(b), decode_length=12)
        assert torch.equal(pad_to(greedy_alone.ids[0], greedy_together.ids.shape[-1]), greedy_together.ids[b])


def test_cached_decoding_matches_recomputation_without_cache():
    model = ToyRnn(3, seed=7, eos_bias=0.3)
    cached = rnn_beam(model, 4, alpha=0.6, decode_length=10)
    recomputed = beam_search(model.recomputing(4), 3, 4, 10, VOCAB, 0.6, cache=None)
    assert torch.equal(cached.ids, recomputed.ids)
    torch.testing.assert_close(cached.scores, recomputed.scores)
    steps = [step for step, _ in model.calls]
    assert steps == list(range(len(steps))), "one model call per step"
    assert all(width == step + 1 for step, width in model.calls), "ids hold the whole prefix"


def test_stop_early_keeps_the_best_hypothesis_and_saves_steps():
    eager, patient = ToyRnn(5, seed=3, eos_bias=1.5), ToyRnn(5, seed=3, eos_bias=1.5)
    early = rnn_beam(eager, 3, alpha=0.6, decode_length=30, stop_early=True)
    full = rnn_beam(patient, 3, alpha=0.6, decode_length=30, stop_early=False)
    assert len(patient.calls) == 30 and len(eager.calls) < 30
    width = full.ids.shape[-1]
    assert torch.equal(pad_to(early.ids[:, 0], width), full.ids[:, 0])
    torch.testing.assert_close(early.scores[:, 0], full.scores[:, 0])


def test_wrong_logits_shape_is_a_clear_error():
    def bad(ids, step, cache):
        return torch.zeros(ids.shape[0], VOCAB + 1), cache

    with pytest.raises(ValueError, match="expected \\(6, 12\\)"):
        beam_search(bad, 2, 3, 5, VOCAB, 0.6)


# --- greedy search and sampling ----------------------------------------------------------------------------------


def test_greedy_stops_when_every_sequence_has_ended():
    model = ToyRnn(5, seed=3, eos_bias=1.5)
    result = rnn_greedy(model, decode_length=40)
    assert (result.ids == EOS_ID).any(-1).all()
    assert len(model.calls) == result.ids.shape[-1] < 40


@pytest.mark.parametrize("settings", [{"top_k": 1}, {"temperature": 0.0}, {"temperature": 1e-6}])
def test_degenerate_sampling_equals_greedy(settings):
    greedy = rnn_greedy(ToyRnn(6, seed=10, eos_bias=0.5))
    model = ToyRnn(6, seed=10, eos_bias=0.5)
    generator = torch.Generator().manual_seed(0)
    drawn = sample(model.cached, 6, 15, VOCAB, model.initial_cache(), generator=generator, **settings)
    assert torch.equal(drawn.ids, greedy.ids)
    torch.testing.assert_close(drawn.scores, greedy.scores)


def test_seeded_sampling_is_reproducible():
    def draw(seed: int) -> BeamResult:
        model = ToyRnn(8, seed=11)
        generator = torch.Generator().manual_seed(seed)
        return sample(model.cached, 8, 20, VOCAB, model.initial_cache(), temperature=1.5, generator=generator)

    first, again, other = draw(0), draw(0), draw(1)
    assert torch.equal(first.ids, again.ids) and torch.equal(first.scores, again.scores)
    assert not torch.equal(pad_to(first.ids, 20), pad_to(other.ids, 20))


def test_sampling_follows_tempered_top_k_distribution():
    logits = torch.tensor([0.0, 0.5, 2.0, 1.5, 1.0, -1.0])  # top 3 = ids 2, 3, 4

    def fn(ids, step, cache):
        return logits.expand(ids.shape[0], -1), cache

    n = 20000
    drawn = sample(fn, n, 1, 6, temperature=0.5, top_k=3, generator=torch.Generator().manual_seed(0))
    tokens = drawn.ids[:, 0, 0]
    frequencies = torch.bincount(tokens, minlength=6).float() / n
    expected = torch.zeros(6)
    expected[2:5] = torch.softmax(logits[2:5] / 0.5, dim=0)
    torch.testing.assert_close(frequencies, expected, atol=0.015, rtol=0)
    # Scores are log-probs under the model itself, not under the tempered distribution.
    torch.testing.assert_close(drawn.scores[:, 0], torch.log_softmax(logits, 0)[tokens])
