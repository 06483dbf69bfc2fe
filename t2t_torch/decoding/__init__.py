"""Model-agnostic autoregressive decoding: beam search, greedy search and sampling (T2T `utils/beam_search.py`).

Every decoder drives a model through one function,

    symbols_to_logits_fn(ids: LongTensor[N, t], step: int, cache: dict) -> (logits: FloatTensor[N, V], cache: dict)

where `ids` is the prefix decoded so far (column 0 is the start id, 0 = pad) and `cache` is the model's incremental
state with first dim N; the caller passes it with first dim batch_size and the decoder expands and reorders it.
All decoders return a `BeamResult(ids (B, beam, L), scores (B, beam), lengths (B, beam))`, best beam first, ids
without the start id and padded after eos; greedy search and sampling have beam = 1.

    from t2t_torch.decoding import beam_search, greedy_search
    if beam_size > 1:
        result = beam_search(fn, B, beam_size, decode_length=50, vocab_size=V, alpha=0.6, cache=cache)
    else:  # T2T decodes greedily when beam_size=1
        result = greedy_search(fn, B, decode_length=50, vocab_size=V, cache=cache)
    outputs = result.ids[:, 0]  # (B, L) the best hypothesis; all of result.ids for return_beams

Speech models with a CTC head also decode jointly (`CtcPrefixScorer`, a `PrefixScorer` beam search mixes in, see
`ctc_prefix_score.py`) or with CTC alone (`ctc_greedy_search`, `ctc_prefix_beam_search`, see `ctc_search.py`).

To decode text with a trained checkpoint, use `t2t_torch.inference.predictor.Predictor` (the in-process API
behind `t2t-decode`); it is not imported here, so this package stays free of problems and registries.
"""

from t2t_torch.decoding.beam_search import EOS_ID, PAD_ID, BeamResult, PrefixScorer, beam_search
from t2t_torch.decoding.cache import BeamInvariant, expand_to_beams, reorder_cache
from t2t_torch.decoding.ctc_prefix_score import CtcPrefixScorer
from t2t_torch.decoding.ctc_search import ctc_greedy_search, ctc_prefix_beam_search
from t2t_torch.decoding.length_penalty import length_penalty
from t2t_torch.decoding.sampling import greedy_search, sample

__all__ = [
    "EOS_ID",
    "PAD_ID",
    "BeamInvariant",
    "BeamResult",
    "CtcPrefixScorer",
    "PrefixScorer",
    "beam_search",
    "ctc_greedy_search",
    "ctc_prefix_beam_search",
    "expand_to_beams",
    "greedy_search",
    "length_penalty",
    "reorder_cache",
    "sample",
]
