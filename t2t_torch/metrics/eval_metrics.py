"""The teacher-forced eval metrics of a problem, by the kind its target modality names (`Modality.eval_metrics`:
"sequence", "class" or "loss"), so the LightningModule asks the modality instead of comparing modality names.

Every kind is a torchmetrics `Metric` with one update signature, `update(logits, targets, loss_sum, weight)` (`weight`:
what the loss was averaged over, tokens or examples), and `compute()` returning {name: value} logged as `eval/<name>`.
"""

from __future__ import annotations

from collections.abc import Callable

from torchmetrics import Metric

from t2t_torch.errors import T2TUserError
from t2t_torch.metrics.class_metrics import ClassMetrics, LossMetric
from t2t_torch.metrics.sequence_metrics import SequenceMetrics
from t2t_torch.spec import ProblemSpec


def _sequence(spec: ProblemSpec) -> Metric:
    return SequenceMetrics(with_edit_distance="edit_distance" in spec.eval_metrics,
                           pad_id=int(spec.targets.pad_value), tokens_per_word=spec.extra.get("tokens_per_word"))


EVAL_METRICS: dict[str, Callable[[ProblemSpec], Metric]] = {
    "sequence": _sequence,  # per token and per sequence: accuracy, log-perplexity, edit distance (T2T's defaults)
    "class": lambda spec: ClassMetrics(),  # accuracy, top-5 accuracy, loss
    "loss": lambda spec: LossMetric(),  # the loss alone (real-valued targets)
}


def eval_metrics_for(kind: str, spec: ProblemSpec) -> Metric:
    """The eval metrics of `kind` for problem `spec`."""
    if kind not in EVAL_METRICS:
        raise T2TUserError(f"no eval metrics of kind '{kind}': a modality's eval_metrics is one of"
                           f" {', '.join(EVAL_METRICS)}")
    return EVAL_METRICS[kind](spec)
