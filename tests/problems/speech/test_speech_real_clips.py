"""Smoke test on real recordings: the five LibriVox clips of Debian's `pocketsphinx-testdata` (16 kHz read English,
2.9-7.1 s, a CMU Sphinx `transcription` file) go through the local-folder problem `speech_folder`, are cut into
frames, trained on for two steps and decoded with WER and CER scored against their transcripts.

The clips are not in the repository: `scripts/fetch_local_data.sh librivox` (or `apt-get download
pocketsphinx-testdata`, `dpkg -x`) puts them in `~/t2t_data/raw/librivox`; `T2T_LIBRIVOX_DIR` names another folder.
Without them the test is skipped, saying so.
"""

import math
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from omegaconf import OmegaConf

import t2t_torch
from t2t_torch.problems.speech import audio_features
from t2t_torch.run.decode import decode
from t2t_torch.run.train import train
from tests.fixtures.helpers import QUIET_TRAINER, compose

CANDIDATES = (os.environ.get("T2T_LIBRIVOX_DIR"), "~/t2t_data/raw/librivox",
              "/usr/share/pocketsphinx/test/data/librivox")
CLIPS = [Path(c).expanduser() for c in CANDIDATES if c and (Path(c).expanduser() / "transcription").is_file()]
pytestmark = pytest.mark.skipif(not CLIPS, reason="no pocketsphinx-testdata LibriVox clips: run"
                                " scripts/fetch_local_data.sh librivox (or set T2T_LIBRIVOX_DIR)")
TINY = ["model=transformer", "hparams=transformer_librispeech", "hparams.model.hidden_size=16",
        "hparams.model.filter_size=32", "hparams.model.num_heads=2", "hparams.model.num_encoder_layers=1",
        "hparams.model.num_decoder_layers=1", "hparams.modality.audio_spectral.channels=4",
        "hparams.batching.batch_size=1500", "hparams.batching.max_length=800"]


@pytest.fixture(scope="module")
def clips() -> Path:
    return CLIPS[0]


def config(clips: Path, tmp: Path, *overrides: str):
    cfg = compose(["problem=speech_folder", *TINY, *QUIET_TRAINER, *overrides], tmp)
    OmegaConf.update(cfg, "problem.data_files", {"train": str(clips), "dev": str(clips), "test": str(clips)},
                     merge=False)
    return cfg


def test_the_librivox_clips_become_frames_and_transcripts(clips, tmp_path):
    problem = t2t_torch.problem("speech_folder", data_files={"train": str(clips), "dev": str(clips)})
    listing = problem.utterances("train", tmp_path)
    assert len(listing.utterances) == 5 and not listing.skipped
    first = next(u for u in listing.utterances if u.audio.endswith("0880.wav"))
    assert first.text == "he was not an ill disposed young man"  # the Sphinx <s> </s> markers are dropped
    problem.generate_data(tmp_path / "data")
    dataset = problem.dataset("train", tmp_path / "data")
    encoder = problem.target_encoder(tmp_path / "data")
    by_text = {encoder.decode(dataset[i]["targets"]): dataset[i]["inputs"] for i in range(len(dataset))}
    assert set(by_text) == {u.text for u in listing.utterances}
    frames = by_text[first.text]
    samples = soundfile.info(str(listing.path(first))).frames  # the clips are 16 kHz: no resampling
    assert frames.shape == (audio_features.num_frames(samples), 80) and frames.dtype == np.float32
    assert abs(float(frames.mean())) < 1e-2 and abs(float(frames.std()) - 1) < 1e-2  # per-utterance CMVN


def test_two_steps_on_the_clips_then_a_scored_decode(clips, tmp_path):
    torch.set_num_threads(1)
    metrics = train(config(clips, tmp_path, "trainer.max_steps=2", "trainer.val_check_interval=2"))
    assert math.isfinite(metrics["eval/loss"])
    cfg = compose([f"ckpt_path={tmp_path / 'run' / 'checkpoints' / 'last.ckpt'}", "device=cpu", "decode.split=test",
                   "decode.beam_size=1", "decode.extra_length=4"], tmp_path / "decode", "decode")
    cfg.data_dir = None
    OmegaConf.update(cfg, "output_dir", str(tmp_path / "decodes"))
    scores = decode(cfg)
    references = (tmp_path / "decodes" / "references.txt").read_text(encoding="utf-8").splitlines()
    assert len(references) == 5 and "he might even have been made amiable himself" in references
    assert scores["wer"] >= 0 and scores["cer"] >= 0 and set(scores) >= {"wer", "cer"}
