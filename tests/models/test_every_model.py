"""Generated from the registry: every model with every hparams set that fits it (shrunk to tiny dims) is built for
every kind of problem its family can take, runs forward and backward on a random batch shaped by the problem's
spec, and trains two steps through the real entry point (`fast_dev_run`); a pair it cannot take is a one-line
error. A new model, hparams set or problem family is tested without new test code."""

import math

import lightning as L
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

import t2t_torch
import t2t_torch.run.train
from t2t_torch import registry
from t2t_torch.errors import T2TUserError
from t2t_torch.models.body import family_for
from t2t_torch.run.config_check import _hparams_models
from t2t_torch.run.train import train
from t2t_torch.spec import FeatureSpec, ProblemSpec, class_label_feature, symbol_feature
from tests.fixtures.helpers import QUIET_TRAINER, compose
from tests.fixtures.text import offline_config

# A small feature of each modality, for specs built from a problem's modalities alone.
FEATURES = {"symbol": symbol_feature(20), "class_label": class_label_feature(5),
            "image": FeatureSpec("image", 256, (8, 8, 1), "uint8", 0, False),
            "real": FeatureSpec("real", 0, (None, 3), "float32", 0.0, False),
            "audio_spectral": FeatureSpec("audio_spectral", 0, (None, 16), "float32", 0.0, False)}
SIGNATURES = sorted({tuple(sorted(registry.problem_class(n).class_modalities(n.endswith("_rev")).items()))
                     for n in t2t_torch.list_problems(include_reversed=True)})
MODELS = t2t_torch.list_models()


def fitting_sets(model_name):
    return [h for h in t2t_torch.list_hparams() if model_name in (_hparams_models(h) or [model_name])]


def spec_of(signature):
    return ProblemSpec(features={feature: FEATURES[modality] for feature, modality in signature},
                       batch_size_means_tokens="image" not in dict(signature).values())


def random_value(feature, rng, length):
    shape = tuple(length if d is None else d for d in feature.shape)
    if feature.modality in ("symbol", "class_label", "image"):
        low = 2 if feature.modality == "symbol" else 0
        return rng.integers(low, feature.vocab_size, shape).astype(feature.dtype)
    return rng.standard_normal(shape).astype(feature.dtype) + 0.5


def random_batch(spec, rows=3):
    rng = np.random.default_rng(0)
    batch = {}
    for name, feature in spec.features.items():
        values = np.stack([random_value(feature, rng, 7 if name == "inputs" else 5) for _ in range(rows)])
        batch[name] = torch.from_numpy(values)
    if spec.targets.is_variable_length:
        batch["targets"][0, 3:] = 0  # padding
    return batch


CASES = [(m, h, s) for m in MODELS for h in fitting_sets(m) for s in SIGNATURES]


@pytest.mark.parametrize(("model_name", "hparams_set", "signature"), CASES)
def test_forward_backward_or_refused(model_name, hparams_set, signature, tmp_path):
    body = registry.model_class(model_name)
    try:
        family_for(body, dict(signature), model_name, "p")
    except T2TUserError as error:
        assert "\n" not in str(error) and "pass model=" in str(error)
        return
    cfg = compose([f"problem={offline_problem(model_name)[0]}", f"model={model_name}", f"hparams={hparams_set}"],
                  tmp_path)
    model_hparams = body.shrink(OmegaConf.to_container(cfg.hparams.model))
    spec = spec_of(signature)
    net = t2t_torch.model(model_name)(model_hparams, spec, OmegaConf.to_container(cfg.hparams.get("modality") or {}))
    batch = random_batch(spec)
    out = net(batch)
    targets = spec.targets
    if targets.modality == "symbol":
        assert out["logits"].shape == (3, 5, targets.vocab_size) and out["num_tokens"] == 13
    elif targets.modality == "class_label":
        assert out["logits"].shape == (3, targets.vocab_size) and out["num_tokens"] == 3
    assert torch.isfinite(out["loss"])
    out["loss"].backward()
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)


def offline_problem(model_name):
    """Overrides for the first registered problem this model can take that prepares offline (fixtures for those
    that download)."""
    body = registry.model_class(model_name)
    offline_first = sorted(t2t_torch.list_problems(),
                           key=lambda n: bool(getattr(registry.problem_class(n), "requires_download", False)))
    for name in offline_first:  # image_digits before the CIFAR fixtures: smaller, so faster
        cls = registry.problem_class(name)
        try:
            family_for(body, cls.class_modalities(), model_name, name)
        except T2TUserError:
            continue
        return name, cls
    raise AssertionError(f"no registered problem fits model {model_name}")


def compose_with_problem(model_name, overrides, tmp_path):
    """The composed config of `overrides` on a tiny problem the model can take (its settings set after composing:
    fixture paths are not command-line values)."""
    name, cls = offline_problem(model_name)
    if getattr(cls, "requires_download", False):
        settings = offline_config(name, tmp_path / "fixtures")
    else:
        settings = {k: v for k, v in {"train_size": 200, "dev_size": 24, "train_length": 8, "dev_length": 8}.items()
                    if k in cls.config_keys}
    cfg = compose([f"problem={name}", *overrides], tmp_path)
    for key, value in settings.items():
        OmegaConf.update(cfg, f"problem.{key}", value, merge=False)
    return cfg


def shrink_model(cfg, model_name):
    """`cfg.hparams.model` at the body's toy dims (`Body.shrink`)."""
    tiny = registry.model_class(model_name).shrink(OmegaConf.to_container(cfg.hparams.model))
    OmegaConf.update(cfg, "hparams.model", tiny, merge=False)


class StepRecorder(L.Callback):
    """What each optimizer step of the real run returned: (global_step after it, loss)."""

    def __init__(self) -> None:
        self.steps: list[tuple[int, float]] = []
        self.final_step: int | None = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        self.steps.append((trainer.global_step, float(loss.detach())))

    def on_train_end(self, trainer, pl_module):
        self.final_step = trainer.global_step


@pytest.mark.parametrize("model_name", MODELS)
def test_fast_dev_run(model_name, tmp_path, monkeypatch):
    recorder = StepRecorder()
    original = t2t_torch.run.train.decode_eval_callbacks  # the hook train() uses for its extra callbacks
    monkeypatch.setattr(t2t_torch.run.train, "decode_eval_callbacks", lambda cfg: [*original(cfg), recorder])
    cfg = compose_with_problem(model_name, [*QUIET_TRAINER, f"model={model_name}",
                               f"hparams={fitting_sets(model_name)[0]}", "trainer.fast_dev_run=2"], tmp_path)
    shrink_model(cfg, model_name)
    metrics = train(cfg)
    assert [step for step, _ in recorder.steps] == [1, 2] and recorder.final_step == 2  # two real optimizer steps
    assert all(math.isfinite(loss) and loss > 0 for _, loss in recorder.steps), recorder.steps
    assert math.isnan(metrics["padding_fraction"]) or 0.0 <= metrics["padding_fraction"] < 1.0


@pytest.mark.parametrize("hparams_set", t2t_torch.list_hparams())
def test_debug_fast_runs_with_every_hparams_set(hparams_set, tmp_path):
    """`debug=fast` (the README's "does it run?") plans the learning-rate schedule over the run's own max_steps, not
    over Lightning's one debug step (a cosine schedule with warmup refused that)."""
    model_name = (_hparams_models(hparams_set) or ["transformer"])[0]
    cfg = compose_with_problem(model_name, ["debug=fast", f"model={model_name}", f"hparams={hparams_set}",
                                            "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"],
                               tmp_path)
    shrink_model(cfg, model_name)
    OmegaConf.update(cfg, "hparams.batching.batch_size", 64)
    metrics = train(cfg)
    assert math.isnan(metrics["padding_fraction"]) or 0.0 <= metrics["padding_fraction"] < 1.0
