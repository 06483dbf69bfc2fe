"""The LightningModule of every model family (T2T's `T2TModel.estimator_model_fn`, without the god class).

It builds the registered body inside the generic `T2TModel` (bottom -> body -> top -> loss) from names, the problem
spec and plain dicts — so `load_from_checkpoint` and decoding rebuild everything from the checkpoint alone — and
owns what surrounds the network: the optimizer and learning-rate schedule (`t2t_torch.optim`) and the eval metrics
of the kind the target modality names (`Modality.eval_metrics`, metrics/eval_metrics.py: sequences, class labels, or the
loss alone).
The loss is the target modality's (`forward` returns it, as T2T's model_fn returns `(logits, losses)`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightning as L
import torch

from t2t_torch import registry
from t2t_torch.errors import T2TUserError
from t2t_torch.metrics.eval_metrics import eval_metrics_for
from t2t_torch.modalities import modality_class
from t2t_torch.models.checkpoint_vocabulary import VOCABULARIES_KEY, read_vocabularies
from t2t_torch.models.t2t_model import T2TModel, build_model
from t2t_torch.optim import OptimConfig, build_lr_scheduler, build_optimizer
from t2t_torch.spec import ProblemSpec

# What makes two checkpoints the same network on the same data (key -> what a message calls it): saved
# hyper_parameters, and the problem's settings from the run config (other settings build other data).
IDENTITY_HPARAMS = {"model_name": "model", "model_hparams": "model hparams", "problem_name": "problem",
                    "problem_settings": "problem settings", "problem_spec": "problem spec (features, sizes)",
                    "modality_hparams": "modality hparams",
                    "vocab_hashes": "vocabulary (sha256 per feature)"}


def identity(hparams: Mapping[str, Any]) -> dict[str, Any]:
    """The IDENTITY_HPARAMS values of a checkpoint's (or module's) hyper_parameters."""
    settings = dict((hparams.get("run_config") or {}).get("problem") or {})
    settings.pop("name", None)  # the problem's name is `problem_name` (with `_rev`)
    settings.pop("_target_", None)  # what builds its DataModule (problems/settings.py): no setting of the problem
    return {key: settings if key == "problem_settings" else hparams.get(key) for key in IDENTITY_HPARAMS}


def identity_mismatch(saved: Mapping[str, Any], expected: Mapping[str, Any], skip: tuple[str, ...] = ()) -> str | None:
    """'another <what> (<saved> vs <expected>)' for the first identity value that differs (keys in `skip` are not
    compared), else None; for dicts only the differing keys are named."""
    saved_identity, expected_identity = identity(saved), identity(expected)
    for key, what in IDENTITY_HPARAMS.items():
        if key not in skip and saved_identity[key] != expected_identity[key]:
            return f"another {what} ({_difference(saved_identity[key], expected_identity[key])})"
    return None


def _difference(saved: Any, expected: Any) -> str:
    if not (isinstance(saved, Mapping) and isinstance(expected, Mapping)):
        return f"{saved!r} vs {expected!r}"
    keys = [k for k in dict.fromkeys([*saved, *expected]) if saved.get(k, "<unset>") != expected.get(k, "<unset>")]
    return "; ".join(f"{k}: {saved.get(k, '<unset>')!r} vs {expected.get(k, '<unset>')!r}" for k in keys[:3])


def spec_from_hparams(hparams: Mapping[str, Any], where: str = "the checkpoint") -> ProblemSpec:
    """The problem spec a module or checkpoint was built with; a one-line error for checkpoints written before
    specs (they recorded `problem_info`): those are not converted, retrain them."""
    recorded = hparams.get("problem_spec")
    if recorded is None:
        raise T2TUserError(f"{where} was written by an older t2t-torch (it records problem_info, not a problem spec):"
                           " retrain it with this version (old checkpoints are not converted)")
    try:
        return ProblemSpec.from_dict(recorded)
    except (KeyError, TypeError, ValueError) as error:
        raise T2TUserError(f"{where} holds an unreadable problem spec ({error}): is it corrupt?") from None


class T2TModule(L.LightningModule):
    def __init__(
        self,
        model_name: str,
        model_hparams: Mapping[str, Any],
        optim_hparams: Mapping[str, Any],
        problem_spec: Mapping[str, Any],
        problem_name: str = "",
        modality_hparams: Mapping[str, Any] | None = None,
        run_config: Mapping[str, Any] | None = None,
        vocab_hashes: Mapping[str, str] | None = None,
    ) -> None:
        """All arguments are plain containers (saved as the checkpoint's hyper_parameters, loadable with
        `weights_only=True`); `problem_spec` is `ProblemSpec.as_dict()`; `run_config` is the composed Hydra config
        of the run, kept for reproducibility; `vocab_hashes` the sha256 of each feature's vocabulary file
        (`Problem.vocab_hashes`), so that consumers refuse a vocabulary rebuilt under the same name."""
        super().__init__()
        self.save_hyperparameters()
        self.spec = spec_from_hparams(self.hparams, "this module")
        self.model: T2TModel = build_model(registry.model_class(model_name), dict(model_hparams), self.spec,
                                           dict(modality_hparams or {}), model_name, problem_name)
        self.optim_config = OptimConfig.from_mapping(optim_hparams)
        self.val_metrics = eval_metrics_for(modality_class(self.spec.targets.modality).eval_metrics, self.spec)
        self.vocabularies: dict[str, dict[str, str]] = {}  # stored in every checkpoint (checkpoint_vocabulary.py)

    def on_fit_start(self) -> None:
        """Read the vocabulary files the module was built with (checked against `vocab_hashes`) from the problem
        data, so that every checkpoint stores them and decodes without its data_dir."""
        datamodule = getattr(self.trainer, "datamodule", None)
        problem, data_dir = getattr(datamodule, "problem", None), getattr(datamodule, "data_dir", None)
        if problem is not None and data_dir is not None and self.hparams.get("vocab_hashes") is not None:
            self.vocabularies = read_vocabularies(problem, data_dir, self.hparams["vocab_hashes"])

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if self.vocabularies:
            checkpoint[VOCABULARIES_KEY] = self.vocabularies

    def forward(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.model(batch)

    def training_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        out = self.model(batch)
        batch_size = batch["targets"].size(0)
        self.log("train/loss", out["loss"], prog_bar=True, batch_size=batch_size)
        counted = "tokens" if self.spec.targets.is_variable_length else "examples"  # what the loss is averaged over
        self.log(f"train/{counted}", out["num_tokens"], reduce_fx="sum", batch_size=batch_size)
        return out["loss"]

    def validation_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> None:
        out = self.model(batch)
        loss_sum = out["loss"] * out["num_tokens"]
        self.val_metrics.update(out["logits"], batch["targets"], loss_sum, out["num_tokens"])

    def on_validation_epoch_end(self) -> None:
        metrics = self.val_metrics.compute()
        for name, value in metrics.items():  # torchmetrics already reduced the sums: every rank holds the same value
            self.log(f"eval/{name}", value, prog_bar=name in ("accuracy_per_sequence", "accuracy"), sync_dist=True)
        self.val_metrics.reset()

    test_step = validation_step
    on_test_epoch_end = on_validation_epoch_end

    def configure_optimizers(self) -> dict[str, Any]:
        optimizer = build_optimizer(self.model.named_parameters(), self.optim_config)
        train_steps = self.trainer.max_steps
        if self.trainer.fast_dev_run:  # Lightning's max_steps is then the debug batches; plan the run's own schedule
            train_steps = ((self.hparams.get("run_config") or {}).get("trainer") or {}).get("max_steps", -1)
        train_steps = train_steps if train_steps and train_steps > 0 else None
        hidden_size = self.model.hidden_size
        scheduler = build_lr_scheduler(optimizer, self.optim_config, hidden_size, train_steps=train_steps)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step", "name": "lr"}}
