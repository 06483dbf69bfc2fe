"""CTC prefix scores of growing hypotheses, vectorised over the beam: the CTC half of joint CTC/attention decoding.

Ports the idea of ESPnet's `CTCPrefixScore` / `CTCPrefixScoreTH` (Watanabe et al. 2017, "Hybrid CTC/attention
architecture for end-to-end speech recognition", https://arxiv.org/abs/1609.06773, Algorithm 2; T2T trained no CTC
head and decoded with the attention decoder alone). Given the frame log-posteriors x (T, V) of an encoder's CTC head,
the prefix probability psi(h) sums the probability of every alignment whose collapse (repeats merged, blanks dropped)
starts with h. For a hypothesis g it keeps the forward variables r_n(t) and r_b(t), the log-probability of g's
alignments of frames 0..t ending in g's last symbol and in blank, and extends them by every candidate c of every
hypothesis at once, in one pass over the frames. Ending a hypothesis (eos) scores the full-sequence probability
log(r_n(T - 1) + r_b(T - 1)). Frames past an utterance's encoder length emit blank with probability 1, so they change
no score. The blank is the pad id, as in training (models/ctc.py).

`CtcPrefixScorer` is a `PrefixScorer` (the hook of `beam_search.py`): every extension g + c of a hypothesis scores

    (1 - weight) x decoder log p(c | g) + weight x (log psi(g + c) - log psi(g))

so a finished hypothesis totals (1 - weight) x its decoder log-probability + weight x its CTC log-probability. With
`pre_beam`, only each hypothesis's `pre_beam` best extensions by the decoder's log-prob, and eos, are CTC-scored
(ESPnet's pre-beam; the rest score -inf): `pre_beam = 2 * beam_size` keeps every extension plain beam search could
pick. Without it every token is scored, which CTC-only decoding (weight 1, no decoder scores to pre-select by) needs.

    scorer = CtcPrefixScorer(ctc_log_probs, encoder_lengths, weight=0.3, pre_beam=2 * beam_size)
    result = beam_search(fn, B, beam_size, decode_length, V, alpha, cache, scorer=scorer)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from t2t_torch.spec import EOS_ID, PAD_ID

NEG_INF = float("-inf")


@dataclass(frozen=True)
class CtcPrefixState:
    """The CTC state of N hypotheses (rows batch-major, as the beam search lays them out)."""

    forward: torch.Tensor  # (T, 2, N) log r_n(t), log r_b(t) of each hypothesis
    prefix: torch.Tensor  # (N,) log psi of each hypothesis; 0 for the empty one


@dataclass(frozen=True)
class CtcExtensions:
    """The CTC state of every scored extension of N hypotheses, from which `select` keeps the chosen ones."""

    forward: torch.Tensor  # (T, 2, N, C)
    prefix: torch.Tensor  # (N, C) log psi of each extension (eos: the full-sequence log-probability)
    ids: torch.Tensor  # (N, C) the token each column extends by


class CtcPrefixScorer:
    """Joint CTC/attention scores for `beam_search` (see the module docstring)."""

    def __init__(self, log_probs: torch.Tensor, lengths: torch.Tensor, weight: float, pre_beam: int | None = None,
                 blank_id: int = PAD_ID, eos_id: int = EOS_ID) -> None:
        """log_probs (B, T, V) the CTC head's frame log-posteriors (float32 or float64), lengths (B,) the frames of
        each utterance (<= T), weight in [0, 1] the CTC share of every score."""
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"CtcPrefixScorer needs a weight in [0, 1], got {weight}")
        if pre_beam is not None and pre_beam < 1:
            raise ValueError(f"CtcPrefixScorer needs pre_beam >= 1 (or None: every token), got {pre_beam}")
        batch, frames, vocab = log_probs.shape
        padded = torch.arange(frames, device=log_probs.device).unsqueeze(1) >= lengths.to(log_probs.device)  # (T, B)
        x = log_probs.transpose(0, 1).masked_fill(padded.unsqueeze(2), NEG_INF)  # (T, B, V)
        x[:, :, blank_id] = x[:, :, blank_id].masked_fill(padded, 0.0)  # padding: blank, probability 1
        self.frames = x
        self.weight = weight
        self.pre_beam = pre_beam
        self.blank_id = blank_id
        self.eos_id = eos_id
        self.batch_size, self.vocab_size = batch, vocab

    def init(self, beam_size: int) -> CtcPrefixState:
        """The empty hypothesis, on each of the batch_size * beam_size rows."""
        blanks = self.frames[:, :, self.blank_id].cumsum(0).repeat_interleave(beam_size, dim=1)  # (T, N)
        forward = torch.stack([torch.full_like(blanks, NEG_INF), blanks], dim=1)  # (T, 2, N)
        return CtcPrefixState(forward, blanks.new_zeros(blanks.size(1)))

    def score(self, state: CtcPrefixState, ids: torch.Tensor,
              log_probs: torch.Tensor) -> tuple[torch.Tensor, CtcExtensions]:
        """ids (N, t) the hypotheses (start id first), log_probs (N, V) the decoder's next-token log-probs -> the
        joint scores (N, V) of every extension (-inf where not scored) and the extensions' CTC state."""
        candidates = self.candidates(log_probs)  # (N, C)
        forward, prefix = self.extend(state, ids[:, -1], ids.size(1) - 1, candidates)
        ended = state.forward[-1].logsumexp(dim=0)  # (N,) the full-sequence log-probability of each hypothesis
        prefix = torch.where(candidates == self.eos_id, ended.unsqueeze(1), prefix)
        prefix = prefix.masked_fill(candidates == self.blank_id, NEG_INF)  # blank is no output symbol
        # A hypothesis CTC already ruled out (-inf) has -inf extensions, not -inf - -inf = nan.
        increment = (prefix - state.prefix.unsqueeze(1)).masked_fill(state.prefix.isneginf().unsqueeze(1), NEG_INF)
        mixed = self.mix(log_probs.gather(1, candidates), increment).to(log_probs.dtype)  # (N, C)
        joint = torch.full_like(log_probs, NEG_INF).scatter(1, candidates, mixed)  # (N, V)
        return joint, CtcExtensions(forward, prefix, candidates)

    def select(self, extensions: CtcExtensions, parent_rows: torch.Tensor, tokens: torch.Tensor) -> CtcPrefixState:
        """The state of the hypotheses the search kept: row n is extension `tokens[n]` of row `parent_rows[n]`."""
        matches = extensions.ids.index_select(0, parent_rows) == tokens.unsqueeze(1)  # (N, C)
        column = matches.int().argmax(dim=1)  # (N,)
        forward = extensions.forward[:, :, parent_rows, column]  # (T, 2, N)
        prefix = extensions.prefix[parent_rows, column].masked_fill(~matches.any(dim=1), NEG_INF)  # unscored: out
        return CtcPrefixState(forward, prefix)

    def candidates(self, log_probs: torch.Tensor) -> torch.Tensor:
        """(N, C) the tokens to score: all of them, or the `pre_beam` best by the decoder and eos."""
        rows, vocab = log_probs.shape
        if self.pre_beam is None or self.pre_beam >= vocab:
            return torch.arange(vocab, device=log_probs.device).expand(rows, vocab)
        best = log_probs.topk(self.pre_beam, dim=1).indices  # (N, C - 1); eos may be among them twice: harmless
        return torch.cat([best, torch.full_like(best[:, :1], self.eos_id)], dim=1)

    def mix(self, decoder: torch.Tensor, ctc: torch.Tensor) -> torch.Tensor:
        """(1 - weight) x decoder + weight x ctc; a weight of 0 or 1 takes one side as it is (0 x -inf is nan)."""
        if self.weight == 0.0:
            return decoder
        if self.weight == 1.0:
            return ctc
        return (1.0 - self.weight) * decoder + self.weight * ctc

    def extend(self, state: CtcPrefixState, last: torch.Tensor, length: int,
               candidates: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward variables (T, 2, N, C) and log psi (N, C) of every hypothesis g (`length` symbols, last symbol
        `last` (N,)) extended by each candidate (N, C)."""
        frames = self.frames.size(0)
        rows, columns = candidates.shape
        x = self.candidate_frames(candidates)  # (T, N, C)
        blank = self.frames[:, :, self.blank_id].repeat_interleave(rows // self.batch_size, dim=1).unsqueeze(2)
        r_prev = state.forward.unsqueeze(3)  # (T, 2, N, 1)
        # phi(t): g's alignments up to frame t after which c may start; a repeat of g's last symbol needs a blank.
        phi = torch.where(candidates == last.unsqueeze(1), r_prev[:, 1], r_prev.logsumexp(dim=1))  # (T, N, C)
        r = x.new_full((frames, 2, rows, columns), NEG_INF)  # (T, 2, N, C) h = g + c needs length + 1 frames
        if length == 0:
            r[0, 0] = x[0]
        start = max(1, length)
        if start > frames:  # more symbols than frames: no alignment
            return r, r[0, 0]
        for t in range(start, frames):
            r[t, 0] = torch.logaddexp(r[t - 1, 0], phi[t - 1]) + x[t]
            r[t, 1] = torch.logaddexp(r[t - 1, 0], r[t - 1, 1]) + blank[t]
        # psi(h): alignments whose collapse starts with h, by the frame where c first appears.
        first = torch.cat([r[start - 1, 0].unsqueeze(0), phi[start - 1:-1] + x[start:]], dim=0)  # (T - start + 1,..)
        return r, first.logsumexp(dim=0)

    def candidate_frames(self, candidates: torch.Tensor) -> torch.Tensor:
        """(T, N, C) the frame log-posteriors of each candidate token of each hypothesis."""
        rows, columns = candidates.shape
        item = torch.arange(self.batch_size, device=candidates.device).repeat_interleave(rows // self.batch_size)
        flat = (item.unsqueeze(1) * self.vocab_size + candidates).reshape(-1)  # (N * C,)
        frames = self.frames.reshape(self.frames.size(0), -1)  # (T, B * V)
        return frames.index_select(1, flat).view(-1, rows, columns)
