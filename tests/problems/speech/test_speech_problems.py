"""The speech problems' sources (problems/speech/speech_folder.py, librispeech.py): both transcript formats and
manifests, every kind of bad input as a one-line error naming the file (or, with skip_bad_audio, a counted and
logged skip), LibriSpeech's subsets per T2T problem from a local folder in the real layout, the shared caches, and
the OpenSLR download (a stand-in for torch.hub that serves real-format archives) with its checksums."""

import io
import tarfile
from urllib.error import URLError

import numpy as np
import pytest
import soundfile

import t2t_torch
from t2t_torch.errors import T2TUserError
from t2t_torch.problems.speech.librispeech import ARCHIVE_SHA256, OPENSLR_URL
from t2t_torch.problems.speech.speech_folder import transcript_lines
from tests.fixtures.speech import sentence, tone, write_audio, write_librispeech, write_speech_folder


def one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message, message
    return message


def folder_problem(root, **config):
    return t2t_torch.problem("speech_folder", data_files={"root": str(root)}, **config)


def texts_of(problem, split, data):
    encoder = problem.feature_encoders(data)["targets"]
    dataset = problem.dataset(split, data)
    return [encoder.decode(dataset[i]["targets"]) for i in range(len(dataset))]


@pytest.fixture()
def root(tmp_path):
    write_speech_folder(tmp_path / "speech")
    return tmp_path / "speech"


def test_sphinx_and_kaldi_transcript_lines(tmp_path):
    (tmp_path / "transcription").write_text("<s> he was not an ill disposed young man </s> (clip-0880)\n\n"
                                            "<s> had he married </s> (clip-0920)\n", encoding="utf-8")
    (tmp_path / "transcripts.txt").write_text("utt1  HELLO   there (friend)\nutt2 bye\n", encoding="utf-8")
    assert list(transcript_lines(tmp_path / "transcription")) == [
        (1, "clip-0880", "he was not an ill disposed young man"), (3, "clip-0920", "had he married")]
    assert list(transcript_lines(tmp_path / "transcripts.txt")) == [(1, "utt1", "HELLO there (friend)"),
                                                                     (2, "utt2", "bye")]


def test_splits_from_named_manifests_and_folders(root, tmp_path):
    data = tmp_path / "data"
    files = {"train": str(root / "train"), "dev": str(root / "test.tsv")}
    problem = t2t_torch.problem("speech_folder", data_files=files)
    problem.generate_data(data)
    assert problem.splits == ("train", "dev") and len(problem.dataset("train", data)) == 6
    assert texts_of(problem, "dev", data) == [sentence(20), sentence(21)]


def write_bad(kind, folder):
    """One bad file of `kind` in `folder`; returns (its path, what the error says)."""
    path = folder / f"bad_{kind}.wav"
    if kind == "corrupt":
        path.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage that is no audio")
        return path, "not a readable audio file"
    if kind == "empty":
        soundfile.write(str(path), np.zeros((0, 1), dtype=np.float32), 16000)
        return path, "holds no audio samples"
    if kind == "low_rate":
        soundfile.write(str(path), tone(0.5, 1, rate=4000), 4000)
        return path, "4000 Hz"
    if kind == "channels":
        soundfile.write(str(path), tone(0.5, 1, channels=3), 16000)
        return path, "3 channels"
    if kind == "short":
        soundfile.write(str(path), tone(0.01, 1), 16000)
        return path, "shorter than one 25 ms frame"
    soundfile.write(str(path), np.zeros(8000, dtype=np.float32), 16000)
    return path, "only silence"


@pytest.mark.parametrize("kind", ["corrupt", "empty", "low_rate", "channels", "short", "silent"])
def test_bad_audio_is_one_line_or_a_counted_skip(kind, root, tmp_path, caplog):
    path, says = write_bad(kind, root / "train")
    with open(root / "train" / "transcripts.txt", "a", encoding="utf-8") as handle:
        handle.write(f"{path.stem} some words\n")
    with pytest.raises(T2TUserError) as error:
        folder_problem(root).generate_data(tmp_path / "data")
    message = one_line(error)
    assert str(path) in message and says in message and "skip_bad_audio=true" in message
    caplog.set_level("WARNING")
    problem = folder_problem(root, skip_bad_audio=True)
    problem.generate_data(tmp_path / "data")
    assert len(problem.dataset("train", tmp_path / "data")) == 6
    assert "skipped 1 utterances" in caplog.text and str(path) in caplog.text


def test_stereo_is_averaged_and_counted(root, tmp_path, caplog):
    soundfile.write(str(root / "train" / "train_000.flac"), tone(0.3, 5, channels=2), 16000)
    caplog.set_level("INFO")
    folder_problem(root).generate_data(tmp_path / "data")
    assert "1 averaged to mono" in caplog.text


@pytest.mark.parametrize(("change", "says"), [
    ("no_transcript", "has no transcript"), ("missing_file", "names 'ghost'"),
    ("empty_text", "empty transcript"), ("repeated", "repeats the transcript"),
])
def test_transcript_problems_name_the_line_or_are_skipped(change, says, root, tmp_path, caplog):
    transcripts = root / "train" / "transcripts.txt"
    if change == "no_transcript":
        write_audio(root / "train" / "untold.wav", 3)
    else:
        line = {"missing_file": "ghost hello there", "empty_text": "silent_one", "repeated": "train_000 again"}[change]
        if change == "empty_text":
            write_audio(root / "train" / "silent_one.wav", 3)
        transcripts.write_text(transcripts.read_text(encoding="utf-8") + line + "\n", encoding="utf-8")
    with pytest.raises(T2TUserError) as error:
        folder_problem(root).generate_data(tmp_path / "data")
    message = one_line(error)
    assert says in message and "skip_bad_audio=true" in message
    assert (str(root / "train" / "untold.wav") if change == "no_transcript" else f"{transcripts} line 7") in message
    caplog.set_level("WARNING")
    problem = folder_problem(root, skip_bad_audio=True)
    problem.generate_data(tmp_path / "data")
    assert len(problem.dataset("train", tmp_path / "data")) == 6 and "skipped 1 utterances" in caplog.text


def test_layout_errors_are_one_line(root, tmp_path):
    data = tmp_path / "data"
    (root / "test.tsv").write_text("clips/test_000.ogg hello\n", encoding="utf-8")
    assert "has no TAB" in one_line(pytest.raises(T2TUserError, folder_problem(root).generate_data, data))
    (root / "test.tsv").write_text("clips/nothing.ogg\thello\n", encoding="utf-8")
    message = one_line(pytest.raises(T2TUserError, folder_problem(root).generate_data, data))
    assert "nothing.ogg, which does not exist" in message
    (root / "test.tsv").unlink()
    (root / "dev" / "transcription").unlink()
    message = one_line(pytest.raises(T2TUserError, folder_problem(root).generate_data, data))
    assert f"folder '{root / 'dev'}' holds 2 audio files but no transcript file" in message
    message = one_line(pytest.raises(T2TUserError, folder_problem(tmp_path / "nowhere").generate_data, data))
    assert "does not exist" in message
    message = one_line(pytest.raises(T2TUserError, t2t_torch.problem("speech_folder").generate_data, data))
    assert "pass problem.data_files={root:" in message
    message = one_line(pytest.raises(T2TUserError, t2t_torch.problem, "speech_folder", data_files={"train": "x"}))
    assert "give both train and dev" in message
    message = one_line(pytest.raises(T2TUserError, t2t_torch.problem, "speech_folder", cmvn="mean"))
    assert "problem.cmvn" in message and "utterance" in message
    message = one_line(pytest.raises(T2TUserError, t2t_torch.problem, "speech_folder_rev"))
    assert "has no _rev variant" in message


def test_subword_targets_are_learned_from_the_training_transcripts(root, tmp_path):
    problem = folder_problem(root, vocab_type="subword", approx_vocab_size=270)
    problem.generate_data(tmp_path / "data")
    encoder = problem.feature_encoders(tmp_path / "data")["targets"]
    assert type(encoder).__name__ == "SubwordEncoder" and problem.spec(tmp_path / "data").targets.vocab_size == 270
    assert texts_of(problem, "train", tmp_path / "data") == [sentence(i) for i in range(6)]
    assert len(problem.dataset("train", tmp_path / "data")[5]["targets"]) < len(sentence(5)) + 1


# LibriSpeech --------------------------------------------------------------------------------------------------------
ALL_SUBSETS = list(ARCHIVE_SHA256)


@pytest.mark.parametrize(("name", "train", "dev", "test"), [
    ("librispeech", ["train-clean-100", "train-clean-360", "train-other-500"], ["dev-clean", "dev-other"],
     ["test-clean", "test-other"]),
    ("librispeech_clean", ["train-clean-100", "train-clean-360"], ["dev-clean"], ["test-clean"]),
    ("librispeech_clean_small", ["train-clean-100"], ["dev-clean"], ["test-clean"]),
    ("librispeech_noisy", ["train-other-500"], ["dev-other"], ["test-other"]),
    ("librispeech_train_full_test_clean", ["train-clean-100", "train-clean-360", "train-other-500"], ["dev-clean"],
     ["test-clean"]),
])
def test_librispeech_problems_read_t2ts_subsets(name, train, dev, test, tmp_path):
    write_librispeech(tmp_path / "raw", ALL_SUBSETS)
    problem = t2t_torch.problem(name, data_files={"root": str(tmp_path / "raw")})
    problem.generate_data(tmp_path / "data")
    for split, subsets in (("train", train), ("dev", dev), ("test", test)):
        numbers = [ALL_SUBSETS.index(s) for s in subsets]
        expected = [sentence(n + u).upper() for n in sorted(numbers) for u in range(2)]
        assert texts_of(problem, split, tmp_path / "data") == expected, split


def test_librispeech_problems_share_the_caches_of_the_same_subsets(tmp_path):
    write_librispeech(tmp_path / "raw", ALL_SUBSETS)
    clean, small = (t2t_torch.problem(n, data_files={"root": str(tmp_path / "raw" / "LibriSpeech")})
                    for n in ("librispeech_clean", "librispeech_clean_small"))
    clean.generate_data(tmp_path / "data")
    small.generate_data(tmp_path / "data")
    for split, same in (("dev", True), ("test", True), ("train", False)):
        paths = [p.split_cache(split, tmp_path / "data").path for p in (clean, small)]
        assert (paths[0] == paths[1]) == same, split


def test_a_missing_librispeech_subset_is_named(tmp_path):
    write_librispeech(tmp_path / "raw", ["train-clean-100", "dev-clean"])
    problem = t2t_torch.problem("librispeech_clean_small", data_files={"root": str(tmp_path / "raw")})
    message = one_line(pytest.raises(T2TUserError, problem.generate_data, tmp_path / "data"))
    assert "has no test-clean" in message and OPENSLR_URL in message
    message = one_line(pytest.raises(T2TUserError, t2t_torch.problem, "librispeech", data_files=["x"]))
    assert "{root: <folder holding LibriSpeech/train-clean-100/" in message


def archive_of(tree, subset):
    """The bytes of an OpenSLR-style <subset>.tar.gz: LibriSpeech/<subset>/... inside."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(tree / "LibriSpeech" / subset, arcname=f"LibriSpeech/{subset}")
    return buffer.getvalue()


def test_librispeech_downloads_checked_archives_once(tmp_path, monkeypatch):
    import torch.hub

    tree = write_librispeech(tmp_path / "server", ALL_SUBSETS)
    fetched = []

    def fake_download(url, dst, hash_prefix=None, progress=True):
        subset = url.rsplit("/", 1)[-1].removesuffix(".tar.gz")
        assert url == f"{OPENSLR_URL}{subset}.tar.gz" and hash_prefix == ARCHIVE_SHA256[subset]
        fetched.append(subset)
        with open(dst, "wb") as handle:
            handle.write(archive_of(tree, subset))

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    problem = t2t_torch.problem("librispeech_clean_small")
    problem.generate_data(tmp_path / "data")
    assert sorted(fetched) == ["dev-clean", "test-clean", "train-clean-100"]
    assert texts_of(problem, "dev", tmp_path / "data") == [sentence(0).upper(), sentence(1).upper()]  # dev-clean
    t2t_torch.problem("librispeech_clean_small").generate_data(tmp_path / "data")
    assert len(fetched) == 3  # unpacked once: no second download


def test_a_failed_librispeech_download_says_how_to_work_offline(tmp_path, monkeypatch):
    import torch.hub

    def offline(url, dst, hash_prefix=None, progress=True):
        raise URLError("no route to host")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    message = one_line(pytest.raises(T2TUserError, t2t_torch.problem("librispeech_clean_small").generate_data,
                                     tmp_path / "data"))
    assert "could not download https://www.openslr.org/resources/12/" in message
    assert "problem.data_files={root:" in message
