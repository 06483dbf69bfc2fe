"""Real decode metrics during training: every N validations, decode a sample of the dev split and log
`eval/<metric>` for each of the problem's decode metrics (`ProblemSpec.decode_metrics`: bleu, chrf, rouge_*,
wer; BLEU and chrF when the problem names none).

Replaces T2T's in-training `approx_bleu_score` (teacher-forced, on subword ids: the README says not to report it)
and the BLEU hook of its `train_eval_and_decode` schedule: the sample is decoded autoregressively with the
model's incremental cache (`t2t_torch.inference.search.decode_sequences`), detokenized with the problem's
`feature_encoders`, and scored by `t2t_torch.metrics.decode_scores` (sacreBLEU, torchmetrics). Enabled in
`train.yaml` by `decode_eval.every=N` (0: off), with `decode_eval.samples` examples evenly spread over the dev split
and `decode_eval.beam_size` (1: greedy, the cheapest); `decode_eval.ctc_weight` is `decode.ctc_weight` for these
decodes (a speech model's CTC head in the search: inference/speech_search.py). The keys were `eval_bleu_every`,
`eval_bleu_samples`, `eval_bleu_beam_size` and `eval_bleu_ctc_weight` before they were named for what they do (they
log BLEU, chrF, ROUGE, WER or CER, whichever the problem's decode metrics are): the old names are one-line errors
naming the new ones (run/config_check.py), and a checkpoint written under the old callback name resumes its count.
Runs on global rank 0 only; the other ranks wait at the next collective as they would for a checkpoint write.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import lightning as L
import numpy as np
from omegaconf import DictConfig

from t2t_torch.errors import T2TUserError
from t2t_torch.inference.decode_config import DecodeConfig
from t2t_torch.inference.search import decode_sequences
from t2t_torch.inference.speech_search import check_ctc_head, check_ctc_weight
from t2t_torch.metrics.decode_scores import DEFAULT_TEXT_METRICS, decode_scores
from t2t_torch.models.family import Family

log = logging.getLogger(__name__)


# The callback's name in checkpoints written before it was named for decoding (its state: the validation count).
OLD_STATE_KEY = "BleuEval"


class DecodeEval(L.Callback):
    def __init__(self, every: int, num_samples: int = 200, config: DecodeConfig | None = None) -> None:
        if every < 1 or num_samples < 1:
            raise T2TUserError(f"decode_eval.every and decode_eval.samples must be >= 1, got {every} and"
                               f" {num_samples}")
        self.every = every
        self.num_samples = num_samples
        self.config = config or DecodeConfig(beam_size=1)
        self.validations = 0
        self.encoders: dict[str, Any] | None = None
        self.last_bleu: float | None = None

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        model = pl_module.model
        if not model.targets_modality.sequence_top or model.family != Family.ENCODER_DECODER:
            raise T2TUserError(f"decode_eval.every decodes dev inputs into text: {model.family} models of"
                               f" {model.spec.targets.modality} targets do not; set decode_eval.every=0")
        check_ctc_head(model, self.config.ctc_weight, "decode_eval.ctc_weight")
        datamodule = trainer.datamodule
        try:
            self.encoders = datamodule.problem.feature_encoders(datamodule.data_dir)
        except NotImplementedError:
            raise T2TUserError(f"decode_eval.every is for text problems; {datamodule.problem.name} has no text"
                               " encoders: set decode_eval.every=0") from None

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or self.encoders is None:
            return
        self.validations += 1
        if self.validations % self.every or not trainer.is_global_zero:
            return
        scores = self.score(trainer.datamodule, pl_module)
        self.last_bleu = scores.get("bleu")
        for name, value in scores.items():
            pl_module.log(f"eval/{name}", value, rank_zero_only=True)

    def score(self, datamodule: Any, pl_module: L.LightningModule) -> dict[str, float]:
        """The decode metrics of an evenly spread sample of the eval split."""
        dataset = datamodule.datasets[datamodule.eval_split()]
        count = min(self.num_samples, len(dataset))
        indices = np.linspace(0, len(dataset) - 1, count).round().astype(int) if count else []
        examples = [dataset[int(i)] for i in indices]
        hypotheses = decode_sequences(pl_module.model, [e["inputs"].tolist() for e in examples],
                                      pl_module.spec.targets.vocab_size, self.config, pl_module.device)
        targets = self.encoders["targets"]
        outputs = [targets.decode(h[0]) for h in hypotheses]
        references = [targets.decode(e["targets"]) for e in examples]
        scores = decode_scores(outputs, references, pl_module.spec.decode_metrics or DEFAULT_TEXT_METRICS)
        log.info("decode metrics on %d dev examples: %s", count, ", ".join(f"{k} {v:.2f}" for k, v in scores.items()))
        return scores

    def state_dict(self) -> dict[str, Any]:
        return {"validations": self.validations}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        self.validations = int(state_dict.get("validations", 0))

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        """A checkpoint written under the old callback name: its state, which Lightning looks up by the new one."""
        states = checkpoint.get("callbacks") or {}
        if self.state_key not in states and OLD_STATE_KEY in states:
            self.load_state_dict(states[OLD_STATE_KEY])


def decode_eval_callbacks(cfg: DictConfig) -> list[L.Callback]:
    """[DecodeEval] when the train config sets `decode_eval.every` > 0, else []."""
    node = cfg.get("decode_eval") or {}
    every = int(node.get("every") or 0)
    if every <= 0:
        return []
    ctc_weight = node.get("ctc_weight") or 0.0
    check_ctc_weight(ctc_weight, "decode_eval.ctc_weight")
    config = DecodeConfig(beam_size=int(node.get("beam_size") or 1), ctc_weight=ctc_weight)
    return [DecodeEval(every, int(node.get("samples") or 200), config)]
