"""`common_voice` (problems/speech/common_voice.py) from a release's language folder in the real layout (MP3 clips
at 48 kHz, TAB-separated split files with the release's header): transcripts and frames, the resampling counted,
and a bad split file or a missing clip as one line (or a counted skip)."""

import logging

import pytest
import soundfile

import t2t_torch
from t2t_torch.errors import T2TUserError
from t2t_torch.problems.speech import audio_features
from tests.fixtures.speech import write_common_voice


def common_voice(root, **config):
    return t2t_torch.problem("common_voice", data_files={"root": str(root)}, **config)


def test_a_release_is_read_with_its_sentences_and_resampled_clips(tmp_path, caplog):
    texts = write_common_voice(tmp_path / "en")
    problem = common_voice(tmp_path / "en")
    with caplog.at_level(logging.INFO):
        problem.generate_data(tmp_path / "data")
    encoder = problem.feature_encoders(tmp_path / "data")["targets"]
    for split in ("train", "dev", "test"):
        dataset = problem.dataset(split, tmp_path / "data")
        assert [encoder.decode(dataset[i]["targets"]) for i in range(len(dataset))] == texts[split]
    clip = sorted((tmp_path / "en" / "clips").glob("*.mp3"))[0]
    info = soundfile.info(str(clip))
    assert info.samplerate == 48000
    first = problem.dataset("train", tmp_path / "data")[0]["inputs"]
    samples_16k = round(info.frames * 16000 / 48000)
    assert abs(len(first) - audio_features.num_frames(samples_16k)) <= 1 and first.shape[1] == 80
    assert "resampled from 48000 Hz" in caplog.text


def test_no_release_folder_says_where_to_get_one(tmp_path):
    with pytest.raises(T2TUserError, match="commonvoice.mozilla.org"):
        t2t_torch.problem("common_voice").generate_data(tmp_path / "data")


def test_a_split_file_without_the_columns_is_one_line(tmp_path):
    write_common_voice(tmp_path / "en")
    (tmp_path / "en" / "dev.tsv").write_text("client_id\tfile\ttext\nx\ty.mp3\thello\n", encoding="utf-8")
    with pytest.raises(T2TUserError, match=r"dev.tsv has no path and sentence column \(its header: client_id"):
        common_voice(tmp_path / "en").generate_data(tmp_path / "data")


def test_a_missing_clip_is_one_line_or_a_counted_skip(tmp_path, caplog):
    write_common_voice(tmp_path / "en")
    gone = sorted((tmp_path / "en" / "clips").glob("*.mp3"))[0]
    gone.unlink()
    with pytest.raises(T2TUserError, match=f"train.tsv line 2 names .*{gone.name}, which does not exist"):
        common_voice(tmp_path / "en").generate_data(tmp_path / "data")
    problem = common_voice(tmp_path / "en", skip_bad_audio=True)
    with caplog.at_level(logging.WARNING):
        problem.generate_data(tmp_path / "data")
    assert len(problem.dataset("train", tmp_path / "data")) == 5
    assert "skipped 1 utterances" in caplog.text
