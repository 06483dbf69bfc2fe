"""Classification metrics as a torchmetrics `Metric` (ports T2T's image/class defaults: accuracy, accuracy_top5,
plus loss): sums, so they reduce correctly across data-parallel processes."""

from __future__ import annotations

import torch
from torchmetrics import Metric

CLASS_METRICS = ("loss", "accuracy", "accuracy_top5")


class ClassMetrics(Metric):
    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        for name in ("loss_sum", "correct", "correct_top5", "count"):
            self.add_state(name, default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, logits: torch.Tensor, targets: torch.Tensor, loss_sum: torch.Tensor,
               weight: torch.Tensor | None = None) -> None:
        """logits (B, C), targets (B,), loss_sum: the loss summed over the batch's examples (`weight`: their count,
        taken from the targets here)."""
        top = logits.topk(min(5, logits.size(-1)), dim=-1).indices  # (B, k)
        self.loss_sum += loss_sum.detach().double()
        self.correct += (top[:, 0] == targets).sum()
        self.correct_top5 += (top == targets.unsqueeze(1)).any(1).sum()
        self.count += targets.numel()

    def compute(self) -> dict[str, torch.Tensor]:
        count = self.count.clamp(min=1)
        out = {"loss": self.loss_sum / count, "accuracy": self.correct / count,
               "accuracy_top5": self.correct_top5 / count}
        return {k: v.float() for k, v in out.items()}


class LossMetric(Metric):
    """The loss alone (real-valued targets): its sum over the weight, e.g. the mean squared error."""

    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        self.add_state("loss_sum", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("weight", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, logits: torch.Tensor, targets: torch.Tensor, loss_sum: torch.Tensor, weight: torch.Tensor) -> None:
        self.loss_sum += loss_sum.detach().double()
        self.weight += weight.detach().double()

    def compute(self) -> dict[str, torch.Tensor]:
        return {"loss": (self.loss_sum / self.weight.clamp(min=1)).float()}
