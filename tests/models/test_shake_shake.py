"""Shake-Shake (t2t_torch/models/shake_shake.py): in training the branches are mixed with random weights per example
and get their gradient with other random weights per example; at eval they are averaged; a seed fixes the draws;
parameter counts and shapes equal the paper's (Gastaldi 2017: Shake-Shake-26 2x32d 2.9M, 2x96d 26.2M)."""

import pytest
import torch
from omegaconf import OmegaConf

from t2t_torch.models.shake_shake import ShakeShake, ShakeShakeBlock, ShakeShakeConfig, shake_shake
from tests.fixtures.helpers import compose


def drawn_weights(batch: int, branches: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """(forward, backward) weights (batch, branches) of one training mix, probed branch by branch with the same
    seed: with branch `index` all ones and the others all zeros, the mix is that branch's forward weight, and the
    gradient it gets from an all-ones output gradient is its backward weight."""
    forward, backward = [], []
    for index in range(branches):
        torch.manual_seed(7)  # the same draws for every probe
        inputs = [torch.full((batch, 2, 3, 3), float(i == index), dtype=torch.float64, requires_grad=True)
                  for i in range(branches)]
        mixed = shake_shake(inputs, training=True)
        mixed.backward(torch.ones_like(mixed))
        forward.append(mixed[:, 0, 0, 0].detach())
        backward.append(inputs[index].grad[:, 0, 0, 0])
        for tensor in (mixed.detach(), inputs[index].grad):  # one weight per example, the same at every position
            assert torch.equal(tensor, tensor[:, :1, :1, :1].expand_as(tensor))
    return torch.stack(forward, 1), torch.stack(backward, 1)


@pytest.mark.parametrize("branches", [2, 3])
def test_forward_and_backward_weights_are_independent_per_example(branches):
    forward, backward = drawn_weights(64, branches)
    for weights in (forward, backward):
        assert ((weights >= 0) & (weights <= 1)).all()
        torch.testing.assert_close(weights.sum(1), torch.ones(64, dtype=torch.float64))
        assert weights[:, 0].std() > 0.1  # they differ between examples
    assert (forward - backward).abs().min() > 0  # the gradient does not use the forward weights
    assert abs(torch.corrcoef(torch.stack([forward[:, 0], backward[:, 0]]))[0, 1]) < 0.5


def test_two_branch_forward_weight_is_uniform():
    """The paper's alpha ~ U[0, 1] (T2T normalized two uniforms instead, which piles up around 0.5)."""
    forward, _ = drawn_weights(4000)
    counts = torch.histc(forward[:, 0], bins=4, min=0, max=1)
    assert ((counts > 850) & (counts < 1150)).all(), counts


def test_block_branches_get_other_weights_than_they_are_mixed_with():
    """Inside a training block (identity shortcut): solve the forward weight of branch 0 per example from the
    outputs, and read the backward weight off the gradient branch 0 receives (a tensor hook)."""
    torch.manual_seed(0)
    block = ShakeShakeBlock(4, 4, 1, 2).double().train()
    outputs, grads = [], {}

    def keep(module, args, out):
        index = len(outputs)
        outputs.append(out)
        out.register_hook(lambda grad: grads.__setitem__(index, grad))

    for branch in block.branches:
        branch.register_forward_hook(keep)
    x = torch.randn(6, 4, 5, 5, dtype=torch.float64, requires_grad=True)
    y = block(x)
    y.backward(torch.ones_like(y))
    mixed, first, second = (y - x).detach(), outputs[0].detach(), outputs[1].detach()
    difference = first - second  # mixed = alpha * first + (1 - alpha) * second
    alpha = ((mixed - second) * difference).sum((1, 2, 3)) / difference.square().sum((1, 2, 3))
    torch.testing.assert_close(mixed, alpha.view(-1, 1, 1, 1) * difference + second)
    beta = grads[0][:, 0, 0, 0]
    torch.testing.assert_close(grads[0], beta.view(-1, 1, 1, 1).expand_as(grads[0]))
    torch.testing.assert_close(grads[0] + grads[1], torch.ones_like(grads[0]))
    assert alpha.std() > 0.05 and beta.std() > 0.05
    assert (alpha - beta).abs().min() > 1e-6


def small_model(**changes) -> ShakeShake:
    torch.manual_seed(0)
    config = ShakeShakeConfig(**ShakeShake.shrink({"shake_shake_num_branches": 2}), **changes)
    return ShakeShake(config, "spatial", (8, 8, 3)).double()


def test_eval_is_deterministic_and_averages_the_branches():
    model = small_model().eval()
    images = torch.rand(3, 8, 8, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    with torch.no_grad():
        first, second = model(images), model(images)
        assert torch.equal(first, second)
        block, x = model.blocks[0], model.stem(images.permute(0, 3, 1, 2))
        branches = [branch(x) for branch in block.branches]
        torch.testing.assert_close(block(x), block.shortcut(x) + 0.5 * branches[0] + 0.5 * branches[1])


def test_training_draws_follow_the_seed():
    model = small_model().train()
    images = torch.rand(3, 8, 8, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)

    def run(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        torch.manual_seed(seed)
        model.zero_grad()
        out = model(images)
        out.sum().backward()
        return out.detach(), model.stem[0].weight.grad.clone()

    (out_a, grad_a), (out_b, grad_b), (out_c, grad_c) = run(0), run(0), run(1)
    assert torch.equal(out_a, out_b) and torch.equal(grad_a, grad_b)
    assert not torch.allclose(out_a, out_c) and not torch.allclose(grad_a, grad_c)


@pytest.mark.parametrize(("hparams", "millions"), [("shakeshake_small", 2.9), ("shakeshake_big", 26.2)])
def test_parameter_counts_and_shapes(hparams, millions, tmp_path):
    cfg = compose(["problem=image_digits", "model=shake_shake", f"hparams={hparams}"], tmp_path)
    config = ShakeShakeConfig(**OmegaConf.to_container(cfg.hparams.model), channels_last=False)
    model = ShakeShake(config, "spatial", (32, 32, 3))
    assert round(sum(p.numel() for p in model.parameters()) / 1e6, 1) == millions
    assert len(model.blocks) == 3 * 4
    with torch.no_grad():
        assert model.eval()(torch.zeros(1, 32, 32, 3)).shape == (1, 8, 8, 4 * config.hidden_size)


def test_layer_count_must_be_6n_plus_2():
    with pytest.raises(ValueError, match="6n \\+ 2") as error:
        ShakeShakeConfig(num_hidden_layers=25)
    assert "\n" not in str(error.value)
