"""`train(cfg)`: build problem, data, model and Trainer from a composed config and fit (T2T's `t2t-trainer`
with `--schedule=continuous_train_and_eval`), returning the final eval metrics.

The Hydra entry points (`train.py`, `t2t-train`) call this; it is importable so tests, sweeps and notebooks
can run it on a config composed with `hydra.compose`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path
from typing import Any

import lightning as L
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint, RichProgressBar
from lightning.pytorch.utilities.exceptions import SIGTERMException
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from t2t_torch import registry
from t2t_torch.callbacks.decode_eval import decode_eval_callbacks
from t2t_torch.callbacks.from_config import early_stopping_callback, early_stopping_mode, instantiate_entries
from t2t_torch.callbacks.last_checkpoint import LastCheckpoint
from t2t_torch.callbacks.nonfinite_loss_guard import NonFiniteLossGuard
from t2t_torch.callbacks.rng_state import RngState
from t2t_torch.checkpoints.atomic_io import AtomicCheckpointIO, load_checkpoint_file
from t2t_torch.checkpoints.resume_point import find_resume_point
from t2t_torch.datamodules.datamodule import ProblemDataModule
from t2t_torch.errors import StoppedBySignal, T2TUserError
from t2t_torch.modalities import modality_class
from t2t_torch.models.t2t_module import T2TModule
from t2t_torch.optim import OptimConfig, accumulate_grad_batches, gradient_clip_val
from t2t_torch.problems.problem import Problem, check_data_dir
from t2t_torch.problems.settings import DATAMODULE_TARGET, problem_settings
from t2t_torch.run.final_report import print_final_metrics
from t2t_torch.run.run_lock import RunLock
from t2t_torch.run.writable import same_file

log = logging.getLogger(__name__)


def build_problem(cfg: DictConfig) -> Problem:
    settings = problem_settings(OmegaConf.to_container(cfg.problem, resolve=True))
    return registry.problem(cfg.problem.name, **settings)


def build_datamodule(cfg: DictConfig) -> ProblemDataModule:
    """The problem's LightningDataModule: its typed node instantiated (`_target_`, problems/settings.py) with the
    run's data_dir, batching and seed. A node without `_target_` (a run config stored before nodes had one) is
    served by the default DataModule."""
    node = cfg.problem if "_target_" in cfg.problem else OmegaConf.merge({"_target_": DATAMODULE_TARGET}, cfg.problem)
    try:
        return instantiate(node, data_dir=check_data_dir(cfg.data_dir), batching=cfg.hparams.get("batching"),
                           seed=cfg.seed, _convert_="all")
    except InstantiationException as error:  # Hydra wraps what the factory raised: a user's error stays one line
        if isinstance(error.__cause__, T2TUserError):
            raise error.__cause__ from None
        raise


def build_module(cfg: DictConfig, problem: Problem, data_dir: Path) -> T2TModule:
    return T2TModule(
        model_name=cfg.model.name,
        model_hparams=OmegaConf.to_container(cfg.hparams.model, resolve=True),
        optim_hparams=OmegaConf.to_container(cfg.hparams.optim, resolve=True),
        problem_spec=problem.spec(data_dir).as_dict(),
        problem_name=problem.name,
        modality_hparams=OmegaConf.to_container(cfg.hparams.get("modality") or {}, resolve=True),
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
    stopping = cfg.get("early_stopping") or {}
    monitor = stopping.get("monitor") or "eval/loss"  # the best checkpoint follows the early-stopping metric
    mode = early_stopping_mode(stopping) if stopping.get("monitor") else "min"
    callbacks: list[L.Callback] = [
        # No save_last and no version counter: last.ckpt has one writer (LastCheckpoint), and no file is ever
        # renamed to -v<N>, which a resume would not find (callbacks/last_checkpoint.py).
        ModelCheckpoint(dirpath=checkpoints, filename="best-{step}", monitor=monitor, mode=mode, save_top_k=1,
                        save_last=False, auto_insert_metric_name=False, enable_version_counter=False),
        NonFiniteLossGuard(),
        RngState(),
        *early_stopping_callback(stopping),
        *instantiate_entries(cfg.get("callbacks"), "callbacks"),
        *extra_callbacks,
    ]
    if cfg.get("keep_checkpoint_max", 0) > 0:  # T2T's flag: one checkpoint per validation, for t2t-avg-checkpoints
        callbacks.append(ModelCheckpoint(dirpath=checkpoints, filename="step-{step}", monitor="step", mode="max",
                                         save_top_k=cfg.keep_checkpoint_max, auto_insert_metric_name=False,
                                         enable_version_counter=False))
    callbacks.append(LastCheckpoint(checkpoints / "last.ckpt"))  # after the ModelCheckpoints: records their choice
    if trainer_args.get("enable_progress_bar", True) is not False:
        callbacks.append(RichProgressBar())
    loggers = instantiate_entries(cfg.get("logger"), "logger")
    if loggers:  # Lightning refuses a learning-rate monitor with nothing to log to
        callbacks.append(LearningRateMonitor(logging_interval="step"))
    return L.Trainer(**trainer_args, callbacks=callbacks, logger=loggers or False, plugins=[AtomicCheckpointIO()],
                     default_root_dir=output_dir)


def resolve_ckpt_path(cfg: DictConfig, output_dir: Path) -> Path | None:
    """The run dir's newest valid checkpoint when it has one (the run resumes: "run the same command again";
    checkpoints/resume_point.py), else an explicit `ckpt_path` (which so starts a run directory), else None. The
    run dir's checkpoint must be of this very run (`check_same_run`), since training writes over it; with
    `resume=false` it is refused."""
    folder = output_dir / "checkpoints"
    point = find_resume_point(folder)
    if point.path is None and point.skipped:
        reasons = "; ".join(f"{path.name}: {reason}" for path, reason in point.skipped.items())
        raise T2TUserError(f"run directory '{output_dir}' holds no readable checkpoint ({reasons}): move them aside"
                           f" (mv {folder} {folder}.unreadable) to start this run again, or pass"
                           " hydra.run.dir=<another folder>")
    if point.path is not None:
        if not cfg.get("resume", True):
            raise T2TUserError(f"run directory '{output_dir}' already holds checkpoints/{point.path.name}, which"
                               " this run would overwrite: pass resume=true to continue it, or"
                               " hydra.run.dir=<another folder>")
        check_same_run(point.path, cfg)
        if (choice := point.describe_choice()) is not None:
            log.warning("%s: %s", output_dir, choice)
        if cfg.get("ckpt_path") and not same_file(Path(cfg.ckpt_path).expanduser(), point.path):
            log.warning("Resuming from the run's own %s, not from ckpt_path=%s (that one started this run); to start"
                        " again from it, pass hydra.run.dir=<another folder>", point.path, cfg.ckpt_path)
        return point.path
    if cfg.get("ckpt_path"):
        path = Path(cfg.ckpt_path).expanduser()
        load_checkpoint_file(path, mmap=True)  # a missing or unreadable file: one line before any data is prepared
        return path
    return None


def warm_start_module(cfg: DictConfig, module: T2TModule, problem: Problem, data_dir: Path) -> None:
    """`init_from`: the weights of another run's checkpoint, mapped onto this model (run/warm_start.py)."""
    from t2t_torch.checkpoints.best import resolve_checkpoint
    from t2t_torch.run.warm_start import warm_start

    try:
        encoders = problem.feature_encoders(data_dir)
    except NotImplementedError:
        encoders = {}
    labels = {name for name, feature in module.spec.features.items() if modality_class(feature.modality).labels}
    warm_start(module.model, cfg.model.name, resolve_checkpoint(cfg.init_from), encoders, labels)


def check_same_run(last: Path, cfg: DictConfig) -> None:
    """One line when the run directory's last.ckpt was trained with another config (T2T refused a changed hparams
    set in an existing output_dir): settings that may change on resume (`run_identity.RESUMABLE_KEYS`) aside."""
    from t2t_torch.checkpoints.record import CheckpointRecord

    # None: a checkpoint without its config (not written by t2t-train): check_checkpoint_matches decides
    differences = CheckpointRecord.load(last).run_differences(OmegaConf.to_container(cfg, resolve=True))
    if differences:
        raise T2TUserError(f"run directory '{last.parents[1]}' holds a run with other settings"
                           f" ({'; '.join(differences)}):"
                           " repeat that run's command to resume it, or pass hydra.run.dir=<another folder>")


def check_checkpoint_matches(path: Path, module: T2TModule) -> None:
    """One clear line when a checkpoint comes from another model, hparams set, problem (name or settings) or
    vocabulary (naming the checkpoint and the vocabulary file)."""
    from t2t_torch.checkpoints.record import CheckpointRecord
    from t2t_torch.models.checkpoint_vocabulary import check_vocab_files

    saved, built = CheckpointRecord.load(path), CheckpointRecord.from_hparams(module.hparams)
    mismatch = saved.mismatch(built, skip=("vocab_hashes",))
    if mismatch:
        raise T2TUserError(f"checkpoint '{path}' was trained with {mismatch}: pass the model/hparams/problem it was"
                           " trained with, or another ckpt_path")
    check_vocab_files(path, saved.vocab_hashes, built.problem(), built.data_dir,
                      "pass the data_dir it was trained with, or another ckpt_path (or output_dir)")


def train(cfg: DictConfig) -> dict[str, float]:
    """Train as configured; returns the final eval metrics (e.g. {"eval/accuracy_per_sequence": 0.99, ...}).
    Raises `StoppedBySignal` after SIGTERM or SIGINT (last.ckpt saved: the same call again resumes), and a one-line
    `T2TUserError` when another process trains in the same run directory (run/run_lock.py)."""
    started = time.monotonic()
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    output_dir = Path(cfg.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    lock = RunLock(output_dir) if rank_zero_only.rank == 0 else contextlib.nullcontext()
    with lock:  # one training process per run directory
        return _train_locked(cfg, output_dir, started)


def _train_locked(cfg: DictConfig, output_dir: Path, started: float) -> dict[str, float]:
    ckpt_path = resolve_ckpt_path(cfg, output_dir)  # before any work: a run dir of another run is refused
    datamodule = build_datamodule(cfg)
    problem = datamodule.problem
    problem.generate_data(datamodule.data_dir)  # vocabularies size the model; file locks make this DDP-safe
    module = build_module(cfg, problem, datamodule.data_dir)
    if ckpt_path is not None:
        check_checkpoint_matches(ckpt_path, module)
        log.info("Resuming from %s", ckpt_path)
        if cfg.get("init_from"):
            log.info("init_from=%s is not read: the run resumes from %s, which started from it", cfg.init_from,
                     ckpt_path)
    elif cfg.get("init_from"):
        warm_start_module(cfg, module, problem, datamodule.data_dir)
    OmegaConf.save(cfg, output_dir / "config.yaml", resolve=True)
    trainer = build_trainer(cfg, output_dir, decode_eval_callbacks(cfg))
    last = next(c for c in trainer.callbacks if isinstance(c, LastCheckpoint))
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    except SIGTERMException:
        raise StoppedBySignal(trainer.global_step, str(last.path), last.received_signal) from None
    metrics: dict[str, float] = {}
    if cfg.get("eval_at_end", True) and not trainer.fast_dev_run and trainer.limit_val_batches != 0:
        try:
            results = trainer.validate(module, datamodule=datamodule, verbose=False)
        except SIGTERMException:  # training is complete and saved; only the final evaluation is missing
            raise StoppedBySignal(trainer.global_step, str(last.path)) from None
        metrics = {k: float(v) for k, v in results[0].items()} if results else {}
    metrics["padding_fraction"] = datamodule.padding_fraction()
    if trainer.is_global_zero:
        print_final_metrics(metrics, output_dir, steps=trainer.global_step, seconds=time.monotonic() - started)
    return metrics
