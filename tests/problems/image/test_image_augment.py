"""T2T's crop + flip augmentation (t2t_torch/problems/image/augment.py): the per-example numpy path and the batched
torch path give the same pixels from the same draws, the draws are a function of the generator, and a batch's
extra keys travel from `preprocess_example` through the collate to `Problem.finish_batch`."""

import numpy as np
import torch

from t2t_torch.datamodules.collation import collate_batch
from t2t_torch.problems.image.augment import Augmentation, apply, apply_batch, draw
from t2t_torch.spec import FeatureSpec, ProblemSpec, class_label_feature


def images(count=12, size=8, channels=3):
    return np.random.default_rng(0).integers(0, 256, (count, size, size, channels), dtype=np.uint8)


def test_numpy_and_batched_torch_paths_agree_pixel_for_pixel():
    batch = images()
    rng = np.random.default_rng(1)
    augs = [draw(rng, 4, True) for _ in batch]
    assert {a.flipped for a in augs} == {True, False} and len({(a.top, a.left) for a in augs}) > 1
    expected = np.stack([apply(image, aug, 4) for image, aug in zip(batch, augs, strict=True)])
    params = torch.tensor([list(aug) for aug in augs], dtype=torch.int64)
    assert np.array_equal(apply_batch(torch.from_numpy(batch), params, 4).numpy(), expected)


def test_crop_is_a_zero_filled_shift_and_flip_mirrors():
    image = images(1)[0]
    shifted = apply(image, Augmentation(top=4 + 2, left=4 - 1, flipped=False), 4)  # content moves up 2, right 1
    assert np.array_equal(shifted[:-2, 1:], image[2:, :-1])
    assert not shifted[-2:].any() and not shifted[:, :1].any()
    assert np.array_equal(apply(image, Augmentation(4, 4, True), 4), image[:, ::-1])
    assert np.array_equal(apply(image, Augmentation(0, 0, False), 0), image)


def test_draws_depend_only_on_the_generator():
    first = [draw(np.random.default_rng([7, 0, i]), 4, True) for i in range(20)]
    again = [draw(np.random.default_rng([7, 0, i]), 4, True) for i in range(20)]
    other_epoch = [draw(np.random.default_rng([7, 1, i]), 4, True) for i in range(20)]
    assert first == again and first != other_epoch
    assert all(0 <= a.top <= 8 and 0 <= a.left <= 8 for a in first)
    assert not any(draw(np.random.default_rng(i), 4, False).flipped for i in range(10))


def test_extra_example_keys_are_stacked_for_finish_batch():
    spec = ProblemSpec(features={"inputs": FeatureSpec("image", 256, (8, 8, 3), "uint8", 0, False),
                                 "targets": class_label_feature(3)}, batch_size_means_tokens=False)
    examples = [{"inputs": image, "targets": 1, "augment": np.array([1, 2, 0])} for image in images(4)]
    batch = collate_batch(examples, spec)
    assert batch["inputs"].shape == (4, 8, 8, 3) and batch["inputs"].dtype == torch.uint8
    assert batch["augment"].tolist() == [[1, 2, 0]] * 4
