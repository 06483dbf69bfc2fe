"""build_optimizer (t2t_torch/optim/optimizers.py): every name steps a tiny model; decay groups; multistep."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from t2t_torch.optim import (
    OPTIMIZER_NAMES,
    Adafactor,
    OptimConfig,
    OptimConfigError,
    accumulate_grad_batches,
    build_lr_scheduler,
    build_optimizer,
    gradient_clip_val,
)

ALIASES = ["true_adam", "adam_w", "momentum", "Adafactor", "MultistepAdam"]


def tiny_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Embedding(10, 8), nn.Linear(8, 16), nn.LayerNorm(16), nn.ReLU(), nn.Linear(16, 10))


def batch(seed: int, size: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 10, (size,), generator=gen), torch.randint(0, 10, (size,), generator=gen)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def loss_of(model: nn.Module, data: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    inputs, targets = data
    return nn.functional.cross_entropy(model(inputs), targets)


@pytest.mark.parametrize("name", [*OPTIMIZER_NAMES, *ALIASES])
def test_every_optimizer_builds_with_lr_1_and_reduces_the_loss(name: str) -> None:
    model = tiny_model()
    cfg = OptimConfig(optimizer=name, learning_rate_schedule="constant", learning_rate_constant=0.05,
                      weight_decay=1e-4)
    optimizer = build_optimizer(model.named_parameters(), cfg)
    assert all(group["lr"] == 1.0 for group in optimizer.param_groups)
    scheduler = build_lr_scheduler(optimizer, cfg, hidden_size=8)
    data = batch(0)
    first = loss_of(model, data).item()
    for _ in range(20):
        optimizer.zero_grad()
        loss_of(model, data).backward()
        optimizer.step()
        scheduler.step()
    assert all(group["lr"] == pytest.approx(0.05) for group in optimizer.param_groups)
    assert loss_of(model, data).item() < 0.9 * first


def test_names_map_to_the_right_torch_optimizers() -> None:
    cfg = OptimConfig()
    expected = {"adam": torch.optim.Adam, "multistep_adam": torch.optim.Adam, "adamw": torch.optim.AdamW,
                "adafactor": Adafactor, "sgd_momentum": torch.optim.SGD}
    for name, cls in expected.items():
        assert type(build_optimizer(tiny_model().named_parameters(), cfg.replace(optimizer=name))) is cls
    adam = build_optimizer(tiny_model().named_parameters(), cfg)
    assert adam.defaults["betas"] == (0.9, 0.997) and adam.defaults["eps"] == 1e-9
    sgd = build_optimizer(tiny_model().named_parameters(),
                          cfg.replace(optimizer="momentum", optimizer_momentum_nesterov=True))
    assert sgd.defaults["momentum"] == 0.9 and sgd.defaults["nesterov"] is True
    factor = build_optimizer(tiny_model().named_parameters(),
                             cfg.replace(optimizer="adafactor", optimizer_adafactor_decay_type="adam"))
    assert factor.defaults["decay_type"] == "adam" and factor.defaults["beta1"] == 0.0
    assert factor.defaults["memory_exponent"] == 0.8 and factor.defaults["clipping_threshold"] == 1.0


def group_names(model: nn.Module, optimizer: torch.optim.Optimizer) -> list[set[str]]:
    names = {id(p): n for n, p in model.named_parameters()}
    return [{names[id(p)] for p in g["params"]} for g in optimizer.param_groups if g["weight_decay"] == 0.0]


def test_weight_decay_groups_follow_t2t_l2_and_adamw_conventions() -> None:
    model = tiny_model()
    l2 = build_optimizer(model.named_parameters(), OptimConfig(weight_decay=0.01))
    assert group_names(model, l2) == [{"1.bias", "2.bias", "4.bias"}]  # T2T: only 1-D "...bias" skipped
    adamw = build_optimizer(model.named_parameters(), OptimConfig(optimizer="adamw", weight_decay=0.01))
    assert group_names(model, adamw) == [{"1.bias", "2.weight", "2.bias", "4.bias"}]  # all 1-D params
    assert not adamw.defaults["fused"]  # CPU parameters: torch's default implementation
    plain = build_optimizer(model.named_parameters(), OptimConfig())
    assert len(plain.param_groups) == 1


def test_adam_weight_decay_equals_t2t_l2_loss() -> None:
    decayed, reference = tiny_model(), tiny_model()
    opt_decayed = build_optimizer(decayed.named_parameters(), OptimConfig(weight_decay=0.1))
    opt_reference = build_optimizer(reference.named_parameters(), OptimConfig())
    for seed in range(3):
        for opt in (opt_decayed, opt_reference):
            opt.zero_grad()
            set_lr(opt, 1e-2)
        loss_of(decayed, batch(seed)).backward()
        l2 = sum(p.square().sum() / 2 for n, p in reference.named_parameters() if not n.endswith("bias"))
        (loss_of(reference, batch(seed)) + 0.1 * l2).backward()  # T2T: loss += weight_decay * l2_loss
        opt_decayed.step()
        opt_reference.step()
    for p, q in zip(decayed.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_multistep_accumulation_equals_one_large_batch() -> None:
    k, micro = 4, 6
    cfg = OptimConfig(optimizer="multistep_adam", optimizer_multistep_accumulate_steps=k)
    assert accumulate_grad_batches(cfg) == k and accumulate_grad_batches(OptimConfig()) == 1
    accumulated, large = tiny_model(), tiny_model()
    opt_accumulated = build_optimizer(accumulated.named_parameters(), cfg)
    opt_large = build_optimizer(large.named_parameters(), cfg)
    for update in range(3):
        inputs, targets = batch(update, size=k * micro)
        for opt in (opt_accumulated, opt_large):
            opt.zero_grad()
            set_lr(opt, 1e-2)
        for i in range(k):  # Lightning scales each micro-batch loss by 1/k, as T2T averages the k gradients
            part = slice(i * micro, (i + 1) * micro)
            (loss_of(accumulated, (inputs[part], targets[part])) / k).backward()
        loss_of(large, (inputs, targets)).backward()
        for p, q in zip(accumulated.parameters(), large.parameters(), strict=True):
            torch.testing.assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-7)
        opt_accumulated.step()
        opt_large.step()
    for p, q in zip(accumulated.parameters(), large.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    assert not torch.equal(next(accumulated.parameters()), next(tiny_model().parameters()))


def test_unknown_optimizer_names_close_matches_and_known_list() -> None:
    with pytest.raises(OptimConfigError) as err:
        build_optimizer(tiny_model().named_parameters(), OptimConfig(optimizer="adafacter"))
    message = str(err.value)
    assert "\n" not in message and "Did you mean: adafactor" in message
    assert all(name in message for name in OPTIMIZER_NAMES)


def test_frozen_model_and_clip_setting() -> None:
    model = tiny_model()
    for p in model.parameters():
        p.requires_grad_(False)
    with pytest.raises(OptimConfigError, match="no trainable parameters"):
        build_optimizer(model.named_parameters(), OptimConfig())
    assert gradient_clip_val(OptimConfig()) is None and gradient_clip_val(OptimConfig(clip_grad_norm=2.0)) == 2.0


def test_adafactor_from_config_steps_bf16_model() -> None:
    model = tiny_model().to(torch.bfloat16)
    optimizer = build_optimizer(model.named_parameters(), OptimConfig(optimizer="adafactor"))
    set_lr(optimizer, 0.05)
    before = [p.detach().clone() for p in model.parameters()]
    loss_of(model, batch(0)).float().backward()
    optimizer.step()
    assert all(p.dtype == torch.bfloat16 for p in model.parameters())
    assert any(not torch.equal(p, q) for p, q in zip(model.parameters(), before, strict=True))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="fused AdamW needs CUDA parameters")
def test_adamw_is_fused_on_cuda() -> None:
    model = tiny_model().cuda()
    optimizer = build_optimizer(model.named_parameters(), OptimConfig(optimizer="adamw", weight_decay=0.01))
    assert optimizer.defaults["fused"] is True
    loss_of(model, tuple(t.cuda() for t in batch(0))).backward()
    optimizer.step()
