"""A real Lightning DDP run on CPU (2 processes, gloo): the `trainer=ddp_cpu` preset trains, shards the data,
evaluates with metrics reduced across processes, and writes one checkpoint — and those reduced metrics are the
ones a single process computes on the whole dev split from that checkpoint."""

import csv
import logging
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
from omegaconf import OmegaConf

from t2t_torch.checkpoints.atomic_io import load_checkpoint_file
from t2t_torch.datamodules.batching import BatchingConfig, TokenBucketBatchSampler
from t2t_torch.hparams import dataclass_from_mapping
from t2t_torch.run.train import build_datamodule, build_module, build_problem, train
from tests.fixtures.helpers import compose, tiny

REPO = Path(__file__).resolve().parents[2]
# Both runs evaluate the very same batches with the same weights; the metric states are float64 sums, reduced by
# gloo in another order than one process adds them, then cast to float32: only float32 rounding differs.
RELATIVE_TOLERANCE = 1e-5


def single_process_validate(ckpt: Path) -> dict[str, float]:
    """`trainer.validate` in this process on the checkpoint, rebuilt through the project's own builders from the
    run config it records."""
    checkpoint = load_checkpoint_file(ckpt)
    cfg = OmegaConf.create(checkpoint["hyper_parameters"]["run_config"])
    datamodule = build_datamodule(cfg)
    problem = datamodule.problem
    module = build_module(cfg, problem, datamodule.data_dir)
    module.load_state_dict(checkpoint["state_dict"])
    trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                        enable_model_summary=False, enable_checkpointing=False)
    results = trainer.validate(module, datamodule=datamodule, verbose=False)
    return {k: float(v) for k, v in results[0].items()}


def assert_two_shards_cover_dev_once(ckpt: Path) -> None:
    """The two ranks' eval shards hold every dev example exactly once. The dev size here (30 examples: 5 batches in
    one process) does not divide among 2 ranks; the sampler used to drop the fifth batch under DDP (26 of 30
    examples evaluated, eval/loss 0.78453 vs 0.78797 in one process), and now halves a batch instead."""
    cfg = OmegaConf.create(load_checkpoint_file(ckpt)["hyper_parameters"]["run_config"])
    lengths = build_problem(cfg).dataset("dev", cfg.data_dir).lengths()
    batching = dataclass_from_mapping(BatchingConfig, cfg.hparams.batching, "batching")
    seen = [index for rank in range(2) for batch in TokenBucketBatchSampler(
        lengths, batching, shuffle=False, drop_long=batching.eval_drop_long_sequences, num_replicas=2, rank=rank)
        for index in batch]
    assert sorted(seen) == list(range(len(lengths)))


def test_ddp_on_two_cpu_processes(tmp_path, caplog):
    args = [sys.executable, str(REPO / "train.py"), *tiny(["trainer=ddp_cpu", "trainer.max_steps=6",
            "trainer.val_check_interval=3", f"data_dir={tmp_path}/data", "hydra.run.dir=run"])]
    args.remove("trainer.devices=1")
    args.remove("trainer.limit_val_batches=2")  # the final eval reads the whole dev split, as train() does by default
    args[args.index("problem.dev_size=24")] = "problem.dev_size=30"
    result = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert output.count("Train batches per epoch") == 2  # one data shard per process
    assert "eval/accuracy_per_sequence" in output
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    assert ckpt.is_file()
    assert load_checkpoint_file(ckpt)["global_step"] == 6

    # The eval metrics the DDP run logged last (its final `trainer.validate`, at step 6, the weights of last.ckpt).
    with open(tmp_path / "run" / "csv" / "version_0" / "metrics.csv", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row.get("eval/loss")]
    logged = rows[-1]
    assert int(logged["step"]) == 6

    assert_two_shards_cover_dev_once(ckpt)
    single = single_process_validate(ckpt)
    for name in ("eval/loss", "eval/accuracy", "eval/accuracy_per_sequence", "eval/neg_log_perplexity"):
        assert float(logged[name]) == pytest.approx(single[name], rel=RELATIVE_TOLERANCE, abs=1e-7), name
        assert f"{single[name]:.4f}" in output, name  # the final table rank 0 printed

    # Resumed in one process: it continues after the 2 x 6 batches both ranks consumed (datamodules/test_batching.py
    # checks that no batch is seen twice), with the optimizer, schedule and step of the checkpoint. It is not the
    # run two processes would have continued (a step now averages one batch, not two), so no loss is compared.
    resumed_dir = tmp_path / "single"
    with caplog.at_level(logging.WARNING):
        train(compose(tiny([f"ckpt_path={ckpt}", "trainer.max_steps=9", "trainer.log_every_n_steps=1",
                            "problem.dev_size=30"]), resumed_dir))
    assert "Resuming a run of 2 processes on 1: continuing after the first 12 batches of epoch 0" in caplog.text
    resumed = load_checkpoint_file(resumed_dir / "run" / "checkpoints" / "last.ckpt")
    assert resumed["global_step"] == 9
    with open(resumed_dir / "run" / "csv" / "version_0" / "metrics.csv", newline="") as handle:
        steps = sorted(int(r["step"]) for r in csv.DictReader(handle) if r.get("train/loss"))
    assert steps == [6, 7, 8]


def test_ddp_example_counted_problem_matches_one_process(tmp_path):
    """An image problem (batches count examples, ExampleBatchSampler; class-label metrics, ClassMetrics) under DDP:
    each rank trains on its shard, and the accuracy the two ranks reduce is the one a single process computes on
    the whole dev split (360 digits in batches of 128: 3 batches, so one is halved to give each rank two)."""
    args = [sys.executable, str(REPO / "train.py"), "problem=image_digits", "model=basic_fc_relu",
            "hparams=basic_fc_small", "trainer=ddp_cpu", "trainer.max_steps=4", "trainer.val_check_interval=2",
            "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false", f"data_dir={tmp_path}/data",
            "hydra.run.dir=run"]
    result = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (result.stdout + result.stderr).count("Train batches per epoch") == 2
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    with open(tmp_path / "run" / "csv" / "version_0" / "metrics.csv", newline="") as handle:
        logged = [row for row in csv.DictReader(handle) if row.get("eval/accuracy")][-1]
    single = single_process_validate(ckpt)
    for name in ("eval/loss", "eval/accuracy", "eval/accuracy_top5"):
        assert float(logged[name]) == pytest.approx(single[name], rel=RELATIVE_TOLERANCE, abs=1e-7), name
