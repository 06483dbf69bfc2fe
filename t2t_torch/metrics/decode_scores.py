"""Scores of real decodes against references, by T2T metric name (T2T's `decode_hooks` / `t2t-bleu` / ROUGE / WER).

`decode_scores(hypotheses, references, names)` computes each named metric on plain text: `bleu` and `chrf` with
sacreBLEU (see `bleu.py`), `rouge_1_fscore`, `rouge_2_fscore`, `rouge_L_fscore` with torchmetrics' ROUGEScore
(T2T's names; 0..100 like BLEU), `wer` and `cer` with torchmetrics' word and character error rates (0..100, lower
is better; edits over the reference's words or characters, spaces included), `accuracy` as the share of exact
matches (a classifier's labels; 0..1). A problem lists its names in `ProblemSpec.decode_metrics`; text problems
without a list get bleu and chrf.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from t2t_torch.errors import T2TUserError
from t2t_torch.metrics.bleu import corpus_scores

ROUGE = {"rouge_1_fscore": "rouge1", "rouge_2_fscore": "rouge2", "rouge_L_fscore": "rougeL"}
DECODE_METRICS = ("bleu", "chrf", *ROUGE, "wer", "cer", "accuracy")
DEFAULT_TEXT_METRICS = ("bleu", "chrf")


def decode_scores(hypotheses: Sequence[str], references: Sequence[str], names: Iterable[str]) -> dict[str, float]:
    """{name: score} for each of `names` (one reference per hypothesis, same order)."""
    names = list(dict.fromkeys(names))
    unknown = [n for n in names if n not in DECODE_METRICS]
    if unknown:
        raise T2TUserError(f"unknown decode metric {', '.join(unknown)}: known are {', '.join(DECODE_METRICS)}")
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    scores: dict[str, float] = {}
    if {"bleu", "chrf"} & set(names):
        corpus = corpus_scores(hypotheses, references)
        scores.update({"bleu": corpus.bleu, "chrf": corpus.chrf})
    rouge = [n for n in names if n in ROUGE]
    if rouge:
        from torchmetrics.text.rouge import ROUGEScore

        metric = ROUGEScore(rouge_keys=tuple(ROUGE[n] for n in rouge))
        result = metric(list(hypotheses), list(references))
        scores.update({n: 100.0 * float(result[f"{ROUGE[n]}_fmeasure"]) for n in rouge})
    if "wer" in names:
        from torchmetrics.functional.text import word_error_rate

        scores["wer"] = 100.0 * float(word_error_rate(list(hypotheses), list(references)))
    if "cer" in names:
        from torchmetrics.functional.text import char_error_rate

        scores["cer"] = 100.0 * float(char_error_rate(list(hypotheses), list(references)))
    if "accuracy" in names:
        scores["accuracy"] = sum(h == r for h, r in zip(hypotheses, references, strict=True)) / max(len(references), 1)
    return {n: scores[n] for n in names}
