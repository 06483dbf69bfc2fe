"""Activation memory RevNet keeps for backward, reversible vs ordinary autograd, as the network gets deeper.

The network is `revnet_38_cifar` (basic blocks, widths 16/32/56, 32x32 images) with its reversible blocks per stage
scaled 1x, 2x, 4x, 8x ([2, 2, 2] -> [16, 16, 16]), each built twice: `reversible=True` (the backward rebuilds each
block's inputs from its outputs) and `reversible=False` (the same network under ordinary autograd). Side by side in
one run, for one training-mode batch:

- saved MiB: the exact bytes autograd keeps for backward after the forward, the distinct storages of the tensors
  saved for backward (`torch.autograd.graph.saved_tensors_hooks`), parameters left out;
- peak RSS rise MiB (a check): how far the peak RSS (VmHWM, reset just before) of a fresh subprocess rose above
  its RSS just before one forward + backward. The subprocesses run with glibc's MALLOC_MMAP_THRESHOLD_=65536 so that
  freed temporaries go back to the OS at once (see benchmarks/optimizer_memory.md).

Time is not reported (shared machine).

    PYTHONPATH=. python scripts/bench_revnet_memory.py --threads 1 --out benchmarks/revnet_memory.md
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import subprocess
import sys

import torch
from omegaconf import OmegaConf

from t2t_torch.models.reversible import saved_activation_bytes
from t2t_torch.models.revnet import Revnet, RevnetConfig
from t2t_torch.run.config_check import compose_config
from t2t_torch.run.config_store import register_configs

MIB = 2**20
IMAGE_SHAPE = (32, 32, 3)


def revnet_38_cifar() -> RevnetConfig:
    register_configs()
    cfg = compose_config(["problem=image_digits", "model=revnet", "hparams=revnet_38_cifar"])
    return RevnetConfig(**OmegaConf.to_container(cfg.hparams.model))


def scaled(config: RevnetConfig, multiplier: int, reversible: bool) -> RevnetConfig:
    layers = [n * multiplier for n in config.num_layers_per_block]
    return dataclasses.replace(config, num_layers_per_block=layers, reversible=reversible)


def conv_depth(config: RevnetConfig) -> int:
    """RevNet's depth as the paper counts it: 2 convs per residual function, 2 functions per unit (a stage's
    downsampling unit and its reversible blocks), plus the first conv and the classifier."""
    units = sum(n + 1 for n in config.num_layers_per_block)
    return 4 * units + 2


def build(config: RevnetConfig, batch: int) -> tuple[Revnet, torch.Tensor]:
    torch.manual_seed(0)
    model = Revnet(config, "spatial", IMAGE_SHAPE).train()
    images = torch.rand(batch, *IMAGE_SHAPE) * 2 - 1
    return model, images


def saved_bytes(config: RevnetConfig, batch: int) -> int:
    """Bytes of the distinct non-parameter storages autograd saves during one training forward."""
    return saved_activation_bytes(*build(config, batch))


def current_rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss() -> int:
    """The peak RSS since the last `reset_peak_rss` (Linux VmHWM). `getrusage`'s ru_maxrss would not do: a child
    inherits its parent's RSS at fork as its peak."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def reset_peak_rss() -> None:
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")  # Linux >= 4.0: reset the peak RSS to the current RSS


def child(config: RevnetConfig, batch: int) -> dict[str, float]:
    """One forward + backward in this (fresh) process: RSS before it and the peak RSS during it."""
    model, images = build(config, batch)
    reset_peak_rss()
    before = current_rss()
    model(images).mean().backward()
    return {"before": before, "peak": peak_rss()}


def peak_rss_rise(multiplier: int, reversible: bool, args: argparse.Namespace) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MALLOC_MMAP_THRESHOLD_": "65536"}
    config = json.dumps(dataclasses.asdict(scaled(revnet_38_cifar(), multiplier, reversible)))
    command = [sys.executable, __file__, "--child", config, "--batch", str(args.batch), "--threads", str(args.threads)]
    result = json.loads(subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout)
    return (result["peak"] - result["before"]) / MIB


def table(args: argparse.Namespace) -> list[str]:
    base = revnet_38_cifar()
    rows = ["| blocks per stage | depth | params | saved MiB reversible | saved MiB baseline | ratio |"
            " peak RSS rise MiB reversible | peak RSS rise MiB baseline | ratio |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for multiplier in args.multipliers:
        config = scaled(base, multiplier, reversible=True)
        params = sum(p.numel() for p in Revnet(config, "spatial", IMAGE_SHAPE).parameters())
        saved = {r: saved_bytes(scaled(base, multiplier, r), args.batch) / MIB for r in (True, False)}
        rss = {r: peak_rss_rise(multiplier, r, args) for r in (True, False)}
        rows.append(f"| {config.num_layers_per_block} | {conv_depth(config)} | {params / 1e6:.2f}M"
                    f" | {saved[True]:.1f} | {saved[False]:.1f} | {saved[True] / saved[False]:.3f}"
                    f" | {rss[True]:.1f} | {rss[False]:.1f} | {rss[True] / rss[False]:.3f} |")
        print(rows[-1], flush=True)
    return rows


def report(rows: list[str], args: argparse.Namespace) -> str:
    return "\n".join([
        "# RevNet activation memory: reversible vs ordinary autograd",
        "",
        f"Command, run {datetime.date.today().isoformat()} on {args.machine}:",
        "",
        "```",
        f"PYTHONPATH=. python scripts/bench_revnet_memory.py --threads {args.threads} --out {args.out}",
        "```",
        "",
        f"Output (`torch {torch.__version__}, {args.threads} CPU thread(s), fp32, batch {args.batch} of 32x32x3,"
        " training mode`):",
        "",
        *rows,
        "",
        "How to read it:",
        "",
        "- The network is `revnet_38_cifar` (basic blocks, widths 16/32/56) with its reversible blocks per stage",
        "  multiplied by 1, 2, 4, 8; `depth` counts convs as the RevNet paper does (38, 62, 110, 206). **reversible**",
        "  is `reversible: true` (the backward rebuilds each block's inputs from its outputs), **baseline** the same",
        "  network with `reversible: false` (ordinary autograd).",
        "- **saved MiB** is exact: the distinct storages of the tensors autograd saves for backward during one",
        "  training forward (`torch.autograd.graph.saved_tensors_hooks`), parameters left out. The reversible",
        "  network keeps the same bytes at every depth: the init block, each stage's non-reversible downsampling",
        "  unit, each stage's outputs and the final block; the baseline adds every reversible block's activations.",
        "- **peak RSS rise** (a check, allocator-dependent) is how far a fresh subprocess's peak RSS rose above its",
        "  RSS just before one forward + backward (run with `MALLOC_MMAP_THRESHOLD_=65536`). It also holds the",
        "  parameter gradients and the backward's transient buffers (for the reversible network, one block's",
        "  recomputed activations), so it grows slowly with depth even where the saved bytes do not.",
        "",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--batch", type=int, default=32, help="images per batch (default 32)")
    parser.add_argument("--multipliers", type=int, nargs="+", default=[1, 2, 4, 8],
                        help="reversible blocks per stage, as multiples of revnet_38_cifar's (default 1 2 4 8)")
    parser.add_argument("--out", help="write the markdown report here (e.g. benchmarks/revnet_memory.md)")
    parser.add_argument("--machine", default="2 shared vCPUs", help="the machine, as the report names it")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # internal: one peak-RSS measurement of this config
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.child is not None:
        print(json.dumps(child(RevnetConfig(**json.loads(args.child)), args.batch)))
        return
    text = report(table(args), args)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as out:
            out.write(text)
    print(text)


if __name__ == "__main__":
    main()
