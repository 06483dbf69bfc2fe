"""Vision speed, side by side in one run: our ResNet-50 vs torchvision's, and the image loader vs the model.

1. Model: training images/s of our `resnet` body with the `resnet_50` hparams set, on the production path
   (`T2TModel`: the image modality's bottom from uint8, the body, the class-label top and its cross-entropy),
   against torchvision's `resnet50()` with the same number of classes, the same loss, SGD with Nesterov momentum
   0.9 and weight decay 1e-4 (T2T's resnet_base), the same batches and resolution. Both channels_last; on CUDA
   both under bf16 autocast. Rounds alternate ours / torchvision and the median counts, to damp the noise of a
   shared machine.
2. Loader: images/s the real `ProblemDataModule` train loader serves on a CIFAR-size problem (32x32x3, T2T's
   crop + flip augmentation), per example on the CPU (numpy, in the loader) vs batched on the device
   (`augment_on_device=true`: the loader only draws, `Problem.finish_batch` crops and flips the whole batch), with
   0 and 2 workers, against the images/s the model consumes (resnet_cifar_15 training steps at the same batch).
RevNet's memory against depth is `scripts/bench_revnet_memory.py` (benchmarks/revnet_memory.md).

    python scripts/bench_vision.py --threads 2 --out benchmarks/vision.md
    python scripts/bench_vision.py --device cuda --resolution 224 --batch 128 --out /tmp/vision_gpu.md
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf

import t2t_torch
from t2t_torch.datamodules.batching import BatchingConfig
from t2t_torch.datamodules.datamodule import ProblemDataModule
from t2t_torch.problems.image.image2class import Image2ClassProblem
from t2t_torch.run.config_check import compose_config
from t2t_torch.run.config_store import register_configs
from t2t_torch.spec import FeatureSpec, ProblemSpec, class_label_feature


def hparams(name: str) -> dict[str, Any]:
    """The composed `hparams=<name>` (model, modality and optim sections), as train.py would see it."""
    register_configs()
    cfg = compose_config([f"hparams={name}", f"model={name.split('_')[0]}", "problem=image_digits"])
    return OmegaConf.to_container(cfg.hparams, resolve=True)


def image_spec(resolution: int, classes: int) -> ProblemSpec:
    image = FeatureSpec("image", 256, (resolution, resolution, 3), "uint8", 0, False)
    return ProblemSpec(features={"inputs": image, "targets": class_label_feature(classes)},
                       batch_size_means_tokens=False)


def ours(name: str, resolution: int, classes: int) -> torch.nn.Module:
    sets = hparams(name)
    return t2t_torch.model("resnet")(sets["model"], image_spec(resolution, classes), sets.get("modality"))


def sgd(model: torch.nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4)


def batches(args: argparse.Namespace, count: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(0)
    shape = (args.batch, args.resolution, args.resolution, 3)
    return [(torch.randint(0, 256, shape, generator=gen, dtype=torch.uint8),
             torch.randint(0, args.classes, (args.batch,), generator=gen)) for _ in range(count)]


def step_ours(model: torch.nn.Module, optimizer: torch.optim.Optimizer, device: torch.device,
              autocast: bool) -> Callable[[torch.Tensor, torch.Tensor], None]:
    def step(images: torch.Tensor, labels: torch.Tensor) -> None:
        with torch.autocast(device.type, torch.bfloat16, enabled=autocast):
            loss = model({"inputs": images.to(device), "targets": labels.to(device)})["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return step


def step_torchvision(model: torch.nn.Module, optimizer: torch.optim.Optimizer, device: torch.device,
                     autocast: bool) -> Callable[[torch.Tensor, torch.Tensor], None]:
    def step(images: torch.Tensor, labels: torch.Tensor) -> None:
        x = images.to(device).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)  # NHWC uint8 -> channels_last float
        with torch.autocast(device.type, torch.bfloat16, enabled=autocast):
            loss = F.cross_entropy(model(x), labels.to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return step


def images_per_second(step: Callable, data: list, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for images, labels in data:
        step(images, labels)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return sum(len(labels) for _, labels in data) / (time.perf_counter() - start)


def bench_models(args: argparse.Namespace, device: torch.device) -> list[str]:
    import torchvision

    autocast = device.type == "cuda"
    torch.manual_seed(0)
    mine = ours("resnet_50", args.resolution, args.classes).to(device)
    theirs = torchvision.models.resnet50(num_classes=args.classes).to(device).to(memory_format=torch.channels_last)
    counts = [sum(p.numel() for p in m.parameters()) for m in (mine, theirs)]
    steps = {"ours": step_ours(mine, sgd(mine), device, autocast),
             "torchvision": step_torchvision(theirs, sgd(theirs), device, autocast)}
    data = batches(args, args.steps)
    for step in steps.values():  # warm-up: allocator, kernels, autotuning
        images_per_second(step, data[:2], device)
    rounds: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(args.rounds):
        for name, step in steps.items():
            rounds[name].append(images_per_second(step, data, device))
    median = {name: statistics.median(values) for name, values in rounds.items()}
    lines = [f"ResNet-50 training, batch {args.batch} at {args.resolution}x{args.resolution}, {args.classes} classes,"
             f" {args.steps} steps x {args.rounds} alternating rounds (median), "
             f"{'bf16 autocast, ' if autocast else ''}channels_last",
             "", "| model | parameters | images/s | rounds |", "|---|---:|---:|---|"]
    for (name, values), count in zip(rounds.items(), counts, strict=True):
        lines.append(f"| {name} | {count:,} | {median[name]:.1f} | {', '.join(f'{v:.1f}' for v in values)} |")
    lines += ["", f"ratio ours / torchvision: **{median['ours'] / median['torchvision']:.2f}x**", ""]
    return lines


class RandomCifarSize(Image2ClassProblem):
    """CIFAR-size random images (32x32x3, 10 classes) with image_cifar10's crop + flip, for the loader alone."""

    registered_name = "bench_random_cifar_size"
    image_shape = (32, 32, 3)
    augment_shift, augment_flip = 4, True
    count: ClassVar[int] = 10000
    config_keys = (*Image2ClassProblem.config_keys, "augment_on_device", "count")

    def generate_arrays(self, split: str, data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(0 if split == "train" else 1)
        count = self.count if split == "train" else 100
        return rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, count)


def loader_images_per_second(args: argparse.Namespace, device: torch.device, workers: int, on_device: bool) -> float:
    problem = RandomCifarSize(augment_on_device=on_device, count=args.loader_images)
    module = ProblemDataModule(problem, args.scratch, BatchingConfig(batch_size=args.batch, num_workers=workers))
    module.prepare_data()
    module.setup("fit")
    loader = module.train_dataloader()
    served, start = 0, None
    for index, batch in enumerate(loader):
        if index == 1:  # after the workers' start-up
            start, served = time.perf_counter(), 0
        batch = module.on_after_batch_transfer({k: v.to(device, non_blocking=True) for k, v in batch.items()}, 0)
        served += len(batch["targets"])
    if device.type == "cuda":
        torch.cuda.synchronize()
    return served / (time.perf_counter() - start)


def bench_loader(args: argparse.Namespace, device: torch.device) -> list[str]:
    torch.manual_seed(0)
    model = ours("resnet_cifar_15", 32, 10).to(device)
    data = batches(argparse.Namespace(**{**vars(args), "resolution": 32, "classes": 10}), args.steps)
    step = step_ours(model, sgd(model), device, device.type == "cuda")
    images_per_second(step, data[:2], device)
    consumed = statistics.median(images_per_second(step, data, device) for _ in range(args.rounds))
    lines = [f"Loader: the train loader of a {args.loader_images}-image CIFAR-size problem (32x32x3, crop 4 + flip),"
             f" batch {args.batch}, through `ProblemDataModule` to {device.type}; the model consumes"
             f" {consumed:.1f} images/s (resnet_cifar_15 training steps, same batch)", "",
             "| augmentation | workers | images/s | x the model's consumption |", "|---|---:|---:|---:|"]
    for on_device in (False, True):
        for workers in (0, 2):
            rate = loader_images_per_second(args, device, workers, on_device)
            where = "batched on the device (finish_batch)" if on_device else "per example in the loader (numpy)"
            lines.append(f"| {where} | {workers} | {rate:,.0f} | {rate / consumed:,.1f} |")
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--steps", type=int, default=5, help="training steps per round and model")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--loader_images", type=int, default=10000, help="images in the loader benchmark's problem")
    parser.add_argument("--skip", choices=("models", "loader"), action="append", default=[])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    what = device.type if device.type == "cpu" else torch.cuda.get_device_name(device)
    lines = [f"# Vision speed ({date.today()}, {what}, {torch.get_num_threads()} threads, torch {torch.__version__},"
             f" Python {platform.python_version()})", "",
             f"Command: `python scripts/bench_vision.py --device {args.device} --threads {args.threads}"
             f" --resolution {args.resolution} --batch {args.batch} --steps {args.steps} --rounds {args.rounds}`", ""]
    with tempfile.TemporaryDirectory() as scratch:
        args.scratch = Path(scratch)
        if "models" not in args.skip:
            lines += bench_models(args, device)
        if "loader" not in args.skip:
            lines += bench_loader(args, device)
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
