"""Speech preparation over worker processes (problems/speech/feature_workers.py): the same cache, byte for byte and
under the same name, as the serial path, with resampled, stereo and skipped files among them; `prepare_workers`
checked in one line; the cached resampler equal to torchaudio's functional one; the CPU quota read from cgroups."""

import numpy as np
import pytest
import soundfile
import torch
import torchaudio

import t2t_torch
from t2t_torch.datamodules.cpus import cgroup_cpu_quota
from t2t_torch.errors import T2TUserError
from t2t_torch.problems.speech import audio_features, feature_workers
from tests.fixtures.speech import tone, write_speech_folder


def cache_files(data):
    """{split folder/file: bytes} of every file of the split caches (`<split>.<fingerprint>/`)."""
    return {f"{p.parent.name}/{p.name}": p.read_bytes() for p in sorted(data.glob("speech_folder/*.*/*"))}


def test_parallel_preparation_writes_the_serial_cache(tmp_path, caplog):
    root = tmp_path / "speech"
    write_speech_folder(root, {"train": 6, "dev": 1, "test": 1})
    train = root / "train"
    soundfile.write(str(train / "train_010.flac"), tone(0.4, 11, 22050, channels=2), 22050)
    soundfile.write(str(train / "train_011.flac"), tone(0.3, 12, 44100), 44100)
    soundfile.write(str(train / "train_012.flac"), np.zeros(8000, dtype=np.float32), 16000)  # silent: skipped
    with open(train / "transcripts.txt", "a", encoding="utf-8") as handle:
        handle.write("train_010 stereo words\ntrain_011 fast words\ntrain_012 silent words\n")
    files = {"train": str(train), "dev": str(root / "test.tsv")}  # one dev clip: only train starts workers
    caplog.set_level("INFO")
    for workers in (1, 2):
        problem = t2t_torch.problem("speech_folder", data_files=files, skip_bad_audio=True, prepare_workers=workers)
        problem.generate_data(tmp_path / f"data{workers}")
    serial, parallel = cache_files(tmp_path / "data1"), cache_files(tmp_path / "data2")
    assert {name.split(".")[0] for name in serial} == {"train", "dev"} and len(serial) == 10
    assert serial.keys() == parallel.keys()  # the same fingerprints: prepare_workers is not in the identity
    assert all(serial[name] == parallel[name] for name in serial)
    assert len(problem.dataset("train", tmp_path / "data2")) == 8
    assert caplog.text.count("1 averaged to mono, 1 resampled from 22050 Hz, 1 resampled from 44100 Hz") == 2
    assert caplog.text.count("skipped 1 utterances") == 2


@pytest.mark.parametrize("value", [0, -2, True, 1.5, "two"])
def test_a_bad_worker_count_is_one_line(value):
    with pytest.raises(T2TUserError) as error:
        t2t_torch.problem("speech_folder", prepare_workers=value)
    message = str(error.value)
    assert "\n" not in message and "problem.prepare_workers" in message and repr(value) in message


def test_the_automatic_worker_count_keeps_small_splits_in_this_process():
    assert feature_workers.worker_count(None, feature_workers.AUTO_MIN_UTTERANCES - 1) == 1
    assert 1 <= feature_workers.worker_count(None, 1000) <= feature_workers.AUTO_MAX_WORKERS
    assert feature_workers.worker_count(3, 2) == 2 and feature_workers.worker_count(3, 100) == 3


@pytest.mark.parametrize("rate", [22050, 44100, 48000, 8000])
def test_the_cached_resampler_is_torchaudios_functional_resample(rate):
    samples = torch.from_numpy(tone(0.7, 3, rate))
    expected = torchaudio.functional.resample(samples, rate, audio_features.SAMPLE_RATE)
    assert torch.equal(audio_features.resampler(rate)(samples), expected)


def test_the_cpu_quota_is_read_from_cgroup_v2_and_v1(tmp_path):
    assert cgroup_cpu_quota(tmp_path) is None
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("150000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_cpu_quota(tmp_path) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_quota(tmp_path) is None
    (tmp_path / "cpu.max").write_text("200000 100000\n")
    assert cgroup_cpu_quota(tmp_path) == 2.0
