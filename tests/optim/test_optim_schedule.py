"""Learning-rate schedule grammar (t2t_torch/optim/schedule.py) against closed forms and T2T's identities."""

from __future__ import annotations

import io
import math

import pytest
import torch

from t2t_torch.optim import OptimConfig, OptimConfigError, ScheduleError, build_lr_lambda, build_lr_scheduler
from t2t_torch.optim.schedule import SCHEDULE_FACTORS

W, H = 8000, 512  # transformer_base_v3 warmup and hidden size


def lr_fn(hidden_size: int = H, train_steps: int | None = None, **overrides: object):
    return build_lr_lambda(OptimConfig().replace(**overrides), hidden_size, train_steps=train_steps)


def test_defaults_are_transformer_base_v3() -> None:
    cfg = OptimConfig()
    assert cfg.learning_rate_schedule == "constant*linear_warmup*rsqrt_decay*rsqrt_hidden_size"
    assert (cfg.learning_rate_constant, cfg.learning_rate_warmup_steps, cfg.learning_rate) == (2.0, 8000, 0.2)
    assert (cfg.optimizer, cfg.optimizer_adam_beta1, cfg.optimizer_adam_beta2) == ("adam", 0.9, 0.997)
    assert cfg.optimizer_adam_epsilon == 1e-9 and cfg.learning_rate_decay_scheme == "noam"


@pytest.mark.parametrize("step", [0, 1, W - 1, 4 * W - 1, 100_000])
def test_base_v3_schedule_matches_closed_form(step: int) -> None:
    n = step + 1  # the schedule evaluates factors at the 1-based update number
    expected = 2.0 * min(1.0, n / W) / math.sqrt(max(n, W)) / math.sqrt(H)
    assert lr_fn()(step) == pytest.approx(expected, rel=1e-12)


def test_base_v3_peak_and_decay() -> None:
    lr = lr_fn()
    peak = 2.0 / math.sqrt(W * H)
    assert lr(W - 1) == pytest.approx(peak, rel=1e-12)  # update number W is the peak
    assert lr(4 * W - 1) == pytest.approx(peak / 2, rel=1e-12)  # rsqrt decay: 4x the steps, half the lr
    assert lr(0) == pytest.approx(peak / W, rel=1e-12)  # first update is not 0 (T2T's would be)
    assert lr(0) > 0


@pytest.mark.parametrize("step", [0, 1, 10, 3999, 4000, 7998, 7999, 8000, 20_000, 123_456])
def test_noam_legacy_equals_factor_product_with_constant_2(step: int) -> None:
    legacy = lr_fn(learning_rate_schedule="legacy", learning_rate_decay_scheme="noam", learning_rate=0.2)
    product = lr_fn(learning_rate_constant=2.0)
    assert legacy(step) == pytest.approx(product(step), rel=1e-12)


def test_noam_legacy_is_t2t_formula_at_the_global_step() -> None:
    # T2T: 5000 * h^-0.5 * min((s+1) * w^-1.5, (s+1)^-0.5) * 0.002 * learning_rate at global step s.
    legacy = lr_fn(learning_rate_schedule="legacy", learning_rate=0.1, learning_rate_warmup_steps=4000)
    for s in (0, 3999, 50_000):
        t2t = 5000 * H**-0.5 * min((s + 1) * 4000**-1.5, (s + 1) ** -0.5) * 0.002 * 0.1
        assert legacy(s) == pytest.approx(t2t, rel=1e-12)


def test_legacy_adam_correction_only_for_adam_optimizers() -> None:
    kw = dict(learning_rate_schedule="legacy", learning_rate_decay_scheme="none", learning_rate_warmup_steps=0)
    assert lr_fn(optimizer="adam", learning_rate=0.5, **kw)(10) == pytest.approx(0.001)
    assert lr_fn(optimizer="multistep_adam", learning_rate=0.5, **kw)(10) == pytest.approx(0.001)
    assert lr_fn(optimizer="adafactor", learning_rate=0.5, **kw)(10) == pytest.approx(0.5)


def test_legacy_exp_warmup_then_schemes() -> None:
    base = dict(learning_rate_schedule="legacy", optimizer="sgd_momentum", learning_rate=1.0,
                learning_rate_warmup_steps=100)
    none = lr_fn(learning_rate_decay_scheme="none", **base)
    assert none(0) == pytest.approx(0.01 ** (99 / 100))  # exponential warmup from 1% at n = 0
    assert none(98) == pytest.approx(0.01 ** (1 / 100)) and none(99) == 1.0 and none(5000) == 1.0
    sqrt = lr_fn(learning_rate_decay_scheme="sqrt", **base)
    assert sqrt(99) == pytest.approx(500.0) and sqrt(499) == pytest.approx(500.0 / math.sqrt(400))
    exp = lr_fn(learning_rate_decay_scheme="exp", learning_rate_decay_rate=0.5, learning_rate_decay_steps=50,
                **base)
    assert exp(199) == pytest.approx(0.25)  # n = 200: 0.5 ** ((200 - 100) / 50)
    piece = lr_fn(learning_rate_decay_scheme="piecewise", learning_rate_boundaries=[200, 400],
                  learning_rate_multiples=[0.1, 0.01], **base)
    assert [piece(s) for s in (199, 200, 399, 400)] == pytest.approx([1.0, 0.1, 0.1, 0.01])
    cosine = lr_fn(learning_rate_decay_scheme="cosine", learning_rate_cosine_cycle_steps=1000, **base)
    assert cosine(499) == pytest.approx(0.5) and cosine(999) == pytest.approx(0.0, abs=1e-12)
    assert cosine(1499) == pytest.approx(0.5) and cosine(1999) == pytest.approx(1.0)  # back up: a cycle
    cyc = lr_fn(learning_rate_decay_scheme="cyclelinear10x", **base)
    assert cyc(99) == pytest.approx(3.3) and cyc(149) == pytest.approx(1.8) and cyc(199) == pytest.approx(0.3)


@pytest.mark.parametrize(
    ("schedule", "step", "expected"),
    [
        ("linear_warmup", 49, 0.5),
        ("linear_warmup", 500, 1.0),
        ("linear_decay", 899, 0.5),  # (T - n) / d = (1000 - 900) / 200
        ("linear_decay", 5, 1.0),
        ("linear_decay", 2000, 0.0),
        ("rsqrt_normalized_decay", 10, 1.0),
        ("rsqrt_normalized_decay", 399, 0.5),  # sqrt(100) / sqrt(400)
        ("rsqrt_decay", 10, 0.1),
        ("exp_decay", 50, 1.0),  # before warmup ends: rate ** 0
        ("exp_decay", 499, 0.25),  # 0.5 ** ((500 - 100) / 200)
        ("cosdecay", 99, 1.0),  # n <= warmup
        ("cosdecay", 499, 0.5 * (1 + math.cos(math.pi * 500 / 200))),
        ("single_cycle_cos_decay", 99, 1.0),
        ("single_cycle_cos_decay", 549, 0.5),  # halfway from warmup (100) to train_steps (1000)
        ("single_cycle_cos_decay", 999, 0.0),
        ("multi_cycle_cos_decay", 199, 0.5),  # (200 - 100) / 200 of a half cycle
        ("constant", 7, 3.0),
        ("rsqrt_hidden_size", 7, 0.25),
        ("constant*linear_warmup*rsqrt_hidden_size", 49, 3.0 * 0.5 * 0.25),
    ],
)
def test_factor_closed_forms(schedule: str, step: int, expected: float) -> None:
    lr = lr_fn(hidden_size=16, train_steps=1000, learning_rate_schedule=schedule, learning_rate_constant=3.0,
               learning_rate_warmup_steps=100, learning_rate_decay_steps=200, learning_rate_decay_rate=0.5)
    assert lr(step) == pytest.approx(expected, abs=1e-12)


def test_exp_decay_staircase() -> None:
    kw = dict(learning_rate_schedule="exp_decay", learning_rate_warmup_steps=0, learning_rate_decay_steps=100,
              learning_rate_decay_rate=0.5, learning_rate_decay_staircase=True)
    assert [lr_fn(**kw)(s) for s in (98, 99, 198, 199)] == pytest.approx([1.0, 0.5, 0.5, 0.25])


def test_every_factor_builds_and_is_finite() -> None:
    for name in SCHEDULE_FACTORS:
        lr = lr_fn(train_steps=10_000, learning_rate_schedule=name)
        assert all(math.isfinite(lr(s)) and lr(s) >= 0 for s in (0, 1, 7999, 9999, 20_000)), name


def test_unknown_factor_rejected_at_build_time_with_known_list() -> None:
    with pytest.raises(ScheduleError) as err:
        lr_fn(learning_rate_schedule="constant*linear_warmup*rsqrt_dcay")
    message = str(err.value)
    assert "\n" not in message and "'rsqrt_dcay'" in message and "Did you mean: rsqrt_decay" in message
    assert all(name in message for name in SCHEDULE_FACTORS)


def test_bad_schedule_settings_rejected() -> None:
    with pytest.raises(ScheduleError, match="train_steps"):
        lr_fn(learning_rate_schedule="linear_decay")
    with pytest.raises(ScheduleError, match="train_steps > learning_rate_warmup_steps"):
        lr_fn(train_steps=100, learning_rate_schedule="single_cycle_cos_decay")
    with pytest.raises(ScheduleError, match="learning_rate_decay_steps > 0"):
        lr_fn(learning_rate_schedule="cosdecay", learning_rate_decay_steps=0)
    with pytest.raises(ScheduleError, match="Did you mean: noam"):
        lr_fn(learning_rate_schedule="legacy", learning_rate_decay_scheme="nooam")
    with pytest.raises(ValueError, match=">= 0"):
        lr_fn()(-1)


def test_lambdalr_gives_absolute_lr_and_state_dict_round_trips() -> None:
    param = torch.nn.Parameter(torch.zeros(3))
    optimizer = torch.optim.SGD([param], lr=1.0)
    scheduler = build_lr_scheduler(optimizer, OptimConfig(), H)
    lr = lr_fn()
    for step in range(5):
        assert optimizer.param_groups[0]["lr"] == pytest.approx(lr(step), rel=1e-12)
        optimizer.step()
        scheduler.step()
    buffer = io.BytesIO()
    torch.save(scheduler.state_dict(), buffer)  # a plain function: nothing unpicklable in the checkpoint
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    fresh_opt = torch.optim.SGD([param], lr=1.0)
    fresh = build_lr_scheduler(fresh_opt, OptimConfig(), H)
    fresh.load_state_dict(state)
    fresh_opt.step()
    fresh.step()
    assert fresh_opt.param_groups[0]["lr"] == pytest.approx(lr(6), rel=1e-12)


def test_scheduler_refuses_optimizer_not_built_with_lr_1() -> None:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(ScheduleError, match="lr=1.0"):
        build_lr_scheduler(optimizer, OptimConfig(), H)


def test_config_from_mapping() -> None:
    cfg = OptimConfig.from_mapping({"learning_rate": 1, "learning_rate_boundaries": [1, 2],
                                    "learning_rate_multiples": [0.5, 0.1]})
    assert cfg.learning_rate == 1.0 and isinstance(cfg.learning_rate, float)
    assert cfg.learning_rate_boundaries == (1, 2)
    with pytest.raises(OptimConfigError) as err:
        OptimConfig.from_mapping({"learnin_rate": 0.1})
    assert str(err.value).startswith("unknown optim hparam 'learnin_rate'. Did you mean: learning_rate,")
    with pytest.raises(OptimConfigError, match="must be int"):
        OptimConfig.from_mapping({"learning_rate_warmup_steps": "8k"})
    with pytest.raises(OptimConfigError, match="'adam' or 'pow'"):
        OptimConfig(optimizer_adafactor_decay_type="exp")
    with pytest.raises(OptimConfigError, match="same length"):
        OptimConfig(learning_rate_boundaries=(1,))
