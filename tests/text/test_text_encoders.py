"""Tests of `t2t_torch.text`: round trips, reserved ids, vocabulary size, save/load, errors.

Whitespace contract under test: the subword and byte encoders are exact for every string
(leading/trailing/repeated spaces, tabs, newlines and the Unicode form are kept); the token-file
encoder normalises whitespace like T2T's TokenTextEncoder: `" ".join(s.split())`.
"""

from __future__ import annotations

import json
import pickle
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from t2t_torch.text import (
    EOS_ID,
    PAD_ID,
    UNK_ID,
    ByteEncoder,
    EncoderFileError,
    EncoderFileNotFoundError,
    SubwordEncoder,
    TextEncoder,
    TokenFileEncoder,
    load_encoder,
)

MULTILINGUAL = [
    "The quick brown fox jumps over the lazy dog.",
    "Größere Äpfel schmecken süß, sagte der Bäcker; Straße Nr. 7.",
    "L'été dernier, François a mangé des crêpes à Besançon — « très bon » !",
    "Call 555-0199 at 10:30 on 2019-07-04; pay $1,234.56 (≈ €1.100,00)?!",
    "我们今天去北京参观故宫。你好，世界！",
    "  leading, trailing and   multiple   spaces  ",
    "tabs\tand\nnewlines\r\n",
    "decomposed e\u0301 vs composed \u00e9",
    "emoji 🙂 and quotes “double” ‘single’ «guillemets»",
    "<pad> <EOS> <UNK> are just text here",
    "",
]

SYLLABLES = [c + v for c in "bcdfghklmnprstvwzß" for v in ("a", "e", "i", "o", "u", "ä", "ö", "ü", "é", "è")]
HANZI = "的一是不了人我在有他这中大来上个国到说们为子和你地出道也时年"


def generated_corpus(num_lines: int, seed: int = 0) -> list[str]:
    """Deterministic multilingual-looking lines with enough distinct words for an 8k vocab."""
    rng = random.Random(seed)
    lines = []
    for _ in range(num_lines):
        words = []
        for _ in range(rng.randint(6, 18)):
            roll = rng.random()
            if roll < 0.08:
                words.append(str(rng.randint(0, 99999)))
            elif roll < 0.15:
                words.append("".join(rng.choices(HANZI, k=rng.randint(2, 6))))
            else:
                words.append("".join(rng.choices(SYLLABLES, k=rng.randint(1, 4))))
        lines.append(" ".join(words) + rng.choice([".", ",", "!", "?", ""]))
    return lines


TARGET = 2**13  # T2T's "8k"


@pytest.fixture(scope="module")
def subword() -> SubwordEncoder:
    # The corpus deliberately excludes MULTILINGUAL, so those lines also test unseen text.
    return SubwordEncoder.build(generated_corpus(4000), target_vocab_size=TARGET)


@pytest.fixture(scope="module")
def token_file(tmp_path_factory: pytest.TempPathFactory) -> TokenFileEncoder:
    path = tmp_path_factory.mktemp("vocab") / "vocab.tokens"
    path.write_text("<pad>\n<EOS>\nthe\ncat\nsat\non\nmat\n.\n", encoding="utf-8")
    return TokenFileEncoder.from_file(path)


@pytest.fixture(params=["subword", "byte", "token_file"])
def encoder(request: pytest.FixtureRequest) -> TextEncoder:
    if request.param == "byte":
        return ByteEncoder()
    return request.getfixturevalue(request.param)


# --- round trips --------------------------------------------------------------------------


@pytest.mark.parametrize("text", MULTILINGUAL)
def test_subword_round_trip_is_exact(subword: SubwordEncoder, text: str) -> None:
    ids = subword.encode(text)
    assert subword.decode(ids) == text


@pytest.mark.parametrize("text", MULTILINGUAL)
def test_byte_round_trip_is_exact(text: str) -> None:
    encoder = ByteEncoder()
    assert encoder.decode(encoder.encode(text)) == text


def test_subword_compresses_training_like_text(subword: SubwordEncoder) -> None:
    lines = generated_corpus(200, seed=1)
    num_ids = sum(len(ids) for ids in subword.encode_batch(lines))
    num_bytes = sum(len(line.encode("utf-8")) for line in lines)
    assert num_ids < num_bytes / 2.5  # real subwords, not bytes


def test_subword_keeps_unicode_form(subword: SubwordEncoder) -> None:
    nfd, nfc = "e\u0301", "\u00e9"
    assert subword.encode(nfd) != subword.encode(nfc)
    assert subword.decode(subword.encode(nfd)) == nfd


def test_token_file_round_trip_normalises_whitespace(token_file: TokenFileEncoder) -> None:
    text = "  the cat\tsat   on the\nmat . "
    ids = token_file.encode(text)
    assert ids == [3, 4, 5, 6, 3, 7, 8]
    assert token_file.decode(ids) == " ".join(text.split()) == "the cat sat on the mat ."


# --- reserved ids -------------------------------------------------------------------------


def test_encode_never_produces_pad_or_eos(encoder: TextEncoder) -> None:
    for ids in encoder.encode_batch(MULTILINGUAL):
        assert all(2 <= i < encoder.vocab_size for i in ids)
    assert encoder.encode("") == []


def test_decode_stops_at_eos_and_drops_pad(encoder: TextEncoder) -> None:
    ids = encoder.encode("the cat sat")
    expected = encoder.decode(ids)
    assert expected  # non-empty for all three encoders
    assert encoder.decode(ids + [EOS_ID] + ids) == expected
    assert encoder.decode([PAD_ID] + ids[:1] + [PAD_ID] + ids[1:] + [PAD_ID] * 3) == expected
    assert encoder.decode([EOS_ID] + ids) == ""
    assert encoder.decode([PAD_ID, PAD_ID]) == ""


def test_decode_accepts_tensors(encoder: TextEncoder) -> None:
    torch = pytest.importorskip("torch")
    ids = encoder.encode("the mat") + [EOS_ID, PAD_ID]
    assert encoder.decode(torch.tensor(ids)) == encoder.decode(ids)


def test_decode_rejects_out_of_range_ids(encoder: TextEncoder) -> None:
    for bad in (encoder.vocab_size, -1):
        with pytest.raises(ValueError, match="outside the vocabulary"):
            encoder.decode([3, bad])


def test_reserved_names_in_text_are_not_reserved_ids(subword: SubwordEncoder, token_file: TokenFileEncoder) -> None:
    assert PAD_ID not in subword.encode("<pad>") and EOS_ID not in subword.encode("<EOS>")
    assert token_file.encode("<pad> <EOS> <UNK> dog") == [UNK_ID] * 4


# --- vocabulary building ------------------------------------------------------------------


def test_subword_reaches_target_vocab_size(subword: SubwordEncoder) -> None:
    # T2T accepted a vocabulary within 1 % of the target; BPE stops at the target itself.
    assert 0.99 * TARGET <= subword.vocab_size <= TARGET
    assert subword.unk_id is None


def test_subword_build_is_deterministic(subword: SubwordEncoder) -> None:
    again = SubwordEncoder.build(iter(generated_corpus(4000)), target_vocab_size=TARGET)
    assert again == subword


def test_subword_build_streams_and_caps_lines() -> None:
    consumed = 0

    def lines() -> Iterator[str]:  # endless: only the cap ends the build
        nonlocal consumed
        while True:
            consumed += 1
            yield "aaa bbb aaa " * 3 if consumed <= 300 else "zzzzzz " * 5

    capped = SubwordEncoder.build(lines(), target_vocab_size=300, max_lines=300)
    assert consumed == 300
    assert len(capped.encode("zzzzzz")) > 1  # never saw the lines after the cap
    assert len(capped.encode(" aaa")) == 1


def test_subword_build_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="too small"):
        SubwordEncoder.build(["abc"], target_vocab_size=100)
    with pytest.raises(ValueError, match="none had text"):
        SubwordEncoder.build(["", ""], target_vocab_size=1000)
    with pytest.raises(ValueError, match="max_lines"):
        SubwordEncoder.build(["abc"], target_vocab_size=1000, max_lines=0)


# --- batch encoding -----------------------------------------------------------------------


def test_encode_batch_equals_encode(encoder: TextEncoder) -> None:
    texts = MULTILINGUAL + generated_corpus(500, seed=2) + ["the cat sat on the mat ."]
    assert encoder.encode_batch(texts) == [encoder.encode(t) for t in texts]
    assert encoder.encode_batch(iter(texts[:3])) == [encoder.encode(t) for t in texts[:3]]
    assert encoder.encode_batch([]) == []


# --- save / load --------------------------------------------------------------------------


def test_save_load_round_trip(encoder: TextEncoder, tmp_path: Path) -> None:
    path = tmp_path / "sub" / "vocab.json"
    encoder.save(path)
    loaded = load_encoder(path)
    assert type(loaded) is type(encoder)
    assert loaded == encoder
    assert loaded.vocab_size == encoder.vocab_size
    texts = MULTILINGUAL + ["the cat sat on the mat ."]
    assert loaded.encode_batch(texts) == encoder.encode_batch(texts)
    assert json.loads(path.read_text(encoding="utf-8"))["t2t_torch_encoder"]["kind"] == encoder.kind
    assert [p.name for p in path.parent.iterdir()] == ["vocab.json"]  # no temp file left


def test_encoders_pickle(encoder: TextEncoder) -> None:
    clone = pickle.loads(pickle.dumps(encoder))
    assert clone == encoder
    assert clone.encode_batch(MULTILINGUAL) == encoder.encode_batch(MULTILINGUAL)


def test_load_missing_file_names_file_and_fix(tmp_path: Path) -> None:
    path = tmp_path / "vocab.ende.32768.json"
    with pytest.raises(EncoderFileNotFoundError) as info:
        load_encoder(path)
    assert isinstance(info.value, FileNotFoundError)
    message = str(info.value)
    assert str(path) in message and "t2t-datagen" in message and "\n" not in message


def _corrupt_documents(good: str) -> dict[str, str | bytes]:
    doc = json.loads(good)
    unknown_kind = {**doc, "t2t_torch_encoder": {**doc["t2t_torch_encoder"], "kind": "wordpiece"}}
    wrong_size = {**doc, "t2t_torch_encoder": {**doc["t2t_torch_encoder"], "vocab_size": 7}}
    broken_model = {**doc, "payload": {"tokenizer": {"model": {"type": "Nope"}}}}
    return {
        "truncated": good[: len(good) // 2],
        "empty": "",
        "binary": b"\xff\xfe\x00garbage",
        "no_header": json.dumps({"model": {}}),
        "unknown_kind": json.dumps(unknown_kind),
        "wrong_size": json.dumps(wrong_size),
        "broken_model": json.dumps(broken_model),
        "no_payload": json.dumps({"t2t_torch_encoder": doc["t2t_torch_encoder"]}),
    }


@pytest.mark.parametrize(
    "case",
    ["truncated", "empty", "binary", "no_header", "unknown_kind", "wrong_size", "broken_model", "no_payload"],
)
def test_load_corrupt_file_names_file_and_fix(subword: SubwordEncoder, tmp_path: Path, case: str) -> None:
    good = tmp_path / "good.json"
    subword.save(good)
    content = _corrupt_documents(good.read_text(encoding="utf-8"))[case]
    path = tmp_path / "vocab.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(EncoderFileError) as info:
        load_encoder(path)
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    assert str(path) in message and "delete it and rerun t2t-datagen" in message
    assert "\n" not in message


def test_save_overwrites_atomically(tmp_path: Path) -> None:
    path = tmp_path / "vocab.json"
    path.write_text("old", encoding="utf-8")
    ByteEncoder().save(path)
    assert load_encoder(path) == ByteEncoder()


# --- byte encoder -------------------------------------------------------------------------


def test_byte_ids_are_bytes_plus_reserved() -> None:
    encoder = ByteEncoder()
    assert encoder.vocab_size == 258
    assert encoder.encode("Aé") == [0x41 + 2, 0xC3 + 2, 0xA9 + 2]
    assert encoder.unk_id is None


def test_byte_decode_of_invalid_utf8_gives_replacement_chars() -> None:
    encoder = ByteEncoder()
    assert encoder.decode([0xFF + 2, ord("a") + 2]) == "\ufffda"
    cut = encoder.encode("中文")[:4]  # one whole character, then one byte of the next
    assert encoder.decode(cut) == "中\ufffd"


def test_subword_decode_of_partial_character_does_not_crash(subword: SubwordEncoder) -> None:
    ids = subword.encode("\U0001f9ec")  # a 4-byte character absent from training: byte pieces
    assert len(ids) == 4
    assert subword.decode(ids[:2]) == "\ufffd"


# --- token-file encoder -------------------------------------------------------------------


def test_token_file_ids_and_unknowns(token_file: TokenFileEncoder) -> None:
    assert token_file.vocab_size == 3 + 6
    assert token_file.unk_id == UNK_ID == 2
    assert token_file.tokens[:4] == ["<pad>", "<EOS>", "<UNK>", "the"]
    ids = token_file.encode("the dog sat on a mat")
    assert ids == [3, UNK_ID, 5, 6, UNK_ID, 7]
    assert token_file.decode(ids) == "the <UNK> sat on <UNK> mat"


def test_token_file_without_reserved_header_and_custom_unk(tmp_path: Path) -> None:
    path = tmp_path / "vocab.txt"
    path.write_text("hello\nUNK\n  world  \n\n", encoding="utf-8")
    encoder = TokenFileEncoder.from_file(path, unk_token="UNK")
    assert encoder.tokens == ["<pad>", "<EOS>", "UNK", "hello", "world"]
    assert encoder.encode("hello there world") == [3, 2, 4]
    assert encoder.decode([3, 2, 4, EOS_ID, 3]) == "hello UNK world"


@pytest.mark.parametrize(
    ("content", "reason"),
    [("a\nb\na\n", "line 3 repeats token 'a' of line 1"), ("a b\n", "line 1 holds more than one token"),
     ("<pad>\n<EOS>\n", "no tokens")],
)
def test_token_file_bad_vocab_is_named(tmp_path: Path, content: str, reason: str) -> None:
    path = tmp_path / "vocab.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(EncoderFileError, match=reason) as info:
        TokenFileEncoder.from_file(path)
    assert str(path) in str(info.value) and "one token per line" in str(info.value)


def test_token_file_missing_vocab_is_named(tmp_path: Path) -> None:
    path = tmp_path / "missing.txt"
    with pytest.raises(EncoderFileNotFoundError, match="one token per line") as info:
        TokenFileEncoder.from_file(path)
    assert str(path) in str(info.value)
