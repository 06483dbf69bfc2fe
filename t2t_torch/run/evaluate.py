"""`evaluate(cfg)`: the metrics of a trained checkpoint on one split of its problem, without training (T2T's
`t2t-eval` and `--schedule=evaluate`). `python train.py <the training command> mode=eval` evaluates that run's
last.ckpt on the dev split; `ckpt_path=` names another checkpoint and `eval_split=test` the test split. Every
metric of the problem is reported (the same `eval/*` names training logs) and written as JSON beside the
checkpoint's run (`<run dir>/eval/<split>-step<S>.json`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import lightning as L
from omegaconf import DictConfig

from t2t_torch.checkpoints.atomic_io import AtomicCheckpointIO
from t2t_torch.checkpoints.best import resolve_checkpoint
from t2t_torch.checkpoints.record import CheckpointRecord
from t2t_torch.checkpoints.sharded import is_sharded_checkpoint
from t2t_torch.errors import T2TUserError
from t2t_torch.run.final_report import print_final_metrics
from t2t_torch.run.train import build_datamodule, build_module, check_checkpoint_matches
from t2t_torch.run.writable import check_output_folder


def evaluate(cfg: DictConfig) -> dict[str, float]:
    """Evaluate as configured; returns the metrics (e.g. {"eval/accuracy_per_sequence": 0.99, ...})."""
    started = time.monotonic()
    output_dir = Path(cfg.output_dir)
    path = resolve_checkpoint(cfg.ckpt_path, output_dir) if cfg.get("ckpt_path") else \
        output_dir / "checkpoints" / "last.ckpt"
    if not (path.is_file() or is_sharded_checkpoint(path)):
        raise T2TUserError(f"mode=eval found no checkpoint '{path}': train with the same command first, or pass"
                           " ckpt_path=<run dir>/checkpoints/<file>.ckpt")
    datamodule = build_datamodule(cfg)
    problem = datamodule.problem
    split = str(cfg.get("eval_split") or "dev")
    evaluable = [s for s in problem.splits if s != "train"]
    if split not in evaluable:
        raise T2TUserError(f"eval_split '{split}' is not a split {problem.name} evaluates: pass one of {evaluable}")
    in_run = path.parent.name == "checkpoints"
    reports = (path.parents[1] if in_run else output_dir) / "eval"
    check_output_folder(reports, "output_dir" if not in_run else "ckpt_path (its run directory's eval/)")
    problem.generate_data(datamodule.data_dir)
    module = build_module(cfg, problem, datamodule.data_dir)
    check_checkpoint_matches(path, module)
    trainer = L.Trainer(accelerator=cfg.trainer.get("accelerator", "auto"), devices=1, logger=False,
                        precision=cfg.trainer.get("precision"), enable_checkpointing=False,
                        enable_progress_bar=cfg.trainer.get("enable_progress_bar", True) is not False,
                        enable_model_summary=False, plugins=[AtomicCheckpointIO()])
    run = trainer.validate if split == datamodule.eval_split() else trainer.test
    record = CheckpointRecord.load(path, weights=is_sharded_checkpoint(path))
    if record.sharded:  # Lightning reads a sharded directory only under FSDP: its weights are assembled here
        module.load_state_dict(record.weights())
        results = run(module, datamodule=datamodule, verbose=False)
    else:
        results = run(module, datamodule=datamodule, ckpt_path=str(path), weights_only=True, verbose=False)
    metrics = {k: float(v) for k, v in results[0].items()} if results else {}
    step = record.global_step or 0
    report = reports / f"{split}-step{step}.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps({"checkpoint": str(path), "split": split, "step": step, "metrics": metrics},
                                 indent=1) + "\n")
    print_final_metrics(metrics, report.parent, steps=step, seconds=time.monotonic() - started)
    return metrics
