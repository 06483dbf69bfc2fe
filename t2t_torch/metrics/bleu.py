"""Real BLEU and chrF of detokenized decodes with sacreBLEU (replaces T2T's `utils/bleu_hook.py` and `t2t-bleu`).

T2T's README asks users to report `t2t-bleu` rather than the teacher-forced, subword-level `approx_bleu`; this is
that number computed by sacreBLEU on plain text (its default 13a tokenization), reported with sacreBLEU's
signature so that it can be compared across papers and tools.

    scores = corpus_scores(hypotheses, references)
    print(scores.bleu_line)   # BLEU = 27.31 58.9/33.0/20.6/13.2 (BP = ...) | nrefs:1|case:mixed|...|version:2.6.0
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sacrebleu.metrics import BLEU, CHRF


@dataclass(frozen=True)
class CorpusScores:
    bleu: float  # 0..100
    chrf: float  # 0..100
    bleu_line: str  # sacreBLEU's summary line followed by its signature
    chrf_line: str


def corpus_scores(hypotheses: Sequence[str], references: Sequence[str]) -> CorpusScores:
    """Corpus BLEU and chrF of `hypotheses` against one reference each (same length, same order)."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    bleu, chrf = BLEU(), CHRF()
    bleu_result = bleu.corpus_score(list(hypotheses), [list(references)])
    chrf_result = chrf.corpus_score(list(hypotheses), [list(references)])
    return CorpusScores(
        bleu=float(bleu_result.score),
        chrf=float(chrf_result.score),
        bleu_line=f"{bleu_result} | {bleu.get_signature()}",
        chrf_line=f"{chrf_result} | {chrf.get_signature()}",
    )
