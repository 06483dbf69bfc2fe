"""Teacher-forced sequence metrics as a torchmetrics `Metric` (ports T2T's `utils/metrics.py` defaults for
Text2Text problems: accuracy, accuracy_per_sequence, neg_log_perplexity, plus loss, perplexity (per token, and per
word for language models) and edit_distance).

All metrics are computed from the logits of the teacher-forced forward pass, as T2T's eval does; padding (id 0) is
ignored. States are sums, so they reduce correctly across data-parallel processes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchmetrics import Metric
from torchmetrics.functional.text import edit_distance as token_edit_distance

SEQUENCE_METRICS = ("loss", "accuracy", "accuracy_per_sequence", "neg_log_perplexity", "perplexity",
                    "perplexity_per_word", "edit_distance")


class SequenceMetrics(Metric):
    full_state_update = False

    def __init__(self, with_edit_distance: bool = False, pad_id: int = 0, tokens_per_word: float | None = None) -> None:
        """`tokens_per_word`: a language model's tokens per word on its eval split (with EOS), for the per-word
        perplexity; None leaves that metric out."""
        super().__init__()
        self.with_edit_distance = with_edit_distance
        self.pad_id = pad_id
        self.tokens_per_word = tokens_per_word
        for name in ("loss_sum", "log_prob_sum", "correct_tokens", "num_tokens", "correct_sequences",
                     "num_sequences", "edit_distance_sum", "target_length_sum"):
            self.add_state(name, default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, logits: torch.Tensor, targets: torch.Tensor, loss_sum: torch.Tensor,
               weight: torch.Tensor | None = None) -> None:
        """logits (B, T, V), targets (B, T), loss_sum: the training loss summed over this batch's tokens (`weight`,
        what the loss was averaged over, is counted here from the targets' padding)."""
        weights = targets != self.pad_id  # (B, T)
        predictions = logits.argmax(-1)
        correct = (predictions == targets) & weights
        log_probs = -F.cross_entropy(logits.float().transpose(1, 2), targets, reduction="none")  # (B, T)
        self.loss_sum += loss_sum.detach().double()
        self.log_prob_sum += (log_probs * weights).sum().double()
        self.correct_tokens += correct.sum()
        self.num_tokens += weights.sum()
        self.correct_sequences += (correct | ~weights).all(dim=1).sum()
        self.num_sequences += targets.size(0)
        if self.with_edit_distance:
            self._update_edit_distance(predictions, targets, weights)

    def _update_edit_distance(self, predictions: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> None:
        # T2T: Levenshtein distance of the argmax sequence to the target, over the summed target lengths.
        # torchmetrics measures characters, so each token id becomes one character (astral plane: no surrogates).
        lengths = weights.sum(1).tolist()
        as_text = lambda row, n: "".join(chr(0x10000 + t) for t in row[:n])  # noqa: E731
        preds = [as_text(p, n) for p, n in zip(predictions.tolist(), lengths, strict=True)]
        refs = [as_text(t, n) for t, n in zip(targets.tolist(), lengths, strict=True)]
        self.edit_distance_sum += token_edit_distance(preds, refs, reduction="sum").double()
        self.target_length_sum += weights.sum()

    def compute(self) -> dict[str, torch.Tensor]:
        tokens = self.num_tokens.clamp(min=1)
        out = {
            "loss": self.loss_sum / tokens,
            "accuracy": self.correct_tokens / tokens,
            "accuracy_per_sequence": self.correct_sequences / self.num_sequences.clamp(min=1),
            "neg_log_perplexity": self.log_prob_sum / tokens,
            "perplexity": torch.exp(-self.log_prob_sum / tokens),
        }
        if self.tokens_per_word:
            out["perplexity_per_word"] = torch.exp(-self.log_prob_sum / tokens * self.tokens_per_word)
        if self.with_edit_distance:
            out["edit_distance"] = self.edit_distance_sum / self.target_length_sum.clamp(min=1)
        return {k: v.float() for k, v in out.items()}
