"""Speech end to end at toy size: T2T's transformer_librispeech sets compose with the speech problems, the Transformer
with the audio modality trains through the real entry point (`fast_dev_run`, and a few steps that leave a
checkpoint), and `decode(cfg)` decodes a split of audio inputs, writing references and scoring WER and CER; decoding
text into a speech model is a one-line error. The model is untrained, so the scores are only checked to be the
metrics of what was written."""

import math

import lightning as L
import pytest
import torch
from omegaconf import OmegaConf

import t2t_torch.run.train
from t2t_torch.errors import T2TUserError
from t2t_torch.inference.predictor import Predictor
from t2t_torch.metrics.decode_scores import decode_scores
from t2t_torch.run.decode import decode
from t2t_torch.run.train import train
from tests.fixtures.helpers import QUIET_TRAINER, compose
from tests.fixtures.speech import sentence, write_speech_folder

TINY_SPEECH_MODEL = [
    "model=transformer", "hparams=transformer_librispeech", "hparams.model.hidden_size=16",
    "hparams.model.filter_size=32", "hparams.model.num_heads=2", "hparams.model.num_encoder_layers=1",
    "hparams.model.num_decoder_layers=1", "hparams.modality.audio_spectral.channels=4",
    "hparams.batching.batch_size=200", "hparams.batching.max_length=100",
]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def speech_config(tmp_path, *overrides):
    root = tmp_path / "speech"
    if not root.is_dir():
        write_speech_folder(root)
    cfg = compose(["problem=speech_folder", *TINY_SPEECH_MODEL, *QUIET_TRAINER, *overrides], tmp_path)
    OmegaConf.update(cfg, "problem.data_files", {"root": str(root)}, merge=False)
    return cfg


def test_transformer_librispeech_sets_hold_t2ts_values(tmp_path):
    cfg = compose(["problem=librispeech_clean_small", "model=transformer", "hparams=transformer_librispeech"], tmp_path)
    model, batching = cfg.hparams.model, cfg.hparams.batching
    assert (model.hidden_size, model.filter_size, model.num_heads) == (384, 1536, 2)
    assert (model.num_encoder_layers, model.num_decoder_layers, model.layer_prepostprocess_dropout) == (6, 4, 0.2)
    assert cfg.hparams.modality.audio_spectral.channels == 128 and batching.batch_size == 16 * 1550
    tpu = compose(["problem=librispeech", "model=transformer", "hparams=transformer_librispeech_tpu"], tmp_path)
    assert tpu.hparams.optim.optimizer == "adafactor" and tpu.hparams.batching.max_length == 1650
    assert tpu.hparams.model.hidden_size == 384


class LossRecorder(L.Callback):
    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.losses.append(float((outputs["loss"] if isinstance(outputs, dict) else outputs).detach()))


def test_fast_dev_run_trains_two_steps(tmp_path, monkeypatch):
    recorder = LossRecorder()
    original = t2t_torch.run.train.decode_eval_callbacks  # the hook train() takes its extra callbacks from
    monkeypatch.setattr(t2t_torch.run.train, "decode_eval_callbacks", lambda cfg: [*original(cfg), recorder])
    metrics = train(speech_config(tmp_path, "trainer.fast_dev_run=2"))
    assert len(recorder.losses) == 2 and all(math.isfinite(loss) and loss > 0 for loss in recorder.losses)
    assert 0.0 <= metrics["padding_fraction"] < 1.0


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("speech_run")
    metrics = train(speech_config(tmp))
    assert {"eval/edit_distance", "eval/accuracy"} <= set(metrics)
    return tmp / "run" / "checkpoints" / "last.ckpt", tmp


def test_a_split_of_audio_decodes_and_scores_wer_and_cer(checkpoint):
    ckpt, tmp = checkpoint
    cfg = compose([f"ckpt_path={ckpt}", "device=cpu", "decode.split=test", "decode.beam_size=2",
                   "decode.extra_length=8"], tmp / "decode", "decode")
    cfg.data_dir = None  # as on the command line: the run's own data_dir
    OmegaConf.update(cfg, "output_dir", str(tmp / "decodes"))
    scores = decode(cfg)
    decodes = (tmp / "decodes" / "decodes.txt").read_text(encoding="utf-8").splitlines()
    references = (tmp / "decodes" / "references.txt").read_text(encoding="utf-8").splitlines()
    assert sorted(references) == sorted([sentence(20), sentence(21)])  # test.tsv's transcripts
    assert len(decodes) == 2 and (tmp / "decodes" / "inputs.txt").read_text() == "<audio_spectral>\n" * 2
    expected = decode_scores(decodes, references, ["wer", "cer"])
    assert scores["wer"] == pytest.approx(expected["wer"]) and scores["cer"] == pytest.approx(expected["cer"])


def test_text_cannot_be_decoded_by_a_speech_model(checkpoint):
    predictor = Predictor.from_checkpoint(checkpoint[0])
    assert predictor.decode_metrics == ("wer", "cer")
    with pytest.raises(T2TUserError, match="has no text inputs to decode from text: decode one of its splits"):
        predictor.translate(["hello"])
