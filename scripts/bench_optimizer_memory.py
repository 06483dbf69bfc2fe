"""Optimizer-state memory of Adafactor vs Adam on transformer_base / transformer_big parameter shapes.

The paper's point for Adafactor (T2T `utils/adafactor.py`): a factored second moment needs rows+cols floats
per matrix instead of Adam's 2 x rows x cols. This script prints, side by side and as ratios to Adam:

- analytic state bytes, computed from the parameter shapes alone;
- measured state bytes: the tensors in `optimizer.state` after one step on CPU;
- measured peak step memory: the rise of the process's peak RSS (`resource.getrusage`) during the first
  `optimizer.step()` over the RSS with parameters and gradients already allocated -- state plus transient
  workspace. (tracemalloc cannot see torch's CPU allocator, so peak RSS it is; each case runs in its own
  subprocess so one case's peak does not hide another's. The subprocesses run with glibc's
  MALLOC_MMAP_THRESHOLD_=65536 so that freed temporaries go back to the OS at once; with glibc's adaptive
  threshold the same code's peak varied by +-100 MiB from run to run.)

Step time is deliberately not reported: on the shared 2-core machine this was written on, the same step's
time varied tenfold between runs.

Parameter shapes follow T2T's Transformer (separate q/k/v/output projections without bias, FFN with biases,
pre-norm LayerNorms with scale and bias, one embedding shared by inputs, targets and softmax), built as plain
`nn.Parameter`s so the benchmark does not depend on the model code.

    PYTHONPATH=. python scripts/bench_optimizer_memory.py            # all cases, markdown table on stdout
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from collections.abc import Callable

import torch
from torch import nn

from t2t_torch.optim import OptimConfig, build_optimizer

MODELS: dict[str, dict[str, int]] = {
    "transformer_base": dict(hidden=512, filter=2048, vocab=32768, layers=6),  # 8 heads: no effect on shapes
    "transformer_big": dict(hidden=1024, filter=4096, vocab=32768, layers=6),  # 16 heads
}
OPTIMIZERS: dict[str, Callable[[list[tuple[str, nn.Parameter]]], torch.optim.Optimizer]] = {
    "adam": lambda named: build_optimizer(named, OptimConfig(optimizer="adam")),
    "adafactor": lambda named: build_optimizer(named, OptimConfig(optimizer="adafactor")),
    "torch.optim.Adafactor": lambda named: torch.optim.Adafactor([p for _, p in named]),
}
Shapes = list[tuple[str, tuple[int, ...]]]


def transformer_shapes(hidden: int, filter: int, vocab: int, layers: int) -> Shapes:
    """Parameter shapes of T2T's Transformer with shared embedding and softmax weights."""

    def attention(prefix: str) -> Shapes:
        return [(f"{prefix}.{w}", (hidden, hidden)) for w in ("q", "k", "v", "output")]

    def norm(prefix: str) -> Shapes:
        return [(f"{prefix}.scale", (hidden,)), (f"{prefix}.bias", (hidden,))]

    def ffn(prefix: str) -> Shapes:
        return [(f"{prefix}.conv1.weight", (hidden, filter)), (f"{prefix}.conv1.bias", (filter,)),
                (f"{prefix}.conv2.weight", (filter, hidden)), (f"{prefix}.conv2.bias", (hidden,))]

    shapes: Shapes = [("shared_embedding", (vocab, hidden))]
    for i in range(layers):
        shapes += attention(f"encoder.{i}.self_attention") + norm(f"encoder.{i}.norm1")
        shapes += ffn(f"encoder.{i}.ffn") + norm(f"encoder.{i}.norm2")
    shapes += norm("encoder.final_norm")
    for i in range(layers):
        shapes += attention(f"decoder.{i}.self_attention") + norm(f"decoder.{i}.norm1")
        shapes += attention(f"decoder.{i}.encdec_attention") + norm(f"decoder.{i}.norm2")
        shapes += ffn(f"decoder.{i}.ffn") + norm(f"decoder.{i}.norm3")
    return shapes + norm("decoder.final_norm")


def analytic_state_bytes(shapes: Shapes, optimizer: str) -> int:
    """fp32 state bytes implied by the shapes (ignoring the per-tensor scalar step counters)."""
    total = 0
    for _, shape in shapes:
        numel = torch.Size(shape).numel()
        if optimizer == "adam":
            total += 2 * numel
        else:
            total += shape[-2] + shape[-1] if len(shape) >= 2 else numel
    return 4 * total


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def _state_bytes(optimizer: torch.optim.Optimizer) -> int:
    return sum(v.numel() * v.element_size() for s in optimizer.state.values() for v in s.values()
               if isinstance(v, torch.Tensor))


def measure(model: str, optimizer_name: str) -> dict[str, float]:
    """One case, meant to run in a fresh process: state bytes and the peak RSS rise during step 1."""
    torch.manual_seed(0)
    named = [(n, nn.Parameter(torch.randn(s) * 0.05)) for n, s in transformer_shapes(**MODELS[model])]
    for _, p in named:
        p.grad = torch.randn_like(p) * 1e-3
    optimizer = OPTIMIZERS[optimizer_name](named)
    for group in optimizer.param_groups:
        group["lr"] = 1e-3
    rss_before = _rss_bytes()
    optimizer.step()
    peak_rise = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss_before
    return {"state_bytes": _state_bytes(optimizer), "peak_step_rise_bytes": max(peak_rise, 0)}


def _run_case(model: str, optimizer: str) -> dict[str, float]:
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}  # see the module docstring
    out = subprocess.run([sys.executable, __file__, "--worker", model, optimizer], check=True,
                         capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _mib(n: float) -> str:
    return f"{n / 2**20:,.1f}"


def report() -> str:
    lines = ["| model | params | optimizer | state MiB (shapes) | state MiB (measured) | ratio to Adam | "
             "peak step RSS rise MiB | ratio to Adam |",
             "|---|---:|---|---:|---:|---:|---:|---:|"]
    for model, dims in MODELS.items():
        shapes = transformer_shapes(**dims)
        n_params = sum(torch.Size(s).numel() for _, s in shapes)
        results = {name: _run_case(model, name) for name in OPTIMIZERS}
        adam = results["adam"]
        for name, r in results.items():
            analytic = _mib(analytic_state_bytes(shapes, "adam" if name == "adam" else "adafactor"))
            lines.append(
                f"| {model} | {n_params / 1e6:.1f}M | {name} | {analytic} | {_mib(r['state_bytes'])} | "
                f"{r['state_bytes'] / adam['state_bytes']:.4f} | {_mib(r['peak_step_rise_bytes'])} | "
                f"{r['peak_step_rise_bytes'] / adam['peak_step_rise_bytes']:.3f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs=2, metavar=("MODEL", "OPTIMIZER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure(*args.worker)))
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, parameters and state fp32")
    print(report())


if __name__ == "__main__":
    main()
