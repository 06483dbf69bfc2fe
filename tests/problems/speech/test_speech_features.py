"""Speech features (t2t_torch/problems/speech/audio_features.py) through the speech problems' cache: Kaldi's frame count
and 80 log-mel bins, resampling and downmixing, per-utterance and global CMVN, float16 storage, SpecAugment drawn
from the loader's generator on `train` only, and a cache rebuilt when an audio file changes. Audio is numpy tones
and noise written with soundfile (tests/fixtures/speech.py)."""

import json

import numpy as np
import pytest
import soundfile

import t2t_torch
from t2t_torch.datamodules.batching import BatchingConfig
from t2t_torch.datamodules.datamodule import ProblemDataModule
from t2t_torch.problems.speech import audio_features
from t2t_torch.problems.speech.audio_features import SpecAugment
from tests.fixtures.speech import tone, write_audio, write_speech_folder


@pytest.fixture()
def corpus(tmp_path):
    texts = write_speech_folder(tmp_path / "speech")
    return tmp_path / "speech", texts


def prepared(root, data, **config):
    problem = t2t_torch.problem("speech_folder", data_files={"root": str(root)}, **config)
    problem.generate_data(data)
    return problem


def test_frames_bins_dtype_and_transcripts(corpus, tmp_path):
    root, texts = corpus
    problem = prepared(root, tmp_path / "data")
    spec = problem.spec(tmp_path / "data")
    assert spec.inputs.shape == (None, 80) and spec.inputs.dtype == "float32" and spec.length_feature == "inputs"
    assert problem.splits == ("train", "dev", "test") and spec.decode_metrics == ("wer", "cer")
    encoder = problem.feature_encoders(tmp_path / "data")["targets"]
    dataset = problem.dataset("train", tmp_path / "data")
    for index, name in enumerate(sorted(p.name for p in (root / "train").glob("*.flac"))):
        samples = soundfile.info(str(root / "train" / name)).frames
        example = dataset[index]
        assert example["inputs"].dtype == np.float32
        assert example["inputs"].shape == (1 + (samples - 400) // 160, 80)  # 25 ms windows every 10 ms
        assert encoder.decode(example["targets"]) == texts["train"][index]
    dev = problem.dataset("dev", tmp_path / "data")  # the Sphinx transcription: its <s> </s> markers are dropped
    assert [encoder.decode(dev[i]["targets"]) for i in range(len(dev))] == texts["dev"]


def test_resampling_keeps_the_pitch_and_stereo_is_averaged(tmp_path):
    rate, seconds = 22050, 0.5
    t = np.arange(int(rate * seconds)) / rate
    left = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    soundfile.write(str(tmp_path / "a.wav"), np.stack([left, 0.5 * left], axis=1), rate)
    wave = audio_features.load_waveform(tmp_path / "a.wav", "fix")
    assert (wave.file_rate, wave.file_channels) == (rate, 2)
    assert len(wave.samples) == int(np.ceil(len(t) * 16000 / rate))
    spectrum = np.abs(np.fft.rfft(wave.samples))
    assert abs(np.argmax(spectrum) * 16000 / len(wave.samples) - 440) < 5  # the tone is still at 440 Hz
    peak = np.abs(wave.samples[1000:-1000]).max()
    assert peak == pytest.approx(0.75 * 0.5, rel=0.02)  # the mean of the two channels


def test_a_resampled_file_is_counted_and_its_frames_follow_the_16k_length(corpus, tmp_path, caplog):
    root, _ = corpus
    soundfile.write(str(root / "train" / "train_000.flac"), tone(0.4, 1, rate=22050), 22050)
    caplog.set_level("INFO")
    problem = prepared(root, tmp_path / "data")
    resampled = int(np.ceil(int(0.4 * 22050) * 16000 / 22050))
    assert problem.dataset("train", tmp_path / "data")[0]["inputs"].shape == (1 + (resampled - 400) // 160, 80)
    assert "1 resampled from 22050 Hz" in caplog.text


def test_per_utterance_cmvn_and_float16_storage(corpus, tmp_path):
    root, _ = corpus
    half = prepared(root, tmp_path / "data")
    full = prepared(root, tmp_path / "data", feature_storage="float32")
    a, b = half.dataset("train", tmp_path / "data")[2]["inputs"], full.dataset("train", tmp_path / "data")[2]["inputs"]
    np.testing.assert_allclose(b.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(b.std(axis=0), 1.0, atol=1e-3)
    np.testing.assert_allclose(a, b, atol=4e-3)  # float16 keeps ~3 significant digits of N(0, 1) values
    caches = {p.split_cache("train", tmp_path / "data").path for p in (half, full)}
    sizes = sorted((path / "inputs.data.bin").stat().st_size for path in caches)
    assert sizes[1] == 2 * sizes[0]
    manifest = json.loads((half.split_cache("train", tmp_path / "data").path / "manifest.json").read_text())
    assert manifest["features"]["inputs"]["storage"] == "float16"


def test_global_cmvn_uses_the_training_statistics(corpus, tmp_path):
    root, _ = corpus
    problem = prepared(root, tmp_path / "data", cmvn="global", feature_storage="float32")
    raw = prepared(root, tmp_path / "data", cmvn="none", feature_storage="float32")
    stats = json.loads(problem.global_stats_file(tmp_path / "data").read_text())
    assert stats["utterances"] == 6 and len(stats["mean"]) == 80
    for split in ("train", "dev"):
        normalized, plain = problem.dataset(split, tmp_path / "data")[0], raw.dataset(split, tmp_path / "data")[0]
        expected = (plain["inputs"] - np.asarray(stats["mean"])) / np.asarray(stats["std"])
        np.testing.assert_allclose(normalized["inputs"], expected, atol=1e-4)
    train = np.concatenate([raw.dataset("train", tmp_path / "data")[i]["inputs"] for i in range(6)])
    np.testing.assert_allclose(stats["mean"], train.mean(axis=0), rtol=1e-4)


def test_spec_augment_is_drawn_from_the_rng_and_only_on_train(corpus, tmp_path):
    root, _ = corpus
    problem = prepared(root, tmp_path / "data", freq_masks=1, freq_mask_bins=20, time_masks=1, time_mask_frames=10,
                       time_mask_ratio=0.3)
    example = problem.dataset("train", tmp_path / "data")[0]
    first = problem.preprocess_example(dict(example), "train", np.random.default_rng([1, 0, 0]))["inputs"]
    again = problem.preprocess_example(dict(example), "train", np.random.default_rng([1, 0, 0]))["inputs"]
    other = problem.preprocess_example(dict(example), "train", np.random.default_rng([2, 0, 0]))["inputs"]
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    masked = first == 0
    assert masked.any() and np.array_equal(first[~masked], example["inputs"][~masked])
    frames = example["inputs"].shape[0]
    assert masked.all(axis=1).sum() <= min(10, int(0.3 * frames))  # one time mask of at most 30%
    assert masked.all(axis=0).sum() <= 20  # one frequency band of at most 20 bins
    dev = problem.dataset("dev", tmp_path / "data")[0]
    assert problem.preprocess_example(dev, "dev", np.random.default_rng(0)) is dev
    off = t2t_torch.problem("speech_folder", data_files={"root": str(root)}, spec_augment=False)
    assert problem.augments and not off.augments
    module = ProblemDataModule(problem, tmp_path / "data", BatchingConfig(batch_size=400, max_length=100), seed=3)
    module.setup()
    batches = [next(iter(module.train_dataloader())) for _ in range(2)]  # the same masks each time: (seed, epoch)
    np.testing.assert_array_equal(batches[0]["inputs"].numpy(), batches[1]["inputs"].numpy())
    served = next(iter(module.val_dataloader()))["inputs"][0].numpy()
    assert np.array_equal(served[: len(dev["inputs"])], dev["inputs"])


def test_spec_augment_masks_never_cover_an_utterance():
    masks = SpecAugment(freq_masks=0, time_masks=4, time_mask_frames=100, time_mask_ratio=0.24)
    rng = np.random.default_rng(0)
    for _ in range(200):
        out = masks.apply(np.ones((30, 4), dtype=np.float32), rng)
        assert (out != 0).any(axis=1).sum() >= 30 - 4 * 7
    assert "below 1" in SpecAugment(time_masks=5, time_mask_ratio=0.2).problem("problem.")


def test_a_changed_audio_file_rebuilds_the_cache(corpus, tmp_path):
    root, _ = corpus
    problem = prepared(root, tmp_path / "data")
    before = problem.split_cache("train", tmp_path / "data").path
    old = problem.dataset("train", tmp_path / "data")[1]["inputs"]
    write_audio(root / "train" / "train_001.flac", seed=77, seconds=0.35)  # same length, other content
    assert not problem.split_cache("train", tmp_path / "data").is_complete(before.name)
    with pytest.raises(t2t_torch.errors.T2TUserError, match="input files changed"):
        problem.dataset("train", tmp_path / "data")
    again = prepared(root, tmp_path / "data")
    after = again.split_cache("train", tmp_path / "data").path
    new = again.dataset("train", tmp_path / "data")[1]["inputs"]
    assert after != before and new.shape == old.shape and not np.allclose(new, old, atol=0.1)
    assert again.split_cache("dev", tmp_path / "data").path == problem.split_cache("dev", tmp_path / "data").path
