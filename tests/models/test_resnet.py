"""T2T's ResNet (t2t_torch/models/resnet.py): its hparams sets build T2T's architecture -- parameter counts equal to
torchvision's or to the count worked out from T2T's definition, the shapes of each stage, the block kinds and
their init -- and channels_last memory changes no number."""

import pytest
import torch
import torch.nn.functional as F
import torchvision
from omegaconf import OmegaConf

import t2t_torch
from t2t_torch.models.resnet import BottleneckBlock, ResidualBlock, Resnet, ResnetConfig, max_pool_same, pad_same
from t2t_torch.optim import OptimConfig, build_lr_lambda
from t2t_torch.spec import FeatureSpec, ProblemSpec, class_label_feature
from tests.fixtures.helpers import compose


def hparams_of(set_name, tmp_path):
    cfg = compose(["problem=image_digits", "model=resnet", f"hparams={set_name}"], tmp_path)
    return OmegaConf.to_container(cfg.hparams)


def image_spec(side, channels, classes):
    image = FeatureSpec("image", 256, (side, side, channels), "uint8", 0, False)
    return ProblemSpec(features={"inputs": image, "targets": class_label_feature(classes)},
                       batch_size_means_tokens=False)


def parameter_count(module):
    return sum(p.numel() for p in module.parameters())


def t2t_parameter_count(model, in_channels, classes):
    """The trainable parameters of T2T's `Resnet` body plus a dense top, worked out from its definition: a batch norm
    has 2 per channel; the first block of every stage has a projection (1x1 conv + BN); the residual block's first
    BN normalizes the block's input, the bottleneck's three BNs its own outputs."""
    filters = model["filter_sizes"]
    width = filters[0]
    count = 7 * 7 * in_channels * width + 2 * width  # the stem's convolution and batch norm
    for stage, blocks in enumerate(model["layer_sizes"]):
        f = filters[stage + 1]
        out = f * (model["bottleneck_ratios"][stage] if model["block_fn"] == "bottleneck" else 1)
        for block in range(blocks):
            block_in = width if block == 0 else out
            if model["block_fn"] == "residual":
                count += 2 * block_in + 9 * block_in * f + 2 * f + 9 * f * f
            else:
                count += block_in * f + 2 * f + 9 * f * f + 2 * f + f * out + 2 * out
            if block == 0:
                count += block_in * out + 2 * out
        width = out
    return count + width * classes + classes


def test_resnet_50_has_torchvision_resnet50s_parameter_count(tmp_path):
    hparams = hparams_of("resnet_50", tmp_path)
    net = t2t_torch.model("resnet")(hparams["model"], image_spec(224, 3, 1000), hparams["modality"])
    assert parameter_count(net) == parameter_count(torchvision.models.resnet50()) == 25_557_032
    assert parameter_count(net) == t2t_parameter_count(hparams["model"], 3, 1000)


@pytest.mark.parametrize(("set_name", "reference"), [("resnet_18", torchvision.models.resnet18),
                                                     ("resnet_34", torchvision.models.resnet34)])
def test_residual_sets_count_t2ts_definition_which_differs_from_torchvision(set_name, reference, tmp_path):
    """T2T's residual blocks are pre-activation: the first BN of a stage's first block normalizes its input
    channels, not its output channels (-2 x (128-64 + 256-128 + 512-256)), and stage 1 gets a 64->64 projection
    that torchvision leaves out (+64 x 64 + 2 x 64): 3,328 more than torchvision's count."""
    hparams = hparams_of(set_name, tmp_path)
    net = t2t_torch.model("resnet")(hparams["model"], image_spec(224, 3, 1000), hparams["modality"])
    assert parameter_count(net) == t2t_parameter_count(hparams["model"], 3, 1000)
    projection, first_norms = 64 * 64 + 2 * 64, -2 * ((128 - 64) + (256 - 128) + (512 - 256))
    assert parameter_count(net) - parameter_count(reference()) == projection + first_norms == 3_328


@pytest.mark.parametrize("set_name", ["resnet_cifar_15", "resnet_cifar_32"])
def test_cifar_sets_count_t2ts_definition(set_name, tmp_path):
    hparams = hparams_of(set_name, tmp_path)
    net = t2t_torch.model("resnet")(hparams["model"], image_spec(32, 3, 10), hparams["modality"])
    assert parameter_count(net) == t2t_parameter_count(hparams["model"], 3, 10)


def stage_shapes(body, side, channels):
    """(C, H, W) after the stem and after each stage, and the body's output shape, for one image."""
    shapes = []
    for module in (body.stem, *body.stages):
        module.register_forward_hook(lambda module, args, out: shapes.append(tuple(out.shape[1:])))
    with torch.no_grad():
        out = body.eval()(torch.zeros(1, side, side, channels))
    return shapes, tuple(out.shape)


@pytest.mark.parametrize(("set_name", "side", "expected", "output"), [
    ("resnet_50", 224, [(64, 56, 56), (256, 56, 56), (512, 28, 28), (1024, 14, 14), (2048, 7, 7)], (1, 7, 7, 2048)),
    ("resnet_18", 224, [(64, 56, 56), (64, 56, 56), (128, 28, 28), (256, 14, 14), (512, 7, 7)], (1, 7, 7, 512)),
    ("resnet_cifar_15", 32, [(16, 32, 32), (32, 32, 32), (64, 16, 16), (128, 8, 8)], (1, 8, 8, 128)),
])
def test_stage_shapes(set_name, side, expected, output, tmp_path):
    """ImageNet sets: 7x7 stride-2 stem and stride-2 max-pool (/4), then stages at strides 1, 2, 2, 2; CIFAR sets: a
    stride-1 stem and three stages."""
    config = ResnetConfig(**hparams_of(set_name, tmp_path)["model"])
    body = Resnet(config, "spatial", (side, side, 3))
    assert stage_shapes(body, side, 3) == (expected, output)
    assert Resnet.output_width(config) == output[-1]


def test_stems_and_blocks_follow_t2t(tmp_path):
    imagenet = Resnet(ResnetConfig(**hparams_of("resnet_50", tmp_path)["model"]), "spatial", (64, 64, 3))
    cifar = Resnet(ResnetConfig(**hparams_of("resnet_cifar_15", tmp_path)["model"]), "spatial", (32, 32, 3))
    assert (imagenet.stem.conv.kernel_size, imagenet.stem.conv.stride, imagenet.stem.max_pool) == ((7, 7), (2, 2), True)
    assert (cifar.stem.conv.kernel_size, cifar.stem.conv.stride, cifar.stem.max_pool) == ((7, 7), (1, 1), False)
    assert all(isinstance(block, BottleneckBlock) for stage in imagenet.stages for block in stage)
    assert all(isinstance(block, ResidualBlock) for stage in cifar.stages for block in stage)
    for stage in (*imagenet.stages, *cifar.stages):  # every stage's first block projects, the others do not
        assert [block.projection is not None for block in stage] == [True] + [False] * (len(stage) - 1)
    # Only the last bottleneck block of a stage starts its last BN's scale at zero.
    for stage in imagenet.stages:
        assert [bool((block.bn3.weight == 0).all()) for block in stage] == [False] * (len(stage) - 1) + [True]
    # Pre-activation residual blocks end with a sum (negative values pass); bottlenecks with a ReLU.
    x = torch.randn(2, 32, 32, 3)
    assert (cifar.train()(x) < 0).any() and (imagenet.train()(torch.randn(2, 64, 64, 3)) >= 0).all()


def test_max_pool_pads_like_tf_same():
    """TF's SAME pads an even side only after the end (torchvision's max-pool pads both sides), an odd one both."""
    even = torch.arange(16.0).view(1, 1, 4, 4) - 100  # negative values: padding must never win
    assert max_pool_same(even).flatten().tolist() == [-90, -89, -86, -85]
    odd = torch.arange(25.0).view(1, 1, 5, 5)
    assert max_pool_same(odd).flatten().tolist() == [6, 8, 9, 16, 18, 19, 21, 23, 24]


def test_max_pool_without_a_padded_copy_equals_explicit_same_padding():
    """The copy-free max-pool (symmetric padding + ceil_mode) takes the very windows of TF's SAME padding."""
    gen = torch.Generator().manual_seed(0)
    for height in range(1, 20):
        for width in (1, 2, 7, 8, 17):
            for kernel, stride in ((3, 2), (3, 1), (2, 2), (5, 2), (3, 3), (1, 2)):
                x = torch.randn(2, 3, height, width, generator=gen)
                padded = F.max_pool2d(pad_same(x, kernel, stride, float("-inf")), kernel, stride)
                assert torch.equal(max_pool_same(x, kernel, stride), padded), (height, width, kernel, stride)


@pytest.mark.parametrize(("block_fn", "is_cifar", "channels"), [("residual", True, 1), ("bottleneck", False, 3)])
def test_channels_last_gives_the_same_numbers(block_fn, is_cifar, channels):
    stages = 3 if is_cifar else 4
    values = {"block_fn": block_fn, "is_cifar": is_cifar, "layer_sizes": [2] * stages,
              "filter_sizes": [4, 4, 8, 8, 8][:stages + 1], "bottleneck_ratios": [2] * stages}
    torch.manual_seed(0)
    bodies = {layout: Resnet(ResnetConfig(**values, channels_last=layout), "spatial", (40, 40, channels)).double()
              for layout in (True, False)}
    bodies[False].load_state_dict(bodies[True].state_dict())
    conv = bodies[True].stages[0][0].conv1
    assert conv.weight.is_contiguous(memory_format=torch.channels_last) and conv.weight.size(1) > 1
    x = torch.randn(3, 40, 40, channels, dtype=torch.float64)
    layouts = {}
    for layout, body in bodies.items():
        body.stages[-1].register_forward_hook(lambda module, args, out, layout=layout: layouts.update(
            {layout: (out.is_contiguous(memory_format=torch.channels_last), out.is_contiguous())}))
    outputs = {layout: body.train()(x) for layout, body in bodies.items()}
    torch.testing.assert_close(outputs[True], outputs[False], rtol=0, atol=1e-10)
    assert layouts == {True: (True, False), False: (False, True)}  # the activations really are in each layout


def test_hparams_sets_keep_t2ts_values(tmp_path):
    model = {name: hparams_of(name, tmp_path)["model"] for name in
             ("resnet_18", "resnet_34", "resnet_101", "resnet_152", "resnet_200", "resnet_cifar_32")}
    assert [model[n]["layer_sizes"] for n in model] == [[2, 2, 2, 2], [3, 4, 6, 3], [3, 4, 23, 3], [3, 8, 36, 3],
                                                        [3, 24, 36, 3], [5, 5, 5]]
    assert [model[n]["block_fn"] for n in model] == ["residual", "residual"] + ["bottleneck"] * 3 + ["residual"]
    hparams = hparams_of("resnet_50", tmp_path)
    lr = build_lr_lambda(OptimConfig.from_mapping(hparams["optim"]), 2048)
    assert lr(0) == pytest.approx(0.4 * 0.01 ** (99 / 100))  # T2T's exponential warmup over 100 steps
    assert lr(99) == pytest.approx(0.4, rel=1e-5) and lr(59_999) == pytest.approx(0.2, rel=1e-4)
    assert lr(119_999) == pytest.approx(0.0, abs=1e-12)  # the cosine reaches 0 at 120000 cycle steps
    assert hparams_of("resnet_cifar_15", tmp_path)["modality"]["class_label"]["label_smoothing"] == 0.0


def test_bad_settings_are_one_line_errors():
    with pytest.raises(ValueError, match="model.block_fn must be one of residual, bottleneck"):
        ResnetConfig(block_fn="basic")
    with pytest.raises(ValueError, match="model.layer_sizes needs 3 entries with is_cifar=True"):
        ResnetConfig(is_cifar=True)
    with pytest.raises(ValueError, match="model.filter_sizes must be positive integers"):
        ResnetConfig(filter_sizes=[64, 0, 128, 256, 512])


def test_tiny_images_keep_a_positive_size():
    body = Resnet(ResnetConfig(**Resnet.shrink({})), "spatial", (1, 1, 1))  # resnet_50's structure, 8 filters
    assert body(torch.zeros(2, 1, 1, 1)).shape == (2, 1, 1, 32)
    assert Resnet.shrink({"is_cifar": True, "layer_sizes": [5, 5, 5], "filter_sizes": [16, 32, 64, 128]}) == {
        "is_cifar": True, "layer_sizes": [1, 1, 1], "filter_sizes": [8, 8, 8, 8]}
