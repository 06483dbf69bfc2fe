"""The metrics a run logs, known before it runs, and which way each is better: what an early-stopping monitor, the
best-checkpoint monitor and a sweep's objective may name (T2T's `--eval_early_stopping_metric` and
`--autotune_objective` read the same names)."""

from __future__ import annotations

from collections.abc import Iterable

LOWER_IS_BETTER = frozenset({"loss", "edit_distance", "perplexity", "perplexity_per_word", "wer", "cer"})
HIGHER_IS_BETTER = frozenset({"accuracy", "accuracy_per_sequence", "accuracy_top5", "neg_log_perplexity", "bleu",
                              "approx_bleu_score", "chrf", "rouge_1_fscore", "rouge_2_fscore", "rouge_L_fscore"})


def eval_metric_names(problem_eval_metrics: Iterable[str], decode_eval_every: int = 0,
                      decode_metrics: Iterable[str] = ("bleu", "chrf")) -> list[str]:
    """The `eval/*` names logged by every evaluation of a run (the decode metrics only when every evaluation
    decodes)."""
    names = ["eval/loss", *(f"eval/{m}" for m in problem_eval_metrics if m != "loss")]
    return names + ([f"eval/{m}" for m in decode_metrics] if int(decode_eval_every or 0) == 1 else [])


def better(metric: str) -> str | None:
    """'min' or 'max' for a logged metric name ('eval/loss' -> 'min'), None when unknown."""
    name = metric.rsplit("/", 1)[-1]
    return "min" if name in LOWER_IS_BETTER else "max" if name in HIGHER_IS_BETTER else None
