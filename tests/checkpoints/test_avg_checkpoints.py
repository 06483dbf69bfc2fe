"""`t2t-avg-checkpoints` on small hand-made checkpoints in the layout t2t-train writes (state_dict under `model.`,
hyper_parameters, global_step): averages are exact, other runs' checkpoints are refused (another model, problem or
vocabulary, even with the same weight shapes), and the output decodes and has the usual file mode."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import torch

import t2t_torch
from t2t_torch.checkpoints.average import main
from t2t_torch.inference.predictor import Predictor
from t2t_torch.models.checkpoint_vocabulary import VOCABULARIES_KEY

MODEL_HPARAMS = {"hidden_size": 8, "num_hidden_layers": 1, "num_heads": 2, "filter_size": 16}
PROBLEM_SPEC = t2t_torch.problem("algorithmic_identity_binary40").spec().as_dict()  # vocabulary of 4 ids


def write_checkpoint(path: Path, seed: int, step: int, hidden_size: int = 8,
                     **identity: Any) -> dict[str, torch.Tensor]:
    """A checkpoint of a tiny Transformer; `identity` overrides hyper_parameters (problem_name, run_config, ...)."""
    torch.manual_seed(seed)
    hparams = {**MODEL_HPARAMS, "hidden_size": hidden_size}
    net = t2t_torch.model("transformer")(hparams, t2t_torch.problem("algorithmic_identity_binary40").spec())
    state = {f"model.{k}": v for k, v in net.state_dict().items()}
    state["val_metrics.count"] = torch.tensor(step)  # a non-float tensor: taken from the newest checkpoint
    checkpoint = {
        "state_dict": state, "global_step": step, "epoch": 0, "pytorch-lightning_version": "2.6.6",
        "optimizer_states": [], "hyper_parameters": {
            "model_name": "transformer", "model_hparams": hparams, "problem_spec": PROBLEM_SPEC,
            "problem_name": "algorithmic_identity_binary40", "run_config": {}, **identity},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, path)
    return state


def averaged(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["state_dict"]


def test_average_of_identical_checkpoints_is_the_original(tmp_path):
    state = write_checkpoint(tmp_path / "a.ckpt", seed=0, step=10)
    write_checkpoint(tmp_path / "b.ckpt", seed=0, step=20)
    assert main([str(tmp_path / "a.ckpt"), str(tmp_path / "b.ckpt"), "--output_path", str(tmp_path / "avg.ckpt")]) == 0
    result = averaged(tmp_path / "avg.ckpt")
    assert result.keys() == state.keys()
    for key, value in state.items():
        if key != "val_metrics.count":
            assert torch.equal(result[key], value), key


def test_average_of_different_checkpoints_is_their_mean(tmp_path):
    first = write_checkpoint(tmp_path / "a.ckpt", seed=0, step=10)
    second = write_checkpoint(tmp_path / "b.ckpt", seed=1, step=20)
    assert main([str(tmp_path / "a.ckpt"), str(tmp_path / "b.ckpt"), "--output_path", str(tmp_path / "avg.ckpt")]) == 0
    result = averaged(tmp_path / "avg.ckpt")
    weight = "model.body.decoder.0.ffn.up.weight"
    assert not torch.equal(first[weight], second[weight])
    for key in first:
        if key != "val_metrics.count":
            torch.testing.assert_close(result[key], (first[key] + second[key]) / 2, rtol=0, atol=1e-7)
    assert int(result["val_metrics.count"]) == 20
    checkpoint = torch.load(tmp_path / "avg.ckpt", weights_only=True)
    assert checkpoint["global_step"] == 20 and "optimizer_states" not in checkpoint


def test_run_dir_takes_the_newest_n_and_counts_last_ckpt_once(tmp_path, capsys):
    run = tmp_path / "run"
    states = {step: write_checkpoint(run / "checkpoints" / f"step-{step}.ckpt", seed=step, step=step)
              for step in (100, 200, 300)}
    write_checkpoint(run / "checkpoints" / "last.ckpt", seed=300, step=300)
    assert main([str(run), "--n", "2"]) == 0
    output = run / "avg" / "avg-last2-step300.ckpt"
    assert "steps 200, 300" in capsys.readouterr().out
    expected = (states[200]["model.body.encoder_norm.weight"] + states[300]["model.body.encoder_norm.weight"]) / 2
    torch.testing.assert_close(averaged(output)["model.body.encoder_norm.weight"], expected)
    predictor = Predictor.from_checkpoint(output)  # the averaged file is a complete checkpoint for decoding
    torch.testing.assert_close(predictor.model.body.encoder_norm.weight.detach(), expected)
    assert len(predictor.translate(["1 0 1", "0 1"], beam_size=2, extra_length=3)) == 2


def test_other_models_are_refused_in_one_line_and_nothing_is_written(tmp_path, capsys):
    write_checkpoint(tmp_path / "a.ckpt", seed=0, step=10)
    write_checkpoint(tmp_path / "b.ckpt", seed=0, step=20, hidden_size=16)
    assert main([str(tmp_path / "a.ckpt"), str(tmp_path / "b.ckpt"), "--output_path", str(tmp_path / "avg.ckpt")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("t2t-avg-checkpoints: error: cannot average") and "model hparams" in err
    assert not (tmp_path / "avg.ckpt").exists()


@pytest.mark.parametrize(("args", "needle"), [
    (["MISSING"], "does not exist"),
    (["EMPTY_DIR"], "no .ckpt files"),
    (["A", "--n", "0"], "--n must be >= 1"),
    (["A"], "needs --output_path"),
    (["A", "--output_path", "A"], "is one of the inputs"),
    (["GARBAGE", "--output_path", "out.ckpt"], "cannot read checkpoint"),
    (["A", "TENSOR", "--output_path", "out.ckpt"], "not a checkpoint dictionary"),
])
def test_bad_arguments_are_one_line_errors(args, needle, tmp_path, capsys):
    write_checkpoint(tmp_path / "a.ckpt", seed=0, step=10)
    (tmp_path / "empty").mkdir()
    (tmp_path / "garbage.ckpt").write_bytes(b"not a checkpoint")
    torch.save(torch.ones(3), tmp_path / "tensor.ckpt")
    names = {"MISSING": tmp_path / "missing", "EMPTY_DIR": tmp_path / "empty", "A": tmp_path / "a.ckpt",
             "GARBAGE": tmp_path / "garbage.ckpt", "TENSOR": tmp_path / "tensor.ckpt",
             "out.ckpt": tmp_path / "out.ckpt"}
    assert main([str(names.get(a, a)) for a in args]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and needle in err


SAME_SHAPES_OTHER_RUN = {  # what differs -> (hyper_parameters of the first checkpoint, of the second)
    "problem": ({"problem_name": "algorithmic_identity_binary40"}, {"problem_name": "algorithmic_reverse_binary40"}),
    "problem settings": ({"run_config": {"problem": {"name": "p", "train_size": 100}}},
                         {"run_config": {"problem": {"name": "p", "train_size": 200}}}),
    "vocabulary": ({"vocab_hashes": {"inputs": "a" * 64, "targets": "a" * 64}},
                   {"vocab_hashes": {"inputs": "b" * 64, "targets": "a" * 64}}),
}


@pytest.mark.parametrize("what", SAME_SHAPES_OTHER_RUN)
def test_checkpoints_of_another_problem_or_vocabulary_are_refused_although_shapes_match(tmp_path, capsys, what):
    first, second = SAME_SHAPES_OTHER_RUN[what]
    write_checkpoint(tmp_path / "a.ckpt", seed=0, step=10, **first)
    write_checkpoint(tmp_path / "b.ckpt", seed=1, step=20, **second)
    assert main([str(tmp_path / "a.ckpt"), str(tmp_path / "b.ckpt"), "--output_path", str(tmp_path / "avg.ckpt")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"another {what}" in err and "a.ckpt" in err and "b.ckpt" in err
    assert not (tmp_path / "avg.ckpt").exists()


def test_output_has_the_usual_file_mode_and_keeps_the_stored_vocabulary(tmp_path):
    stored = {"0" * 64: {"file": "vocab.json", "text": "{}"}}
    write_checkpoint(tmp_path / "a.ckpt", seed=0, step=10)
    write_checkpoint(tmp_path / "b.ckpt", seed=1, step=20)
    newest = torch.load(tmp_path / "b.ckpt", weights_only=True)
    torch.save({**newest, VOCABULARIES_KEY: stored}, tmp_path / "b.ckpt")
    previous = os.umask(0o022)
    try:
        status = main([str(tmp_path / "a.ckpt"), str(tmp_path / "b.ckpt"), "--output_path", str(tmp_path / "avg.ckpt")])
    finally:
        os.umask(previous)
    assert status == 0
    assert (tmp_path / "avg.ckpt").stat().st_mode & 0o777 == 0o644
    assert torch.load(tmp_path / "avg.ckpt", weights_only=True)[VOCABULARIES_KEY] == stored
