"""Decoding a text problem with a subword vocabulary: a tiny Transformer trained for a few steps on the offline
`text2text_files` fixture (reversed: German -> English), then decoded from text and from its test split. The model
learns little in 30 steps; what is checked is that everything is rebuilt from the checkpoint (problem settings,
`_rev`, vocabulary from the run's data_dir) and that text in and text out line up."""

from __future__ import annotations

import pytest
import sacrebleu
import torch
from helpers import compose
from omegaconf import OmegaConf
from text_fixtures import offline_config

from t2t_torch.decode import decode
from t2t_torch.decoding.translator import Translator
from t2t_torch.train import train

SETTINGS = [
    "problem=text2text_files_rev", "hparams=transformer_tiny", "hparams.model.hidden_size=32",
    "hparams.model.filter_size=64", "hparams.model.num_heads=2", "hparams.model.num_hidden_layers=1",
    "hparams.batching.batch_size=256", "hparams.batching.max_length=64", "trainer=cpu", "trainer.max_steps=30",
    "trainer.val_check_interval=30", "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false",
]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("text_problem")
    cfg = compose(SETTINGS, tmp)
    for key, value in offline_config("text2text_files", tmp / "raw").items():
        OmegaConf.update(cfg, f"problem.{key}", value, force_add=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(cfg)
    finally:
        torch.set_num_threads(threads)
    return tmp / "run" / "checkpoints" / "last.ckpt"


def test_translator_rebuilds_a_reversed_subword_problem(ckpt, caplog):
    translator = Translator.from_checkpoint(ckpt)
    assert translator.problem.name == "text2text_files_rev" and translator.max_input_length == 64
    outputs = translator.translate(["die Katze Nummer 5 schläft", "", "Hund " * 200, "Vogel"], beam_size=2,
                                   extra_length=5)
    assert len(outputs) == 4 and outputs[1] == "" and all(isinstance(o, str) for o in outputs)
    assert translator.last_stats.truncated == 1 and translator.last_stats.empty == 1


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
