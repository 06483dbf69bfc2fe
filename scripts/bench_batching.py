"""Benchmark of the data pipeline on a real corpus: padding of the token-bucket batcher and loader throughput.

    python scripts/bench_batching.py                  # translate_ende_bible in ~/t2t_data -> benchmarks/batching.md
    python scripts/bench_batching.py --model-steps 0  # without the model comparison

For each token budget it reports the padding fraction of T2T's length buckets (goal < 10%) next to the same
number of batches drawn without bucketing, then iterates one epoch of the train DataLoader (memory-mapped cache,
bucketing, collation) and reports real (non-pad) tokens/s. With `--model-steps N` it also times N training steps
of a Transformer on the same batches, so the pipeline's speed is a ratio to what the model consumes (goal >= 10x).
Run `scripts/fetch_local_data.sh` first; the problem's data is prepared here if missing.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

import t2t_torch
from t2t_torch.datamodules.batching import BatchingConfig, padding_fraction, plan_batches
from t2t_torch.datamodules.datamodule import ProblemDataModule
from t2t_torch.problems.problem import Problem
from t2t_torch.run.config_check import compose_config
from t2t_torch.run.config_store import register_configs
from t2t_torch.run.train import build_module


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", default="translate_ende_bible")
    parser.add_argument("--data-dir", default="~/t2t_data")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1024, 2048, 4096])
    parser.add_argument("--max-length", type=int, default=256, help="longest training example kept (T2T max_length)")
    parser.add_argument("--hparams", default="transformer_tiny", help="hparams set of the model comparison")
    parser.add_argument("--model-steps", type=int, default=20, help="training steps timed for the comparison; 0: skip")
    parser.add_argument("--output", default="benchmarks/batching.md")
    return parser.parse_args(argv)


def unbucketed_padding(lengths: np.ndarray, num_batches: int, seed: int = 0) -> float:
    """Padding when the same examples form the same number of batches at random (no length buckets)."""
    order = np.random.default_rng(seed).permutation(len(lengths))
    return padding_fraction(lengths, np.array_split(order, num_batches))


def loader_throughput(datamodule: ProblemDataModule) -> dict[str, float]:
    """One epoch of the train DataLoader: batches/s and real tokens/s (inputs + targets, pads excluded)."""
    start, batches, tokens = time.perf_counter(), 0, 0
    for batch in datamodule.train_dataloader():
        batches += 1
        tokens += int((batch["inputs"] != 0).sum() + (batch["targets"] != 0).sum())
    seconds = time.perf_counter() - start
    return {"batches": batches, "tokens": tokens, "seconds": seconds, "tokens_per_s": tokens / seconds}


def model_throughput(problem: Problem, data_dir: str, datamodule: ProblemDataModule, hparams: str, steps: int) -> float:
    """Real tokens/s of `steps` training steps (forward, backward, Adam) on the pipeline's batches."""
    cfg = compose_config([f"problem={problem.name}", f"hparams={hparams}", f"data_dir={data_dir}", "output_dir=unused"])
    module = build_module(cfg, problem, Path(data_dir))
    module.train()
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-4)
    loader = iter(datamodule.train_dataloader())
    batches = [next(loader) for _ in range(steps + 2)]
    tokens, seconds = 0, 0.0
    for step, batch in enumerate(batches):
        start = time.perf_counter()
        loss = module.model(batch)["loss"]
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step >= 2:  # the first steps warm up allocators and kernels
            seconds += time.perf_counter() - start
            tokens += int((batch["inputs"] != 0).sum() + (batch["targets"] != 0).sum())
    return tokens / seconds


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    register_configs()
    data_dir = str(Path(args.data_dir).expanduser())
    problem = t2t_torch.problem(args.problem)
    start = time.perf_counter()
    problem.generate_data(data_dir)
    prepare_seconds = time.perf_counter() - start
    sizes = {split: len(problem.dataset(split, data_dir)) for split in problem.splits}
    print(f"{problem.name}: {sizes} (prepared or checked in {prepare_seconds:.1f} s)")

    rows = []
    for batch_size in args.batch_sizes:
        config = BatchingConfig(batch_size=batch_size, max_length=args.max_length)
        datamodule = ProblemDataModule(problem, data_dir, config, seed=0)
        datamodule.setup()
        lengths = datamodule.datasets["train"].lengths()
        plan = plan_batches(lengths, config, drop_long=True, rng=np.random.default_rng([0, 0]))
        dev_lengths = datamodule.datasets["dev"].lengths()
        dev_plan = plan_batches(dev_lengths, config, drop_long=False, rng=None)
        loader = loader_throughput(datamodule)
        model = None
        if args.model_steps:
            model = model_throughput(problem, data_dir, datamodule, args.hparams, args.model_steps)
        row = {"batch_size": batch_size, "batches": len(plan), "padding": padding_fraction(lengths, plan),
               "random_padding": unbucketed_padding(lengths, len(plan)),
               "dev_padding": padding_fraction(dev_lengths, dev_plan), **loader, "model_tokens_per_s": model}
        print(format_row(row))
        rows.append(row)
    write_report(args, argv, problem, sizes, rows)
    return 0


def format_row(row: dict) -> str:
    model = row["model_tokens_per_s"]
    ratio = f"{row['tokens_per_s'] / model:,.0f}x" if model else "-"
    percents = " | ".join(f"{100 * row[key]:.1f}%" for key in ("padding", "random_padding", "dev_padding"))
    loader = f"{row['tokens_per_s']:,.0f} | {row['seconds']:.2f}"
    model_speed = f"{model:,.0f}" if model else "-"
    return f"| {row['batch_size']} | {row['batches']} | {percents} | {loader} | {model_speed} | {ratio} |"


def write_report(
    args: argparse.Namespace, argv: list[str] | None, problem: Problem, sizes: dict, rows: list[dict]
) -> None:
    command = "python scripts/bench_batching.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    lines = [
        "# Data pipeline: padding and throughput",
        "",
        f"- date: {datetime.date.today().isoformat()}",
        f"- command: `{command.strip()}`",
        f"- machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs,"
        f" torch {torch.__version__} ({torch.get_num_threads()} threads); load average at the end"
        f" {os.getloadavg()[0]:.1f} (the CPU is shared with other jobs: model timings vary with it)",
        f"- corpus: {problem.name}, examples per split {sizes}; max_length {args.max_length}",
        "",
        "Padding: share of pad tokens when each batch is padded to its longest example (inputs/targets measured by",
        "the longer of the two, as the batcher does). `no buckets` draws the same number of batches at random.",
        "Loader: one epoch of the train DataLoader (memory-mapped cache, bucketing, collation, 0 workers), real",
        f"tokens (inputs + targets, pads excluded) per second. Model: {args.hparams} forward+backward+Adam on the same",
        f"batches ({args.model_steps} timed steps).",
        "",
        "| batch_size (tokens) | train batches | padding (buckets) | padding (no buckets) | dev padding |"
        " loader tokens/s | epoch s | model tokens/s | loader / model |",
        "|---|---|---|---|---|---|---|---|---|",
        *[format_row(row) for row in rows],
        "",
    ]
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {output}")


if __name__ == "__main__":
    sys.exit(main())
