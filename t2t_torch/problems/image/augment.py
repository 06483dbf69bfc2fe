"""T2T's image training augmentation: zero padding + a random crop back to the image size, and a random horizontal
flip (T2T's `image_utils.image_augmentation` / `cifar.cifar_image_augmentation`: pad 4, crop 32x32, flip).

The random draws and the pixel work are separate, so the same draws can be applied per example on the CPU (numpy,
in the data loader's workers) or to a whole batch on the training device (torch), with identical results:

- `draw(rng, pad, flip)` -> `Augmentation(top, left, flipped)`: the offsets of the crop in the padded image
  (0..2*pad) and the flip, from a numpy Generator (the data loader's, seeded from (seed, epoch, example)).
- `apply(image, aug, pad)`: one (H, W, C) uint8 image, numpy.
- `apply_batch(images, params, pad)`: (B, H, W, C) uint8 images on any device, with `params` (B, 3) int64 rows
  (top, left, flipped) -- one gather, no Python loop over examples.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch


class Augmentation(NamedTuple):
    top: int
    left: int
    flipped: bool


def draw(rng: np.random.Generator, pad: int, flip: bool) -> Augmentation:
    """The crop offsets (0..2*pad each) and, when `flip`, a fair coin for the horizontal flip."""
    top, left = (int(v) for v in rng.integers(0, 2 * pad + 1, size=2)) if pad else (0, 0)
    return Augmentation(top, left, bool(rng.integers(0, 2)) if flip else False)


def apply(image: np.ndarray, aug: Augmentation, pad: int) -> np.ndarray:
    """`image` (H, W, C) shifted by (pad - top, pad - left) with zeros where it uncovers, then flipped."""
    height, width = image.shape[:2]
    out = image
    if pad:
        padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)))
        out = padded[aug.top:aug.top + height, aug.left:aug.left + width]
    if aug.flipped:
        out = out[:, ::-1]
    return np.ascontiguousarray(out)


def apply_batch(images: torch.Tensor, params: torch.Tensor, pad: int) -> torch.Tensor:
    """`apply` on every image of (B, H, W, C) at once: row b takes the crop (params[b, 0], params[b, 1]) of the
    zero-padded image, mirrored when params[b, 2] is 1."""
    batch, height, width, _ = images.shape
    padded = torch.nn.functional.pad(images, (0, 0, pad, pad, pad, pad)) if pad else images
    rows = params[:, 0, None] + torch.arange(height, device=images.device)  # (B, H)
    cols = torch.arange(width, device=images.device).expand(batch, width)
    cols = torch.where(params[:, 2, None].bool(), width - 1 - cols, cols) + params[:, 1, None]  # (B, W)
    index = torch.arange(batch, device=images.device)[:, None, None]
    return padded[index, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
