"""Generated from the registry: every model with every hparams set (shrunk to tiny dims) builds, runs forward and
backward on a batch, and trains two steps through the real entry point (`fast_dev_run`)."""

import math

import lightning as L
import pytest
import torch
from omegaconf import OmegaConf

import t2t_torch
import t2t_torch.train
from helpers import QUIET_TRAINER, TINY_PROBLEM, compose
from t2t_torch.train import build_problem, train

SHRINK = {"hidden_size": 16, "filter_size": 32, "num_heads": 2}


def tiny_hparams(hparams_set, tmp_path):
    cfg = compose([*TINY_PROBLEM, f"hparams={hparams_set}"], tmp_path)
    model = OmegaConf.to_container(cfg.hparams.model)
    model.update({k: v for k, v in SHRINK.items() if k in model})
    return cfg, model


@pytest.mark.parametrize("model_name", t2t_torch.list_models())
@pytest.mark.parametrize("hparams_set", t2t_torch.list_hparams())
def test_forward_backward(model_name, hparams_set, tmp_path):
    cfg, model_hparams = tiny_hparams(hparams_set, tmp_path)
    info = build_problem(cfg).info()
    net = t2t_torch.model(model_name)(model_hparams, info)
    batch = {"inputs": torch.randint(2, info.input_vocab_size, (3, 7)),
             "targets": torch.randint(2, info.target_vocab_size, (3, 5))}
    batch["targets"][0, 3:] = 0  # padding
    out = net(batch)
    assert out["logits"].shape == (3, 5, info.target_vocab_size)
    assert torch.isfinite(out["loss"]) and out["num_tokens"] == 13
    out["loss"].backward()
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)


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


@pytest.mark.parametrize("model_name", t2t_torch.list_models())
def test_fast_dev_run(model_name, tmp_path, monkeypatch):
    recorder = StepRecorder()
    original = t2t_torch.train.bleu_eval_callbacks  # the hook train() uses for its extra callbacks
    monkeypatch.setattr(t2t_torch.train, "bleu_eval_callbacks", lambda cfg: [*original(cfg), recorder])
    cfg = compose([*TINY_PROBLEM, *QUIET_TRAINER, f"model={model_name}", "hparams=transformer_tiny",
                   "hparams.model.hidden_size=16", "hparams.model.filter_size=32", "trainer.fast_dev_run=2"], tmp_path)
    metrics = train(cfg)
    assert [step for step, _ in recorder.steps] == [1, 2] and recorder.final_step == 2  # two real optimizer steps
    assert all(math.isfinite(loss) and loss > 0 for _, loss in recorder.steps), recorder.steps
    assert 0.0 <= metrics["padding_fraction"] < 1.0


@pytest.mark.parametrize("hparams_set", t2t_torch.list_hparams())
def test_debug_fast_runs_with_every_hparams_set(hparams_set, tmp_path):
    """`debug=fast` (the README's "does it run?") plans the learning-rate schedule over the run's own max_steps, not
    over Lightning's one debug step (a cosine schedule with warmup refused that)."""
    shrink = [f"hparams.model.{k}={v}" for k, v in SHRINK.items()]
    cfg = compose([*TINY_PROBLEM, "debug=fast", f"hparams={hparams_set}", *shrink, "hparams.batching.batch_size=64",
                   "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"], tmp_path)
    assert 0.0 <= train(cfg)["padding_fraction"] < 1.0
