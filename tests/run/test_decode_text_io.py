"""The text edges of decoding: the integer encoder of algorithmic problems, reading and writing decode files
line for line, and sacreBLEU scores."""

from __future__ import annotations

import pytest

import t2t_torch
from t2t_torch.decoding.text_files import format_output, read_text_lines, write_text_lines
from t2t_torch.errors import T2TUserError
from t2t_torch.metrics.bleu import corpus_scores
from t2t_torch.text import IntegerEncoder, load_encoder


def test_integer_encoder_is_t2ts_base_text_encoder(tmp_path):
    encoder = IntegerEncoder(vocab_size=12)
    assert encoder.encode("3 0 1") == [5, 2, 3] and encoder.encode("  7\t9 ") == [9, 11]
    assert encoder.decode([5, 2, 3, 1, 4, 0]) == "3 0 1"  # stops at eos
    assert encoder.decode([]) == "" and encoder.encode("") == []
    for bad in ("10", "-1", "x", "1.0", "١"):  # out of range, negative, not a number, a float, Arabic-Indic one
        with pytest.raises(ValueError, match="is not an integer in"):
            encoder.encode(f"1 {bad}")
    encoder.save(tmp_path / "vocab.json")
    assert load_encoder(tmp_path / "vocab.json") == encoder


def test_algorithmic_problems_decode_from_text():
    encoders = t2t_torch.problem("algorithmic_addition_decimal40").feature_encoders(None)
    assert encoders["inputs"].vocab_size == 13  # 10 digits, the separator and 2 reserved ids
    assert encoders["inputs"].encode("1 2 10 3") == [3, 4, 12, 5]
    reversed_encoders = t2t_torch.problem("algorithmic_reverse_binary40_rev").feature_encoders(None)
    assert reversed_encoders["targets"].decode([3, 2, 1]) == "1 0"


def test_read_text_lines_never_shifts_a_line(tmp_path):
    path = tmp_path / "in.txt"
    path.write_bytes(b"\xef\xbb\xbfa\r\nb\xffc\n\nd\x0ce\xe2\x80\xa8f\n   \ng")
    lines, invalid = read_text_lines(path)
    assert lines == ["a", "b\ufffdc", "", "d\x0ce\u2028f", "   ", "g"] and invalid == 1
    path.write_bytes(b"one\n")
    assert read_text_lines(path) == (["one"], 0)
    with pytest.raises(T2TUserError, match="does not exist"):
        read_text_lines(tmp_path / "missing.txt")


def test_outputs_are_written_one_per_line(tmp_path):
    outputs = [format_output("a\nb\u2028c"), format_output(["x\ty", "", "z\rw"]), format_output("")]
    assert outputs == ["a b c", "x y\t\tz w", ""]
    path = write_text_lines(tmp_path / "sub" / "out.txt", outputs)
    assert read_text_lines(path) == (outputs, 0)
    assert not [p for p in path.parent.iterdir() if p.name != "out.txt"]  # no temporary file left behind


def test_corpus_scores_are_sacrebleus():
    scores = corpus_scores(["the cat sat on the mat", "hello"], ["the cat sat on a mat", "hello"])
    assert 0 < scores.bleu < 100 and 0 < scores.chrf < 100
    assert scores.bleu_line.startswith("BLEU = ") and "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp" in scores.bleu_line
    assert corpus_scores(["a b c d"], ["a b c d"]).bleu == pytest.approx(100.0)
    with pytest.raises(ValueError, match="1 hypotheses but 2 references"):
        corpus_scores(["a"], ["a", "b"])
