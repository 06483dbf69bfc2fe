"""Evaluation without training (`mode=eval`, T2T's t2t-eval) and scoring given pairs (`decode.score_file`, T2T's
--score_file): the numbers equal what training logged and what the model's own log-probabilities give."""

import json
import math

import pytest
import torch

from t2t_torch.errors import T2TUserError
from t2t_torch.inference.predictor import Predictor
from t2t_torch.run.decode import decode
from t2t_torch.run.evaluate import evaluate
from t2t_torch.run.train import train
from tests.fixtures.helpers import compose, tiny

RUN = ["trainer.max_steps=6", "trainer.val_check_interval=6", "trainer.limit_val_batches=1.0"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """(tmp dir, final metrics) of one tiny run evaluated on its whole dev split."""
    tmp = tmp_path_factory.mktemp("eval")
    return tmp, train(compose(tiny(RUN), tmp))


def test_mode_eval_reports_the_metrics_training_ended_with(run):
    tmp, trained = run
    metrics = evaluate(compose(tiny([*RUN, "mode=eval"]), tmp))
    for name in ("eval/loss", "eval/accuracy", "eval/accuracy_per_sequence", "eval/neg_log_perplexity"):
        assert metrics[name] == pytest.approx(trained[name], rel=1e-6), name
    report = json.loads((tmp / "run" / "eval" / "dev-step6.json").read_text())
    assert report["metrics"] == metrics and report["step"] == 6


@pytest.mark.parametrize(("override", "needle"), [
    ("eval_split=train", "eval_split 'train' is not a split"),
    ("ckpt_path=MISSING", "does not exist"),
])
def test_mode_eval_bad_input_is_one_line(run, tmp_path, override, needle):
    tmp, _ = run
    override = override.replace("MISSING", str(tmp_path / "missing.ckpt"))
    with pytest.raises(T2TUserError, match=needle):
        evaluate(compose(tiny([*RUN, "mode=eval", override]), tmp))


def test_mode_eval_without_a_checkpoint_says_how_to_get_one(tmp_path):
    with pytest.raises(T2TUserError, match="train with the same command first"):
        evaluate(compose(tiny(["mode=eval"]), tmp_path))


def decode_cfg(ckpt, tmp_path, *overrides):
    cfg = compose([f"ckpt_path={ckpt}", "device=cpu", *overrides], tmp_path, "decode")
    cfg.data_dir = None
    return cfg


def test_score_file_gives_each_pair_its_log_probability(run, tmp_path):
    tmp, _ = run
    ckpt = tmp / "run" / "checkpoints" / "last.ckpt"
    pairs = [("1 0 1", "1 0 1"), ("1 0 1", "0 1 0"), ("1 1 0 0 1", "1 1 0 0 1")]
    scores_file = tmp_path / "pairs.tsv"
    scores_file.write_text("".join(f"{a}\t{b}\n" for a, b in pairs))
    metrics = decode(decode_cfg(ckpt, tmp_path, f"decode.score_file={scores_file}",
                                f"decode.to_file={tmp_path / 'scores.txt'}"))
    scores = [float(line) for line in (tmp_path / "scores.txt").read_text().splitlines()]
    assert len(scores) == 3 and all(s < 0 for s in scores) and metrics["pairs"] == 3
    # the same number by hand: log-softmax of the model's logits at each target token (eos included)
    predictor = Predictor.from_checkpoint(ckpt)
    encode = predictor.encoders["inputs"].encode
    model = predictor.model.eval()
    for (source, target), score in zip(pairs, scores, strict=True):
        batch = {"inputs": torch.tensor([[*encode(source), 1]]), "targets": torch.tensor([[*encode(target), 1]])}
        with torch.no_grad():
            log_probs = torch.log_softmax(model(batch)["logits"].float(), -1)[0]
        expected = sum(log_probs[i, t].item() for i, t in enumerate(batch["targets"][0].tolist()))
        assert score == pytest.approx(expected, abs=1e-4)
    assert metrics["mean_log_prob"] == pytest.approx(sum(scores) / 3, abs=1e-4)
    assert math.isfinite(metrics["mean_log_prob"])


@pytest.mark.parametrize(("content", "needle"), [
    ("1 0\t1 0\n1 1 0\n", "line 2 has no TAB"),
    ("1 0\t1 0\t1\n", "line 1 has 2 TABs"),
    ("", "is empty"),
    ("1 0\t\n", "line 1 has an empty source or target"),
])
def test_malformed_score_file_is_one_line_naming_the_line(run, tmp_path, content, needle):
    tmp, _ = run
    source = tmp_path / "pairs.tsv"
    source.write_text(content)
    with pytest.raises(T2TUserError) as error:
        decode(decode_cfg(tmp / "run" / "checkpoints" / "last.ckpt", tmp_path, f"decode.score_file={source}"))
    assert needle in str(error.value) and str(source) in str(error.value) and "\n" not in str(error.value)


def test_the_training_command_with_mode_eval_evaluates_its_run(run, monkeypatch, capsys):
    """Through the real entry point: the same command plus mode=eval finds the run's directory and last.ckpt."""
    import sys

    from hydra.core.global_hydra import GlobalHydra

    from t2t_torch.cli.train import main as train_main

    tmp, trained = run
    report = tmp / "run" / "eval" / "dev-step6.json"
    report.unlink(missing_ok=True)
    monkeypatch.chdir(tmp)
    argv = ["train.py", *tiny(RUN), f"data_dir={tmp / 'data'}", f"hydra.run.dir={tmp / 'run'}", "mode=eval"]
    monkeypatch.setattr(sys, "argv", argv)
    GlobalHydra.instance().clear()
    train_main()
    GlobalHydra.instance().clear()
    metrics = json.loads(report.read_text())["metrics"]
    assert metrics["eval/loss"] == pytest.approx(trained["eval/loss"], rel=1e-6)
    assert "Final metrics" in capsys.readouterr().out


def test_t2t_eval_is_the_training_command_with_mode_eval(run, monkeypatch, capsys):
    """`t2t-eval <the training command>` evaluates that run's last.ckpt, as `mode=eval` does; mode=train is refused."""
    import sys

    from hydra.core.global_hydra import GlobalHydra

    from t2t_torch.cli.eval import main as eval_main

    tmp, trained = run
    report = tmp / "run" / "eval" / "dev-step6.json"
    report.unlink(missing_ok=True)
    monkeypatch.chdir(tmp)
    argv = ["t2t-eval", *tiny(RUN), f"data_dir={tmp / 'data'}", f"hydra.run.dir={tmp / 'run'}"]
    monkeypatch.setattr(sys, "argv", list(argv))
    GlobalHydra.instance().clear()
    eval_main()
    GlobalHydra.instance().clear()
    assert json.loads(report.read_text())["metrics"]["eval/loss"] == pytest.approx(trained["eval/loss"], rel=1e-6)
    monkeypatch.setattr(sys, "argv", [*argv, "mode=train"])
    with pytest.raises(SystemExit) as stopped:
        eval_main()
    assert stopped.value.code == 2 and "t2t-eval evaluates a checkpoint; mode=train trains" in capsys.readouterr().err
