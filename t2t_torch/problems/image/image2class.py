"""`Image2ClassProblem`, the base of image classification problems (ports T2T's `data_generators/image_utils.py`
`Image2ClassProblem`); the registered ones are in mnist.py, cifar.py, imagenet.py and image_folder.py.

An `Image2ClassProblem` serves uint8 images (H, W, C) as `inputs` (the image modality) and one class id as `targets`
(the class-label modality), batched by a number of images (T2T's `batch_size_means_tokens=False`); the class names
are in the spec's `extra["labels"]`. A subclass sets `image_shape` and `class_labels` and writes one hook:
`generate_arrays(split, data_dir)` -> (uint8 images (N, H, W, C), integer labels (N,)) when a split fits in memory,
or the lowest-level `generate_images(split, data_dir)`, a generator of (image, label) pairs. A folder of images in
torchvision's ImageFolder layout is `ImageFolderProblem` (image_folder.py). Images are decoded once into the
example cache; augmentation happens as examples are served (`preprocess_example`), never in the cache:
`augment_shift=k` translates each training image by up to k pixels (zero padding, then a random crop back to
H x W) and `augment_flip=true` mirrors it with probability 1/2, drawn from the numpy generator the data loader
passes (augment.py: T2T's CIFAR augmentation is k=4 with flips), so it is the same after a resume;
`augment_on_device=true` keeps those draws but leaves the pixel work to `finish_batch`, on the whole batch on the
training device (scripts/bench_vision.py measures both). Image-to-class problems have no `_rev` (T2T's
label-to-image generation problems are not ported).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from t2t_torch.errors import T2TUserError
from t2t_torch.problems.image import augment as image_augment
from t2t_torch.problems.problem import CachedProblem
from t2t_torch.spec import FeatureSpec, ProblemSpec, class_label_feature

DIGIT_LABELS = tuple(str(digit) for digit in range(10))
# The serve-time augmentation settings of every image problem (never part of a cache's identity).
AUGMENT_KEYS = ("augment_shift", "augment_flip", "augment_on_device")
AUGMENT_PARAMS = "augment_params"  # the batch key of (top, left, flipped) per image, with augment_on_device


class Image2ClassProblem(CachedProblem):
    """Base of image -> class problems: a subclass sets `image_shape` and `class_labels` and writes
    `generate_arrays` (a split in memory) or `generate_images` (a generator of pairs)."""

    input_modality = "image"
    target_modality = "class_label"
    batch_size_means_tokens = False  # hparams.batching.batch_size counts images
    eval_metrics = ("accuracy", "accuracy_top5")
    reversible: ClassVar[bool] = False  # label -> image generation is not ported: no `_rev`
    image_shape: ClassVar[tuple[int, int, int]] = (28, 28, 1)
    class_labels: ClassVar[tuple[str, ...]] = DIGIT_LABELS
    augment_shift: ClassVar[int] = 0  # training images translated by up to this many pixels (0: none)
    augment_flip: ClassVar[bool] = False  # training images mirrored left-right with probability 1/2
    augment_on_device: ClassVar[bool] = False  # the loader only draws; finish_batch crops/flips the batch there
    config_keys = AUGMENT_KEYS
    serve_time_keys: ClassVar[tuple[str, ...]] = AUGMENT_KEYS  # not in the cache's identity

    def __init__(self, was_reversed: bool = False, **config: Any) -> None:
        super().__init__(was_reversed, **config)  # `_rev`: a one-line error there (`reversible` is False)
        if isinstance(self.augment_shift, bool) or not isinstance(self.augment_shift, int) or self.augment_shift < 0:
            raise T2TUserError(f"problem.augment_shift of {self.name} must be a whole number of pixels >= 0,"
                               f" got {self.augment_shift!r}")
        for key in ("augment_flip", "augment_on_device"):
            if not isinstance(getattr(self, key), bool):
                raise T2TUserError(f"problem.{key} of {self.name} must be true or false, got {getattr(self, key)!r}")

    def class_names(self) -> tuple[str, ...]:
        """The name of each class id (`class_labels`; problems whose classes come from their data override it)."""
        return tuple(self.class_labels)

    @property
    def num_classes(self) -> int:
        return len(self.class_names())

    def stored_spec(self, data_dir: str | Path | None) -> ProblemSpec:
        labels = self.class_names()
        image = FeatureSpec("image", vocab_size=256, shape=tuple(self.image_shape), dtype="uint8", pad_value=0,
                            append_eos=False)
        return ProblemSpec(features={"inputs": image, "targets": class_label_feature(len(labels))},
                           batch_size_means_tokens=False, eval_metrics=self.eval_metrics,
                           decode_metrics=self.decode_metrics, extra={"labels": list(labels)})

    # Serving ----------------------------------------------------------------------------------------------------
    @property
    def augments(self) -> bool:
        return self.augment_shift > 0 or self.augment_flip

    def preprocess_example(self, example: dict[str, Any], split: str, rng: Any) -> dict[str, Any]:
        """On `train` only: a random shift by up to `augment_shift` pixels and, with `augment_flip`, a random
        horizontal flip (image_augment.py; T2T's MNIST problems: neither)."""
        if split != "train" or not self.augments:
            return example
        aug = image_augment.draw(rng, self.augment_shift, self.augment_flip)
        if self.augment_on_device:  # the same draws, applied to the whole batch by finish_batch
            return {**example, AUGMENT_PARAMS: np.asarray(aug, dtype=np.int64)}
        return {**example, "inputs": image_augment.apply(example["inputs"], aug, self.augment_shift)}

    def finish_batch(self, batch: dict[str, Any]) -> dict[str, Any]:
        """With `augment_on_device`: the training batch cropped and flipped on its device, from the draws
        `preprocess_example` left (the same pixels as the per-example path)."""
        if AUGMENT_PARAMS not in batch:
            return batch
        batch = dict(batch)
        params = batch.pop(AUGMENT_PARAMS)
        batch["inputs"] = image_augment.apply_batch(batch["inputs"], params, self.augment_shift)
        return batch

    # Preparation ------------------------------------------------------------------------------------------------
    def generate_arrays(self, split: str, data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
        """(uint8 images (N, H, W, C) of `image_shape`, integer class ids (N,)) of `split`."""
        raise NotImplementedError(f"problem {self.name} writes neither generate_arrays nor generate_images")

    def generate_images(self, split: str, data_dir: Path) -> Iterator[tuple[np.ndarray, int]]:
        """Yield (uint8 image of `image_shape`, class id) pairs of `split` (default: from `generate_arrays`)."""
        images, labels = self.generate_arrays(split, data_dir)
        images, labels = np.asarray(images), np.asarray(labels)
        where = f"generate_arrays of {self.name} ({split})"
        if images.dtype != np.uint8 or images.shape[1:] != tuple(self.image_shape):
            raise T2TUserError(f"{where} returned {images.dtype} images of shape {images.shape}, the problem declares"
                               f" uint8 (N, {', '.join(map(str, self.image_shape))}): fix the images or image_shape")
        if not np.issubdtype(labels.dtype, np.integer) or labels.shape != (len(images),):
            raise T2TUserError(f"{where} returned {labels.dtype} labels of shape {labels.shape} for {len(images)}"
                               f" images: return one integer class id per image")
        for image, label in zip(images, labels, strict=True):
            yield image, int(label)

    def generate_encoded_samples(self, split: str, data_dir: Path) -> Iterator[dict[str, Any]]:
        num_classes = self.num_classes
        for image, label in self.generate_images(split, data_dir):
            if not 0 <= int(label) < num_classes:
                raise T2TUserError(f"{self.describe_split(split, data_dir)} holds the label {int(label)}, outside"
                                   f" the {num_classes} classes of {self.name}: fix its label file")
            yield {"inputs": image, "targets": int(label)}

    def input_identity(self, split: str, data_dir: Path) -> Any:
        """What the images of `split` are read from, by content (overridden by each problem)."""
        return None

    def fingerprint_parts(self, split: str, data_dir: Path) -> list[Any]:
        settings = {k: v for k, v in self.config().items() if k not in self.serve_time_keys}
        return [type(self).__qualname__, self.cache_version, settings, split, self.input_identity(split, data_dir)]
