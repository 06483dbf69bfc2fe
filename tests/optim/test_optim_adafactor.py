"""Adafactor (t2t_torch/optim/adafactor.py): state layout and size, hand-computed steps, torch.optim.Adafactor."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from t2t_torch.optim import Adafactor


def state_bytes(optimizer: torch.optim.Optimizer) -> int:
    return sum(v.numel() * v.element_size() for s in optimizer.state.values() for v in s.values()
               if isinstance(v, torch.Tensor))


def one_step(params: list[torch.nn.Parameter], optimizer: torch.optim.Optimizer, seed: int = 0) -> None:
    gen = torch.Generator().manual_seed(seed)
    for p in params:
        p.grad = torch.randn(p.shape, generator=gen).to(p.dtype)
    optimizer.step()


def test_factored_state_shapes() -> None:
    params = [torch.nn.Parameter(torch.randn(s)) for s in [(6, 5), (3, 4, 5), (7,), ()]]
    optimizer = Adafactor(params)
    one_step(params, optimizer)
    states = [optimizer.state[p] for p in params]
    assert states[0]["vr"].shape == (6,) and states[0]["vc"].shape == (5,) and "v" not in states[0]
    assert states[1]["vr"].shape == (3, 4) and states[1]["vc"].shape == (3, 5)  # factored over the last two
    assert states[2]["v"].shape == (7,) and states[3]["v"].shape == ()
    assert all("m" not in s for s in states)  # beta1 = 0: no first moment
    assert all(s["step"] == 1 for s in states)
    assert all(v.dtype == torch.float32 for s in states for v in s.values() if isinstance(v, torch.Tensor))


def test_unfactored_and_momentum_state() -> None:
    param = torch.nn.Parameter(torch.randn(6, 5))
    optimizer = Adafactor([param], factored=False, beta1=0.9)
    one_step([param], optimizer)
    assert optimizer.state[param]["v"].shape == (6, 5) and optimizer.state[param]["m"].shape == (6, 5)


def test_state_memory_is_rows_plus_cols_vs_adams_two_full_copies() -> None:
    layer_a, layer_b = torch.nn.Linear(256, 1024), torch.nn.Linear(256, 1024)
    adafactor, adam = Adafactor(layer_a.parameters()), torch.optim.Adam(layer_b.parameters())
    one_step(list(layer_a.parameters()), adafactor)
    one_step(list(layer_b.parameters()), adam)
    assert state_bytes(adafactor) == 4 * ((1024 + 256) + 1024)  # vr + vc for the weight, v for the bias
    n_params = 1024 * 256 + 1024
    assert state_bytes(adam) >= 2 * 4 * n_params
    assert state_bytes(adam) / state_bytes(adafactor) > 100


def reference_step(p: torch.Tensor, g: torch.Tensor, vr: torch.Tensor, vc: torch.Tensor, t: int, lr: float):
    """T2T's factored update for a matrix, written out element by element in float64."""
    decay = 1.0 - (t + 1.0) ** -0.8
    rows, cols = p.shape
    g2 = [[g[i, j].item() ** 2 + 1e-30 for j in range(cols)] for i in range(rows)]
    vr = [decay * vr[i].item() + (1 - decay) * sum(g2[i]) / cols for i in range(rows)]
    vc = [decay * vc[j].item() + (1 - decay) * sum(g2[i][j] for i in range(rows)) / rows for j in range(cols)]
    vr_mean = sum(vr) / rows
    u = [[g[i, j].item() / math.sqrt(vr[i] / vr_mean * vc[j]) for j in range(cols)] for i in range(rows)]
    rms_u = math.sqrt(sum(x * x for row in u for x in row) / (rows * cols))
    p_rms = math.sqrt(sum(x * x for x in p.flatten().tolist()) / p.numel())
    scale = lr * max(p_rms, 1e-3) / max(1.0, rms_u / 1.0)
    new_p = [[p[i, j].item() - scale * u[i][j] for j in range(cols)] for i in range(rows)]
    as64 = dict(dtype=torch.float64)
    return torch.tensor(new_p, **as64), torch.tensor(vr, **as64), torch.tensor(vc, **as64)


def test_update_equals_hand_computed_steps() -> None:
    p0 = torch.tensor([[0.5, -1.0, 2.0], [0.1, 0.3, -0.7]], dtype=torch.float64)
    grads = [torch.tensor([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]], dtype=torch.float64),
             torch.tensor([[0.2, 0.1, -4.0], [1.5, -0.3, 0.2]], dtype=torch.float64)]
    param = torch.nn.Parameter(p0.clone())
    optimizer = Adafactor([param], lr=0.1)
    ref_p, ref_vr, ref_vc = p0, torch.zeros(2, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
    for t, g in enumerate(grads):
        param.grad = g.clone()
        optimizer.step()
        ref_p, ref_vr, ref_vc = reference_step(ref_p, g, ref_vr, ref_vc, t, lr=0.1)
        torch.testing.assert_close(param.detach(), ref_p, rtol=1e-12, atol=1e-12)  # fp64 params: fp64 math
        torch.testing.assert_close(optimizer.state[param]["vr"], ref_vr, rtol=1e-12, atol=0)
        torch.testing.assert_close(optimizer.state[param]["vc"], ref_vc, rtol=1e-12, atol=0)
    assert not torch.equal(param.detach(), p0)


def test_update_clipping_bounds_the_update_rms() -> None:
    # One huge gradient entry: after the first step the factored estimate under-predicts it, rms(u) > 1.
    param = torch.nn.Parameter(torch.ones(8, 8))
    optimizer = Adafactor([param], lr=1.0, multiply_by_parameter_scale=False)
    gradient = torch.full((8, 8), 1e-3)
    gradient[0, 0] = 10.0
    param.grad = gradient
    optimizer.step()
    update = torch.ones(8, 8) - param.detach()
    assert update.square().mean().sqrt().item() == pytest.approx(1.0, rel=1e-5)
    unclipped = Adafactor([p := torch.nn.Parameter(torch.ones(8, 8))], lr=1.0, multiply_by_parameter_scale=False,
                          clipping_threshold=None)
    p.grad = gradient.clone()
    unclipped.step()
    assert (torch.ones(8, 8) - p.detach()).square().mean().sqrt().item() > 1.5


def test_adam_decay_type_and_relative_step_without_parameter_scale() -> None:
    # decay "adam": at t = 0 the decay is 0; update of a vector with v = g^2 is sign(g) (rms 1, unclipped).
    param = torch.nn.Parameter(torch.zeros(4))
    optimizer = Adafactor([param], decay_type="adam", beta2=0.999, relative_step=True,
                          multiply_by_parameter_scale=False)
    param.grad = torch.tensor([2.0, -3.0, 0.5, -0.1])
    optimizer.step()
    expected_step = 1e-2 * 0.05  # min((t+1)^-0.5, 1e-2) * 0.05 when not scaled by the parameter
    torch.testing.assert_close(param.detach(), -expected_step * torch.tensor([1.0, -1.0, 1.0, -1.0]))
    param.grad = torch.tensor([2.0, -3.0, 0.5, -0.1])
    optimizer.step()
    beta2 = 0.999
    decay = beta2 * (1 - beta2) / (1 - beta2**2)  # Adam's bias correction folded into the decay at t = 1
    assert decay == pytest.approx(0.4997, abs=1e-4)
    torch.testing.assert_close(param.detach(), -2 * expected_step * torch.tensor([1.0, -1.0, 1.0, -1.0]))


def make_pair(shapes: list[tuple[int, ...]]) -> tuple[list[torch.nn.Parameter], list[torch.nn.Parameter]]:
    gen = torch.Generator().manual_seed(1)
    ours = [torch.nn.Parameter(torch.randn(s, generator=gen)) for s in shapes]
    return ours, [torch.nn.Parameter(p.detach().clone()) for p in ours]


@pytest.mark.parametrize("relative_step", [True, False])
def test_agrees_with_torch_adafactor_where_definitions_coincide(relative_step: bool) -> None:
    shapes = [(16, 12), (3, 8, 5), (12,)]
    ours, theirs = make_pair(shapes)
    # relative: ours lr 1 * min(t^-0.5, 1e-2) == torch rho_t = min(1e-2, t^-0.5). fixed: ours lr 5e-3 == torch's
    # min(5e-3, t^-0.5) for t < 40000. torch clamps var at eps1^2, T2T adds eps1 to g^2: eps1 (ours) = 1e-30.
    mine = Adafactor(ours, lr=1.0 if relative_step else 5e-3, relative_step=relative_step)
    reference = torch.optim.Adafactor(theirs, lr=1e-2 if relative_step else 5e-3, eps=(1e-15, 1e-3),
                                      beta2_decay=-0.8, d=1.0)
    gen = torch.Generator().manual_seed(2)
    for _ in range(25):
        for a, b in zip(ours, theirs, strict=True):
            a.grad = torch.randn(a.shape, generator=gen)
            b.grad = a.grad.clone()
        mine.step()
        reference.step()
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a.detach(), b.detach(), rtol=1e-5, atol=1e-6)
    assert not torch.equal(ours[0].detach(), make_pair(shapes)[0][0].detach())


def test_bf16_params_step_with_fp32_state() -> None:
    ours, reference = make_pair([(32, 16), (16,)])
    bf16 = [torch.nn.Parameter(p.detach().to(torch.bfloat16)) for p in ours]
    optimizer_bf16, optimizer_fp32 = Adafactor(bf16, lr=0.05), Adafactor(reference, lr=0.05)
    for seed in range(3):
        one_step(bf16, optimizer_bf16, seed)
        for p, q in zip(reference, bf16, strict=True):
            p.grad = q.grad.float()
        optimizer_fp32.step()
    assert all(p.dtype == torch.bfloat16 for p in bf16)
    assert all(v.dtype == torch.float32 for s in optimizer_bf16.state.values() for v in s.values()
               if isinstance(v, torch.Tensor))
    for p, q in zip(bf16, reference, strict=True):
        torch.testing.assert_close(p.detach().float(), q.detach(), rtol=2e-2, atol=2e-2)  # bf16 rounding
    assert not torch.equal(bf16[0].detach(), ours[0].detach().to(torch.bfloat16))


def test_weight_decay_is_l2_on_the_gradient() -> None:
    decayed, plain = make_pair([(6, 4)])
    opt_decayed, opt_plain = Adafactor(decayed, lr=0.1, weight_decay=0.3), Adafactor(plain, lr=0.1)
    gradient = torch.randn(6, 4, generator=torch.Generator().manual_seed(3))
    decayed[0].grad = gradient.clone()
    plain[0].grad = gradient + 0.3 * plain[0].detach()
    opt_decayed.step()
    opt_plain.step()
    torch.testing.assert_close(decayed[0].detach(), plain[0].detach())
    torch.testing.assert_close(decayed[0].grad, gradient)  # the optimizer never writes into .grad


def test_state_dict_round_trip_continues_identically() -> None:
    first, second = make_pair([(6, 4), (4,)])
    opt_first = Adafactor(first, lr=0.1, beta1=0.9)
    one_step(first, opt_first, seed=0)
    for p, q in zip(first, second, strict=True):
        q.data.copy_(p.detach())
    opt_second = Adafactor(second, lr=0.1, beta1=0.9)
    opt_second.load_state_dict(copy.deepcopy(opt_first.state_dict()))  # as through a checkpoint file
    one_step(first, opt_first, seed=1)
    one_step(second, opt_second, seed=1)
    for p, q in zip(first, second, strict=True):
        torch.testing.assert_close(p.detach(), q.detach(), rtol=0, atol=0)


def test_bf16_state_dict_keeps_fp32_state() -> None:
    params = [torch.nn.Parameter(torch.randn(6, 4).to(torch.bfloat16)), torch.nn.Parameter(torch.randn(4).bfloat16())]
    optimizer = Adafactor(params, lr=0.1, beta1=0.9)
    one_step(params, optimizer)
    saved = copy.deepcopy(optimizer.state_dict())
    restored = Adafactor(params, lr=0.1, beta1=0.9)
    restored.load_state_dict(saved)  # torch's default would cast vr/vc/v/m to bfloat16
    for p in params:
        for key, value in optimizer.state[p].items():
            if isinstance(value, torch.Tensor):
                assert restored.state[p][key].dtype == torch.float32
                torch.testing.assert_close(restored.state[p][key], value, rtol=0, atol=0)
