"""`init_from` (t2t_torch/run/warm_start.py) on real tiny runs: weights copied into a run with the same settings
(which then starts from the pretrained loss, at step 0), embedding and softmax rows mapped by token into a problem
with another vocabulary, and a foreign model, another width or init_from beside ckpt_path refused in one line."""

import math

import lightning as L
import pytest
import torch

import t2t_torch.run.train
from t2t_torch.errors import T2TUserError
from t2t_torch.run.train import build_datamodule, build_module, train
from t2t_torch.run.warm_start import warm_start
from tests.fixtures.helpers import QUIET_TRAINER, TINY_MODEL, compose, tiny

DECIMAL = ["problem=algorithmic_reverse_decimal40", "problem.train_size=200", "problem.dev_size=24",
           "problem.train_length=8", "problem.dev_length=8"]


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pretrain")
    torch.set_num_threads(1)
    train(compose(tiny(["trainer.max_steps=30", "trainer.val_check_interval=30"]), tmp))
    return tmp / "run" / "checkpoints" / "last.ckpt"


def module_for(cfg):
    datamodule = build_datamodule(cfg)
    problem = datamodule.problem
    problem.generate_data(datamodule.data_dir)
    return build_module(cfg, problem, datamodule.data_dir), problem, datamodule.data_dir


class FirstLoss(L.Callback):
    def __init__(self):
        self.loss, self.step = None, None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.loss is None:
            self.loss, self.step = float(outputs["loss"]), trainer.global_step


def test_a_warm_started_run_starts_from_the_pretrained_weights_at_step_0(pretrained, tmp_path, monkeypatch):
    saved = torch.load(pretrained, weights_only=False)
    losses = {}
    original = t2t_torch.run.train.decode_eval_callbacks  # the hook train() takes its extra callbacks from
    for name, extra in (("scratch", []), ("warm", [f"init_from={pretrained}"])):
        recorder = FirstLoss()
        monkeypatch.setattr(t2t_torch.run.train, "decode_eval_callbacks", lambda cfg, r=recorder: [*original(cfg), r])
        train(compose(tiny(["trainer.max_steps=2", "trainer.val_check_interval=2", *extra]), tmp_path / name))
        losses[name] = (recorder.loss, recorder.step)
    assert losses["warm"][1] == losses["scratch"][1] == 1  # a new run: the step count starts again
    assert losses["warm"][0] < losses["scratch"][0] - 0.1, losses  # it starts where pretraining ended
    module, _, _ = module_for(compose(tiny(), tmp_path / "check"))
    report = warm_start(module.model, "transformer", pretrained, {}, set())
    assert not report.mapped and not report.initialized and not report.unused
    for key, value in module.model.state_dict().items():
        torch.testing.assert_close(value, saved["state_dict"][f"model.{key}"], rtol=0, atol=0)


def test_another_vocabulary_maps_the_rows_of_shared_tokens(pretrained, tmp_path):
    module, problem, data_dir = module_for(compose([*DECIMAL, *TINY_MODEL, *QUIET_TRAINER], tmp_path))
    fresh = {k: v.clone() for k, v in module.model.state_dict().items()}
    report = warm_start(module.model, "transformer", pretrained, problem.feature_encoders(data_dir), set())
    old = {k[len("model."):]: v for k, v in torch.load(pretrained, weights_only=False)["state_dict"].items()}
    assert report.mapped and all(found == 4 for found, _ in report.mapped.values())  # pad, eos, "0", "1"
    new_encoder = problem.feature_encoders(data_dir)["targets"]
    ids = {new_encoder.decode([i]): i for i in range(2, 12)}
    state = module.model.state_dict()
    for name, (_, rows) in report.mapped.items():
        assert rows == 12 and old[name].shape[0] == 4
        torch.testing.assert_close(state[name][ids["1"]], old[name][3])  # binary: 0 -> id 2, 1 -> id 3
        torch.testing.assert_close(state[name][ids["7"]], fresh[name][ids["7"]])  # not in the old vocabulary
    body = next(k for k in report.copied if k.startswith("body."))
    torch.testing.assert_close(state[body], old[body])
    assert "mapped" in report.summary() and math.isfinite(float(state[body].sum()))


def test_what_cannot_be_mapped_is_one_line(pretrained, tmp_path):
    wider, _, _ = module_for(compose(tiny(["hparams.model.hidden_size=32"]), tmp_path / "wide"))
    with pytest.raises(T2TUserError, match=r"is \(.*\) there and \(.*\) in this model"):
        warm_start(wider.model, "transformer", pretrained, {}, set())
    with pytest.raises(T2TUserError, match="is a transformer model and this run trains basic_fc_relu"):
        warm_start(wider.model, "basic_fc_relu", pretrained, {}, set())
    with pytest.raises(T2TUserError, match="pass only one of them"):
        compose(tiny([f"init_from={pretrained}", f"ckpt_path={pretrained}"]), tmp_path / "both")
    with pytest.raises(T2TUserError, match="does not exist"):
        compose(tiny([f"init_from={tmp_path / 'missing.ckpt'}"]), tmp_path / "missing")


def test_a_classifier_with_other_classes_gets_a_new_head_and_keeps_its_body(tmp_path):
    from t2t_torch import model as model_class
    from t2t_torch.spec import ProblemSpec, class_label_feature, symbol_feature

    hparams = {"hidden_size": 16, "num_heads": 2, "filter_size": 32, "num_hidden_layers": 1}

    def classifier(classes):
        spec = ProblemSpec(features={"inputs": symbol_feature(20), "targets": class_label_feature(classes)})
        return model_class("transformer_encoder")(hparams, spec)

    torch.manual_seed(0)
    five = classifier(5)
    path = tmp_path / "five.ckpt"
    torch.save({"state_dict": {f"model.{k}": v for k, v in five.state_dict().items()}, "global_step": 9,
                "hyper_parameters": {"model_name": "transformer_encoder"}}, path)
    three = classifier(3)
    fresh = {k: v.clone() for k, v in three.state_dict().items()}
    report = warm_start(three, "transformer_encoder", path, {}, {"targets"})
    head = [k for k in report.initialized if k.startswith("targets_modality.")]
    assert head and not report.mapped and not report.unused
    state = three.state_dict()
    for key in head:
        torch.testing.assert_close(state[key], fresh[key])  # a new head, as initialised
    for key in report.copied:
        torch.testing.assert_close(state[key], five.state_dict()[key])
    assert any(k.startswith("body.") for k in report.copied)
