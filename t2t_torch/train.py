"""`train(cfg)`: build problem, data, model and Trainer from a composed config and fit (T2T's `t2t-trainer`
with `--schedule=continuous_train_and_eval`), returning the final eval metrics.

The Hydra entry points (`train.py`, `t2t-train`) call this; it is importable so tests, sweeps and notebooks
can run it on a config composed with `hydra.compose`.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint, RichProgressBar
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf

from t2t_torch import registry
from t2t_torch.callbacks.atomic_checkpoint_io import AtomicCheckpointIO, load_checkpoint_file
from t2t_torch.callbacks.bleu_eval import bleu_eval_callbacks
from t2t_torch.callbacks.nonfinite_loss_guard import NonFiniteLossGuard
from t2t_torch.callbacks.last_checkpoint import LastCheckpoint
from t2t_torch.datamodules.batching import BatchingConfig
from t2t_torch.datamodules.datamodule import ProblemDataModule
from t2t_torch.datamodules.problem import Problem, check_data_dir
from t2t_torch.errors import T2TUserError
from t2t_torch.hparams import dataclass_from_mapping
from t2t_torch.models.text2text_module import Text2TextModule, identity_mismatch
from t2t_torch.optim import OptimConfig, accumulate_grad_batches, gradient_clip_val
from t2t_torch.report import print_final_metrics

log = logging.getLogger(__name__)


def build_problem(cfg: DictConfig) -> Problem:
    settings = {k: v for k, v in OmegaConf.to_container(cfg.problem, resolve=True).items() if k != "name"}
    return registry.problem(cfg.problem.name, **settings)


def build_datamodule(cfg: DictConfig, problem: Problem) -> ProblemDataModule:
    batching = dataclass_from_mapping(BatchingConfig, cfg.hparams.get("batching"), "batching")
    return ProblemDataModule(problem, check_data_dir(cfg.data_dir), batching, seed=cfg.seed)


def build_module(cfg: DictConfig, problem: Problem, data_dir: Path) -> Text2TextModule:
    return Text2TextModule(
        model_name=cfg.model.name,
        model_hparams=OmegaConf.to_container(cfg.hparams.model, resolve=True),
        optim_hparams=OmegaConf.to_container(cfg.hparams.optim, resolve=True),
        problem_info=problem.info().as_dict(),
        problem_name=problem.name,
        eval_metrics=list(problem.eval_metrics),
        run_config=OmegaConf.to_container(cfg, resolve=True),
        vocab_hashes=problem.vocab_hashes(data_dir),
    )


def build_trainer(cfg: DictConfig, output_dir: Path, extra_callbacks: list[L.Callback] = ()) -> L.Trainer:
    trainer_args: dict[str, Any] = OmegaConf.to_container(cfg.trainer, resolve=True)
    optim = OptimConfig.from_mapping(cfg.hparams.optim)
    if trainer_args.get("accumulate_grad_batches", 1) == 1:
        trainer_args["accumulate_grad_batches"] = accumulate_grad_batches(optim)
    if trainer_args.get("gradient_clip_val") is None:
        trainer_args["gradient_clip_val"] = gradient_clip_val(optim)
    checkpoints = output_dir / "checkpoints"
    callbacks: list[L.Callback] = [
        ModelCheckpoint(dirpath=checkpoints, filename="best-{step}", monitor="eval/loss", mode="min", save_top_k=1,
                        save_last=True, auto_insert_metric_name=False),
        LastCheckpoint(checkpoints / "last.ckpt"),
        NonFiniteLossGuard(),
        LearningRateMonitor(logging_interval="step"),
        *extra_callbacks,
    ]
    if cfg.get("keep_checkpoint_max", 0) > 0:  # T2T's flag: one checkpoint per validation, for t2t-avg-checkpoints
        callbacks.append(ModelCheckpoint(dirpath=checkpoints, filename="step-{step}", monitor="step", mode="max",
                                         save_top_k=cfg.keep_checkpoint_max, auto_insert_metric_name=False))
    if trainer_args.get("enable_progress_bar", True) is not False:
        callbacks.append(RichProgressBar())
    loggers = [TensorBoardLogger(output_dir, name="tensorboard"), CSVLogger(output_dir, name="csv")]
    return L.Trainer(**trainer_args, callbacks=callbacks, logger=loggers, plugins=[AtomicCheckpointIO()],
                     default_root_dir=output_dir)


def resolve_ckpt_path(cfg: DictConfig, output_dir: Path) -> Path | None:
    """An explicit `ckpt_path`, else (with `resume=true`) the run dir's own last.ckpt, else None."""
    if cfg.get("ckpt_path"):
        return Path(cfg.ckpt_path).expanduser()
    last = output_dir / "checkpoints" / "last.ckpt"
    return last if cfg.get("resume", True) and last.is_file() else None


def check_checkpoint_matches(path: Path, module: Text2TextModule) -> None:
    """One clear line when a checkpoint comes from another model, hparams set or problem."""
    mismatch = identity_mismatch(load_checkpoint_file(path).get("hyper_parameters", {}), module.hparams)
    if mismatch:
        raise T2TUserError(f"checkpoint '{path}' was trained with {mismatch}: pass the model/hparams/problem it was"
                           " trained with, or another ckpt_path")


def train(cfg: DictConfig) -> dict[str, float]:
    """Train as configured; returns the final eval metrics (e.g. {"eval/accuracy_per_sequence": 0.99, ...})."""
    started = time.monotonic()
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    output_dir = Path(cfg.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    problem = build_problem(cfg)
    datamodule = build_datamodule(cfg, problem)
    problem.generate_data(datamodule.data_dir)  # vocabularies size the model; file locks make this DDP-safe
    module = build_module(cfg, problem, datamodule.data_dir)
    ckpt_path = resolve_ckpt_path(cfg, output_dir)
    if ckpt_path is not None:
        check_checkpoint_matches(ckpt_path, module)
        log.info("Resuming from %s", ckpt_path)
    OmegaConf.save(cfg, output_dir / "config.yaml", resolve=True)
    trainer = build_trainer(cfg, output_dir, bleu_eval_callbacks(cfg))
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    except SIGTERMException:
        log.warning("Stopped by SIGTERM at step %d; rerun the same command to resume.", trainer.global_step)
        return {}
    metrics: dict[str, float] = {}
    if cfg.get("eval_at_end", True) and not trainer.fast_dev_run and trainer.limit_val_batches != 0:
        results = trainer.validate(module, datamodule=datamodule, verbose=False)
        metrics = {k: float(v) for k, v in results[0].items()} if results else {}
    metrics["padding_fraction"] = datamodule.padding_fraction()
    if trainer.is_global_zero:
        print_final_metrics(metrics, output_dir, steps=trainer.global_step, seconds=time.monotonic() - started)
    return metrics

