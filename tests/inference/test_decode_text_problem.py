"""Decoding a text problem with a subword vocabulary: a tiny Transformer trained for a few steps on the offline
`text2text_files` fixture (reversed: German -> English), then decoded from text and from its test split. The model
learns little in 30 steps; what is checked is that everything is rebuilt from the checkpoint (problem settings,
`_rev`, vocabulary from the run's data_dir) and that text in and text out line up."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sacrebleu
import torch

from t2t_torch.errors import T2TUserError
from t2t_torch.inference.predictor import Predictor, problem_from_hparams
from t2t_torch.models.checkpoint_vocabulary import VOCABULARIES_KEY, served_vocab_files
from t2t_torch.models.t2t_module import T2TModule
from t2t_torch.run.decode import decode
from t2t_torch.run.train import check_checkpoint_matches
from t2t_torch.text import SubwordEncoder
from tests.fixtures.helpers import compose
from tests.fixtures.text import train_offline

SETTINGS = [
    "problem=text2text_files_rev", "hparams=transformer_tiny", "hparams.model.hidden_size=32",
    "hparams.model.filter_size=64", "hparams.model.num_heads=2", "hparams.model.num_hidden_layers=1",
    "hparams.batching.batch_size=256", "hparams.batching.max_length=64", "trainer=cpu", "trainer.max_steps=30",
    "trainer.val_check_interval=30", "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false",
]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return train_offline(SETTINGS, tmp_path_factory.mktemp("text_problem")) / "checkpoints" / "last.ckpt"


def test_predictor_rebuilds_a_reversed_subword_problem(ckpt, caplog):
    predictor = Predictor.from_checkpoint(ckpt)
    assert predictor.problem.name == "text2text_files_rev" and predictor.max_input_length == 64
    outputs = predictor.translate(["die Katze Nummer 5 schläft", "", "Hund " * 200, "Vogel"], beam_size=2,
                                   extra_length=5)
    assert len(outputs) == 4 and outputs[1] == "" and all(isinstance(o, str) for o in outputs)
    assert predictor.last_stats.truncated == 1 and predictor.last_stats.empty == 1


def test_dev_split_decodes_with_references_in_the_target_language(ckpt, tmp_path):
    cfg = compose([f"ckpt_path={ckpt}", "device=cpu", "decode.split=dev", "decode.beam_size=2",
                   "decode.extra_length=5", f"decode.to_file={tmp_path / 'out'}"], tmp_path, "decode")
    cfg.data_dir = None  # the run's own data_dir, where the vocabulary was built
    metrics = decode(cfg)
    references = (tmp_path / "out" / "references.txt").read_text(encoding="utf-8").splitlines()
    inputs = (tmp_path / "out" / "inputs.txt").read_text(encoding="utf-8").splitlines()
    assert references[0].startswith("the ") and inputs[0].startswith("die ")  # _rev: German -> English
    decodes = (tmp_path / "out" / "decodes.txt").read_text(encoding="utf-8").splitlines()
    assert len(decodes) == len(references) == 6
    assert metrics["bleu"] == pytest.approx(sacrebleu.corpus_bleu(decodes, [references]).score)
    assert metrics["chrf"] == pytest.approx(sacrebleu.corpus_chrf(decodes, [references]).score)


# A checkpoint pins its vocabulary: it records each vocabulary file's sha256 and stores the files' text, so it decodes
# without its data_dir and never with a vocabulary rebuilt under the same file name.


def without_stored_vocabulary(ckpt: Path, folder: Path, drop_hashes: bool = False) -> Path:
    """A copy of `ckpt` as written before vocabularies were stored (and, with `drop_hashes`, recorded)."""
    checkpoint = torch.load(ckpt, weights_only=True)
    del checkpoint[VOCABULARIES_KEY]
    if drop_hashes:
        del checkpoint["hyper_parameters"]["vocab_hashes"]
    torch.save(checkpoint, folder / "older.ckpt")
    return folder / "older.ckpt"


def rebuilt_data_dir(ckpt: Path, folder: Path) -> tuple[Path, Path]:
    """A copy of the run's data_dir whose inputs vocabulary is rebuilt from another corpus under the same file name;
    returns (data_dir, that vocabulary file)."""
    hp = torch.load(ckpt, weights_only=True)["hyper_parameters"]
    data_dir = folder / "data"
    shutil.copytree(hp["run_config"]["data_dir"], data_dir)
    vocab = served_vocab_files(problem_from_hparams(hp), data_dir)["inputs"]
    SubwordEncoder.build([f"ganz anderer Text {i} über Zahlen" for i in range(50)], 300).save(vocab)
    return data_dir, vocab


TEXTS = ["die Katze Nummer 5 schläft", "Vogel"]


def test_checkpoint_stores_its_vocabulary_and_decodes_without_data_dir(ckpt, tmp_path):
    checkpoint = torch.load(ckpt, weights_only=True)
    stored, recorded = checkpoint[VOCABULARIES_KEY], checkpoint["hyper_parameters"]["vocab_hashes"]
    assert set(recorded) == {"inputs", "targets"} and set(recorded.values()) <= set(stored)
    assert "t2t_vocabularies" not in (ckpt.parents[1] / "tensorboard").rglob("hparams.yaml").__next__().read_text()
    expected = Predictor.from_checkpoint(ckpt).translate(TEXTS, beam_size=1, extra_length=5)
    predictor = Predictor.from_checkpoint(ckpt, data_dir=tmp_path / "gone")  # no vocabulary there
    assert predictor.translate(TEXTS, beam_size=1, extra_length=5) == expected


def test_rebuilt_vocabulary_is_refused_in_one_line_naming_both_files(ckpt, tmp_path):
    data_dir, vocab = rebuilt_data_dir(ckpt, tmp_path)
    older = without_stored_vocabulary(ckpt, tmp_path)
    with pytest.raises(T2TUserError) as error:
        Predictor.from_checkpoint(older, data_dir=data_dir)
    message = str(error.value)
    assert "\n" not in message and f"'{vocab}'" in message and f"'{older}'" in message and "data_dir=" in message


def test_stored_vocabulary_wins_over_a_rebuilt_one_and_splits_need_the_right_data_dir(ckpt, tmp_path, caplog):
    data_dir, vocab = rebuilt_data_dir(ckpt, tmp_path)
    expected = Predictor.from_checkpoint(ckpt).translate(TEXTS, beam_size=1, extra_length=5)
    predictor = Predictor.from_checkpoint(ckpt, data_dir=data_dir)
    assert predictor.translate(TEXTS, beam_size=1, extra_length=5) == expected
    assert predictor.data_dir is None and str(vocab) in caplog.text  # its examples were encoded with the other one


def test_resume_refuses_a_rebuilt_vocabulary_in_one_line_naming_both_files(ckpt, tmp_path):
    data_dir, vocab = rebuilt_data_dir(ckpt, tmp_path)
    hp = torch.load(ckpt, weights_only=True)["hyper_parameters"]
    problem = problem_from_hparams(hp)
    module = T2TModule(**{**hp, "run_config": {**hp["run_config"], "data_dir": str(data_dir)},
                                "vocab_hashes": problem.vocab_hashes(data_dir)})  # as train() builds it there
    with pytest.raises(T2TUserError) as error:
        check_checkpoint_matches(ckpt, module)
    message = str(error.value)
    assert "\n" not in message and f"'{vocab}'" in message and f"'{ckpt}'" in message


def test_checkpoints_from_before_the_record_are_accepted_with_a_warning(ckpt, tmp_path, caplog):
    older = without_stored_vocabulary(ckpt, tmp_path, drop_hashes=True)
    expected = Predictor.from_checkpoint(ckpt).translate(TEXTS, beam_size=1, extra_length=5)
    assert Predictor.from_checkpoint(older).translate(TEXTS, beam_size=1, extra_length=5) == expected
    assert "records no vocabulary hashes" in caplog.text
    hp = torch.load(ckpt, weights_only=True)["hyper_parameters"]
    caplog.clear()
    check_checkpoint_matches(older, T2TModule(**hp))  # resume: accepted, with the same warning
    assert "records no vocabulary hashes" in caplog.text


def test_a_corrupt_stored_vocabulary_is_refused(ckpt, tmp_path):
    checkpoint = torch.load(ckpt, weights_only=True)
    for entry in checkpoint[VOCABULARIES_KEY].values():
        entry["text"] = entry["text"].replace("{", "{ ", 1)
    torch.save(checkpoint, tmp_path / "corrupt.ckpt")
    with pytest.raises(T2TUserError, match="does not store the inputs vocabulary it recorded"):
        Predictor.from_checkpoint(tmp_path / "corrupt.ckpt")


def test_checkpoint_decodes_after_its_corpus_and_data_dir_are_gone(ckpt, tmp_path, caplog):
    """The stored vocabulary is enough: the corpus files the vocabulary was named after may be deleted too."""
    checkpoint = torch.load(ckpt, weights_only=True)
    expected = Predictor.from_checkpoint(ckpt).translate(TEXTS, beam_size=1, extra_length=5)
    run_config = checkpoint["hyper_parameters"]["run_config"]
    gone = tmp_path / "gone"
    run_config["problem"]["data_files"] = {split: str(gone / Path(file).name)  # as if the corpus were deleted
                                           for split, file in run_config["problem"]["data_files"].items()}
    run_config["data_dir"] = str(gone / "data")
    torch.save(checkpoint, tmp_path / "moved.ckpt")
    predictor = Predictor.from_checkpoint(tmp_path / "moved.ckpt")
    assert predictor.translate(TEXTS, beam_size=1, extra_length=5) == expected
    assert predictor.data_dir is None
