"""RevNet (t2t_torch/models/revnet.py) and its reversible blocks (t2t_torch/models/reversible.py): the reversible
backward gives the gradients of ordinary autograd (float64, relative 1e-8 per tensor), leaves the batch-norm running
statistics as one forward does, rebuilds the inputs from the outputs, keeps activations that do not grow with
depth; parameter counts equal the RevNet paper's (Gomez et al. 2017, Table 1)."""

import dataclasses

import pytest
import torch
from omegaconf import OmegaConf

from t2t_torch.errors import T2TUserError
from t2t_torch.models.reversible import ReversibleBlock, ReversibleSequence, saved_activation_bytes
from t2t_torch.models.revnet import Revnet, RevnetConfig
from tests.fixtures.helpers import compose

TOLERANCE = 1e-8  # max |reversible - baseline| over max |baseline|, per tensor (float64 rounding is ~1e-14)


def tiny_config(bottleneck: bool, layers: int = 2, **changes) -> RevnetConfig:
    """Three stages with strides 1, 2, 2 (downsampling units with both shortcut kinds), `layers` reversible blocks
    per stage."""
    return RevnetConfig(num_channels=[4, 6, 8], num_layers_per_block=[layers] * 3, bottleneck=bottleneck,
                        first_batch_norm=[False, True, True], init_stride=1, init_kernel_size=3, init_maxpool=False,
                        strides=[1, 2, 2], num_channels_init_block=8, **changes)


def twin_models(config: RevnetConfig) -> tuple[Revnet, Revnet]:
    """(reversible, ordinary autograd) with the same float64 weights."""
    torch.manual_seed(0)
    reversible = Revnet(dataclasses.replace(config, reversible=True), "spatial", (8, 8, 3)).double()
    baseline = Revnet(dataclasses.replace(config, reversible=False), "spatial", (8, 8, 3)).double()
    baseline.load_state_dict(reversible.state_dict())
    return reversible, baseline


def assert_relatively_close(actual: torch.Tensor, expected: torch.Tensor, what: str) -> None:
    error = ((actual - expected).abs().max() / expected.abs().max()).item()
    assert error <= TOLERANCE, f"{what}: relative error {error:.3g}"


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("bottleneck", [True, False], ids=["bottleneck", "basic"])
def test_reversible_backward_equals_ordinary_autograd(bottleneck, training):
    reversible, baseline = twin_models(tiny_config(bottleneck))
    generator = torch.Generator().manual_seed(1)
    images = torch.rand(4, 8, 8, 3, generator=generator, dtype=torch.float64) * 2 - 1
    results = []
    for model in (reversible, baseline):
        model.train(training)
        x = images.clone().requires_grad_()
        out = model(x)
        weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
        (out * weights).sum().backward()
        results.append((out.detach(), x.grad, dict(model.named_parameters()), dict(model.named_buffers())))
    (out_r, grad_r, params_r, buffers_r), (out_b, grad_b, params_b, buffers_b) = results
    assert_relatively_close(out_r, out_b, "output")
    assert_relatively_close(grad_r, grad_b, "input gradient")
    assert len(params_r) > 40
    for name, parameter in params_b.items():
        assert_relatively_close(params_r[name].grad, parameter.grad, name)
    for name, buffer in buffers_b.items():  # one forward's update (train) or none (eval), not a second one
        if name.endswith("num_batches_tracked"):
            assert buffers_r[name].item() == buffer.item() == int(training), name
        else:
            torch.testing.assert_close(buffers_r[name], buffer, rtol=1e-12, atol=0, msg=name)


def test_one_training_step_matches():
    """After one SGD step on the same batch, the two networks hold the same weights and running statistics."""
    reversible, baseline = twin_models(tiny_config(bottleneck=False))
    images = torch.rand(4, 8, 8, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64) * 2 - 1
    for model in (reversible, baseline):
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        model(images).square().mean().backward()
        optimizer.step()
    state_b = baseline.state_dict()
    for name, value in reversible.state_dict().items():
        if value.is_floating_point():
            assert_relatively_close(value, state_b[name], name)
        else:
            assert torch.equal(value, state_b[name]), name


@pytest.mark.parametrize("bottleneck", [True, False], ids=["bottleneck", "basic"])
def test_inverse_rebuilds_the_inputs(bottleneck):
    model = Revnet(tiny_config(bottleneck, layers=3), "spatial", (8, 8, 3)).double().train()
    blocks = model.stages[1].blocks
    width = 4 * 6 if bottleneck else 6
    generator = torch.Generator().manual_seed(4)
    x1, x2 = (torch.randn(4, width, 4, 4, generator=generator, dtype=torch.float64) for _ in range(2))
    with torch.no_grad():
        y1, y2 = blocks(x1, x2)
    before = {name: b.clone() for name, b in blocks.named_buffers()}
    rebuilt1, rebuilt2 = blocks.inverse(y1, y2)
    assert_relatively_close(rebuilt1, x1, "x1")
    assert_relatively_close(rebuilt2, x2, "x2")
    assert not torch.equal(y1, x1)
    for name, buffer in blocks.named_buffers():  # rebuilding does not count the batch again
        assert torch.equal(buffer, before[name]), name


def test_reversible_activations_do_not_grow_with_depth():
    images = torch.rand(2, 8, 8, 3, generator=torch.Generator().manual_seed(5))
    saved = {}
    for reversible in (True, False):
        for layers in (1, 4):
            torch.manual_seed(0)
            model = Revnet(tiny_config(False, layers, reversible=reversible), "spatial", (8, 8, 3)).train()
            saved[reversible, layers] = saved_activation_bytes(model, images)
    assert saved[True, 1] == saved[True, 4]  # only each stage's outputs are kept, whatever its depth
    assert saved[False, 4] > 2 * saved[False, 1]
    assert saved[True, 4] < saved[False, 1]


def paper_parameter_count(config: RevnetConfig, classes: int) -> float:
    """Millions of parameters of body and classifier, to the paper's two decimals."""
    body = Revnet(config, "spatial", (32, 32, 3))
    classifier = Revnet.output_width(config) * classes + classes
    return round((sum(p.numel() for p in body.parameters()) + classifier) / 1e6, 2)


def test_parameter_counts_equal_the_paper(tmp_path):
    cfg = compose(["problem=image_digits", "model=revnet", "hparams=revnet_38_cifar"], tmp_path)
    revnet_38 = RevnetConfig(**OmegaConf.to_container(cfg.hparams.model))
    assert paper_parameter_count(revnet_38, 10) == 0.46
    # T2T's revnet_110_cifar and revnet_164_cifar (not registered here): revnet_38_cifar at other depths/blocks
    revnet_110 = dataclasses.replace(revnet_38, num_channels=[16, 32, 64], num_layers_per_block=[8, 8, 8])
    assert paper_parameter_count(revnet_110, 10) == 1.73
    assert paper_parameter_count(dataclasses.replace(revnet_110, bottleneck=True), 10) == 1.75


def test_revnet_104_stage_shapes(tmp_path):
    """revnet_104's init block (7x7 conv and valid 3x3 max pool, stride 2 each) and stride-1, 2, 2, 2 stages, at
    toy widths on 64x64 images."""
    cfg = compose(["problem=image_digits", "model=revnet", "hparams=revnet_104"], tmp_path)
    config = RevnetConfig(**Revnet.shrink(OmegaConf.to_container(cfg.hparams.model)))
    model = Revnet(config, "spatial", (64, 64, 3)).eval()
    shapes = []
    for stage in model.stages:
        stage.register_forward_hook(lambda module, args, out: shapes.append(tuple(out[0].shape)))
    with torch.no_grad():
        out = model(torch.zeros(2, 64, 64, 3))
    assert shapes == [(2, 16, 15, 15), (2, 32, 8, 8), (2, 48, 4, 4), (2, 64, 2, 2)]
    assert out.shape == (2, 2, 2, 128) == (2, 2, 2, Revnet.output_width(config))


def test_bad_configs_are_one_line_errors():
    with pytest.raises(ValueError, match="even number") as error:
        RevnetConfig(num_channels=[16, 33, 56], num_layers_per_block=[1, 1, 1], bottleneck=False,
                     first_batch_norm=[False, True, True], strides=[1, 2, 2], num_channels_init_block=32)
    assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match="one length"):
        RevnetConfig(strides=[1, 2])
    with pytest.raises(T2TUserError, match="init_maxpool=false") as error:
        Revnet(RevnetConfig(), "spatial", (4, 4, 1))
    assert "\n" not in str(error.value)


def test_dropout_cannot_be_recomputed():
    block = ReversibleBlock(torch.nn.Dropout(0.1), torch.nn.Identity())
    with pytest.raises(ValueError, match="dropout"):
        ReversibleSequence([block])
    assert ReversibleSequence([block], reversible=False).reversible is False
