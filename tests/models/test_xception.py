"""T2T's Xception (t2t_torch/models/xception.py): output shapes for small and large images, the residual blocks it
builds, its parameter count worked out by hand from T2T's definition, TF's SAME padding, its init, and that
channels_last memory changes no number."""

import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf

from t2t_torch.models.xception import ChannelLayerNorm, Conv2dSame, ResidualBlock, Xception, XceptionConfig
from t2t_torch.optim import OptimConfig, build_lr_lambda
from tests.fixtures.helpers import compose

TINY = {"hidden_size": 8, "num_hidden_layers": 2, "dropout": 0.0}


def hparams_of(set_name, tmp_path):
    cfg = compose(["problem=image_digits", "model=xception", f"hparams={set_name}"], tmp_path)
    return OmegaConf.to_container(cfg.hparams)


@pytest.mark.parametrize(("image", "output"), [((8, 8, 1), (2, 4, 4, 20)), ((28, 28, 1), (2, 14, 14, 20)),
                                               ((10, 6, 3), (2, 5, 3, 20)), ((224, 224, 3), (2, 7, 7, 20))])
def test_output_shape(image, output):
    """Small images keep their size until the stride-2 exit; taller than 200 pixels, the entry flow divides it by 16.
    The exit widens hidden_size 8 to int(2.5 x 8) channels."""
    body = Xception(XceptionConfig(**TINY), "spatial", image)
    assert body(torch.randn(2, *image)).shape == output
    assert Xception.output_width(body.config) == output[-1]


@pytest.mark.parametrize("layers", [0, 1, 3])
def test_builds_num_hidden_layers_residual_blocks(layers):
    body = Xception(XceptionConfig(hidden_size=8, num_hidden_layers=layers), "spatial", (8, 8, 1))
    assert len(body.blocks) == layers and all(isinstance(block, ResidualBlock) for block in body.blocks)
    assert all(len(block.convs) == 3 for block in body.blocks)


def separable(c_in, c_out, kernel=9):
    return c_in * kernel + c_in * c_out  # depthwise, then pointwise; no biases


def conv(c_in, c_out, kernel=9):
    return c_in * c_out * kernel


def norm(channels):
    return 2 * channels  # layer norm scale and shift


def test_parameter_count_by_hand():
    """hidden 8, 2 residual blocks, 3x3 kernels, a 1-channel 8x8 image (no entry flow), then the 224x224x3 entry."""
    h, wider, double, widest = 8, 10, 16, 20  # h, int(1.25 h), 2 h, int(2.5 h)
    small_image_conv = conv(1, h) + norm(h)
    residual_block = 3 * (separable(h, h) + norm(h)) + norm(h)
    exit_flow = (conv(h, wider) + norm(wider) + separable(h, h) + norm(h) + separable(h, wider) + norm(wider)
                 + separable(wider, double) + norm(double) + separable(double, widest) + norm(widest))
    small = small_image_conv + 2 * residual_block + exit_flow
    assert small == 2882
    assert sum(p.numel() for p in Xception(XceptionConfig(**TINY), "spatial", (8, 8, 1)).parameters()) == small

    def entry_block(c_in, filters):
        return (separable(c_in, filters) + norm(filters) + separable(filters, filters) + norm(filters)
                + conv(c_in, filters, 1) + norm(filters))

    entry = (conv(3, 32) + norm(32) + conv(32, 64) + norm(64)
             + entry_block(64, min(128, h)) + entry_block(min(128, h), min(256, h)) + entry_block(min(256, h), h))
    large = Xception(XceptionConfig(**TINY), "spatial", (224, 224, 3))
    assert sum(p.numel() for p in large.parameters()) == entry + 2 * residual_block + exit_flow == 24834


def test_same_padding_pads_after_the_end_like_tf():
    """A stride-2 3x3 window on an even side and a stride-1 even kernel pad one extra row/column at the end only."""
    torch.manual_seed(0)
    x = torch.randn(1, 2, 6, 6, dtype=torch.float64)
    strided = Conv2dSame(2, 3, 3, stride=2).double()
    torch.testing.assert_close(strided(x), F.conv2d(F.pad(x, (0, 1, 0, 1)), strided.weight, stride=2))
    even = Conv2dSame(2, 3, (2, 4)).double()
    torch.testing.assert_close(even(x), F.conv2d(F.pad(x, (1, 2, 0, 1)), even.weight))
    assert even(x).shape == (1, 3, 6, 6)


def test_init_and_layer_norm_follow_t2t():
    """Orthogonal kernels flattened as TF does (a depthwise kernel is one unit vector); layer norm over channels."""
    body = Xception(XceptionConfig(**TINY), "spatial", (8, 8, 1))
    depthwise, pointwise = body.blocks[0].convs[0].conv
    assert depthwise.groups == 8 and torch.linalg.vector_norm(depthwise.weight).item() == pytest.approx(1.0)
    rows = pointwise.weight.flatten(1)
    torch.testing.assert_close(rows @ rows.T, torch.eye(8), rtol=0, atol=1e-5)
    norm_layer = ChannelLayerNorm(4)
    x = torch.randn(2, 4, 3, 3, dtype=torch.float64)
    expected = (x - x.mean(1, keepdim=True)) / torch.sqrt(x.var(1, unbiased=False, keepdim=True) + 1e-6)
    torch.testing.assert_close(norm_layer.double()(x), expected)


@pytest.mark.parametrize("image", [(12, 12, 3), (224, 224, 1)])
def test_channels_last_gives_the_same_numbers(image):
    torch.manual_seed(0)
    bodies = {layout: Xception(XceptionConfig(**TINY, channels_last=layout), "spatial", image).double()
              for layout in (True, False)}
    bodies[False].load_state_dict(bodies[True].state_dict())
    assert bodies[True].exit.shortcut.conv.weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.randn(2, *image, dtype=torch.float64)
    outputs = {layout: body(x) for layout, body in bodies.items()}
    torch.testing.assert_close(outputs[True], outputs[False], rtol=0, atol=1e-10)
    assert outputs[True].permute(0, 3, 1, 2).is_contiguous(memory_format=torch.channels_last)
    assert outputs[False].permute(0, 3, 1, 2).is_contiguous()


def test_hparams_sets_keep_t2ts_values(tmp_path):
    base, tiny = hparams_of("xception_base", tmp_path), hparams_of("xception_tiny", tmp_path)
    assert (base["model"]["hidden_size"], base["model"]["num_hidden_layers"], base["model"]["dropout"]) == (768, 8, 0.2)
    assert (tiny["model"]["hidden_size"], tiny["model"]["num_hidden_layers"], tiny["batching"]["batch_size"]) == (
        64, 2, 2)
    assert base["modality"]["class_label"]["label_smoothing"] == 0.1
    for hparams in (base, tiny):  # Adam's legacy lr is learning_rate x 0.002 after T2T's 3000-step exp warmup
        lr = build_lr_lambda(OptimConfig.from_mapping(hparams["optim"]), 1920)
        assert lr(0) == pytest.approx(1e-4 * 0.01 ** (2999 / 3000))
        assert lr(2999) == lr(100_000) == pytest.approx(1e-4)  # exp decay at rate 1.0 (base), none (tiny)


def test_bad_settings_are_one_line_errors():
    with pytest.raises(ValueError, match="model.dropout must be in"):
        XceptionConfig(dropout=1.0)
    with pytest.raises(ValueError, match="model.kernel_width must be >= 1"):
        XceptionConfig(kernel_width=0)
