"""Decoding that cannot loop: the CTC prefix scorer (decoding/ctc_prefix_score.py) against every alignment of tiny
inputs, CTC-only greedy and prefix beam search (decoding/ctc_search.py), joint CTC/attention beam search equal to
plain beam search at weight 0, hypotheses bounded by the encoder's length (inference/speech_search.py) through the
predictor and the decode entry point, the in-training decodes' `decode_eval.ctc_weight`, and the one-line errors."""

import itertools
import math

import pytest
import torch
from omegaconf import OmegaConf

import t2t_torch
from t2t_torch.callbacks.decode_eval import decode_eval_callbacks
from t2t_torch.decoding import CtcPrefixScorer, beam_search, ctc_greedy_search, ctc_prefix_beam_search
from t2t_torch.errors import T2TUserError
from t2t_torch.inference.decode_config import DecodeConfig
from t2t_torch.inference.predictor import Predictor
from t2t_torch.inference.search import decode_batch
from t2t_torch.run.decode import decode
from t2t_torch.run.train import train
from t2t_torch.spec import EOS_ID, FeatureSpec, ProblemSpec, symbol_feature
from tests.fixtures.helpers import QUIET_TRAINER, compose
from tests.fixtures.speech import write_speech_folder

BLANK = 0
NEG_INF = float("-inf")
AUDIO = ProblemSpec(features={"inputs": FeatureSpec("audio_spectral", 0, (None, 16), "float32", 0.0, False),
                              "targets": symbol_feature(9)})
TINY = {"hidden_size": 16, "filter_size": 32, "num_heads": 2, "num_hidden_layers": 1}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def collapse(path):
    """A CTC alignment's labels: repeats merged, blanks dropped."""
    labels = [label for i, label in enumerate(path) if i == 0 or label != path[i - 1]]
    return [label for label in labels if label != BLANK]


def brute_force(log_probs, length, labels, whole):
    """log of the summed probability of every alignment of the first `length` frames whose labels are `labels`
    (whole) or start with them."""
    total = 0.0
    for path in itertools.product(range(log_probs.size(-1)), repeat=length):
        found = collapse(path)
        if found == labels if whole else found[:len(labels)] == labels:
            total += math.exp(sum(log_probs[t, label].item() for t, label in enumerate(path)))
    return math.log(total) if total > 0 else NEG_INF


def test_prefix_scores_sum_every_alignment():
    torch.manual_seed(0)
    log_probs = torch.randn(2, 5, 4, dtype=torch.float64).log_softmax(-1)  # (B, T, V): blank 0, eos 1, labels 2, 3
    lengths = torch.tensor([5, 3])
    scorer = CtcPrefixScorer(log_probs, lengths, weight=1.0)
    state = scorer.init(beam_size=2)  # rows 0, 1: item 0; rows 2, 3: item 1
    hypotheses, ids = [[]] * 4, torch.zeros(4, 1, dtype=torch.long)
    # Extend rows (parent, token): distinct prefixes, then repeats ([2, 2] needs a blank between its labels).
    for parents, tokens in [([0, 0, 2, 2], [2, 3, 3, 2]), ([0, 1, 2, 3], [2, 3, 2, 3]), (None, None)]:
        _, extensions = scorer.score(state, ids, torch.zeros(4, 4, dtype=torch.float64))
        for row, prefix in enumerate(hypotheses):
            item = row // 2
            expected = [NEG_INF, brute_force(log_probs[item], int(lengths[item]), prefix, whole=True)]
            expected += [brute_force(log_probs[item], int(lengths[item]), [*prefix, c], whole=False) for c in (2, 3)]
            torch.testing.assert_close(extensions.prefix[row], torch.tensor(expected, dtype=torch.float64))
        if parents is None:
            break
        state = scorer.select(extensions, torch.tensor(parents), torch.tensor(tokens))
        hypotheses = [[*hypotheses[p], t] for p, t in zip(parents, tokens, strict=True)]
        ids = torch.cat([ids[parents], torch.tensor(tokens).unsqueeze(1)], dim=1)
    assert hypotheses == [[2, 2], [3, 3], [3, 2], [2, 3]]


def frame_log_probs(paths, vocab=5):
    """(B, T, V) log-probs whose best label at frame t of item b is paths[b][t]."""
    log_probs = torch.full((len(paths), len(paths[0]), vocab), -3.0)
    for item, path in enumerate(paths):
        for t, label in enumerate(path):
            log_probs[item, t, label] = -0.1
    return log_probs


def test_ctc_greedy_merges_repeats_drops_blanks_and_padding():
    log_probs = frame_log_probs([[0, 2, 2, 0, 2, 3, 3, 0], [4, 4, 1, 4, 2, 2, 3, 3]])
    result = ctc_greedy_search(log_probs, torch.tensor([8, 5]))  # item 1: frames 5.. are padding
    # Item 1's eos (frame 2) is no CTC label: dropped like a blank, so its 4s are two labels.
    assert result.ids[:, 0].tolist() == [[2, 2, 3, EOS_ID], [4, 4, 2, EOS_ID]]
    assert result.lengths.tolist() == [[4], [4]]
    torch.testing.assert_close(result.scores, torch.tensor([[-0.8], [-0.5]]))


def test_ctc_prefix_beam_search_finds_the_most_likely_labels():
    torch.manual_seed(1)
    log_probs = torch.randn(1, 4, 4, dtype=torch.float64).mul(2).log_softmax(-1)
    result = ctc_prefix_beam_search(log_probs, torch.tensor([4]), beam_size=8, alpha=0.0)
    labelings = [list(s) for n in range(5) for s in itertools.product((2, 3), repeat=n)]
    scores = {tuple(s): brute_force(log_probs[0], 4, s, whole=True) for s in labelings}
    best = max(scores, key=scores.get)
    assert result.ids[0, 0, :result.lengths[0, 0]].tolist() == [*best, EOS_ID]
    assert result.scores[0, 0].item() == pytest.approx(scores[best], abs=1e-5)


def toy_decoder(vocab, seed=0):
    """A deterministic next-token distribution per prefix: a stand-in attention decoder."""
    table = torch.randn(vocab, vocab, generator=torch.Generator().manual_seed(seed))

    def step(ids, _, cache):
        return table[ids[:, -1]] + 0.1 * ids.size(1), cache

    return step


def test_joint_beam_at_ctc_weight_zero_is_plain_beam_search():
    log_probs = torch.randn(3, 9, 7, generator=torch.Generator().manual_seed(2)).log_softmax(-1)
    lengths = torch.tensor([9, 6, 4])
    for beam in (1, 3):
        scorer = CtcPrefixScorer(log_probs, lengths, weight=0.0, pre_beam=2 * beam)
        joint = beam_search(toy_decoder(7), 3, beam, 12, 7, 0.6, scorer=scorer, max_lengths=lengths)
        plain = beam_search(toy_decoder(7), 3, beam, 12, 7, 0.6, max_lengths=lengths)
        assert torch.equal(joint.ids, plain.ids) and torch.equal(joint.scores, plain.scores)


def looping(model):
    """`model` whose decoder all but never ends a hypothesis, as an attention decoder that loops on real audio."""
    decode_step = model.decode_step

    def never_ending(ids, step, cache):
        logits, cache = decode_step(ids, step, cache)
        logits[:, EOS_ID] -= 50.0
        return logits, cache

    model.decode_step = never_ending
    return model


def test_no_search_outlives_the_encoder():
    torch.manual_seed(0)
    model = t2t_torch.model("transformer")({**TINY, "ctc_weight": 0.5}, AUDIO)
    frames = torch.randn(2, 40, 16)
    frames[1, 20:] = 0.0  # padding: 6 encoder positions for 20 frames (the convolutions pad)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(10):  # a few steps of training, towards 3-label transcripts
        loss = model({"inputs": frames, "targets": torch.tensor([[3, 4, 5, EOS_ID], [6, 7, 6, EOS_ID]])})["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model = looping(model.eval())
    encoder_lengths = model.encode(frames)[1].sum(1)
    assert encoder_lengths.tolist() == [10, 6]
    for options in ({"beam_size": 1}, {"beam_size": 3}, {"ctc_weight": 0.3, "beam_size": 1},
                    {"ctc_weight": 0.3, "beam_size": 3}, {"ctc_weight": 1.0, "beam_size": 1},
                    {"ctc_weight": 1.0, "beam_size": 3}, {"sampling_method": "random"}):
        result = decode_batch(model, frames, 9, DecodeConfig(extra_length=100, **options))
        symbols = result.lengths - 1  # each hypothesis ends in eos: the bound forces it
        assert (result.ids.gather(2, symbols.clamp(min=0).unsqueeze(2)) == EOS_ID).all(), options
        assert (symbols <= encoder_lengths.unsqueeze(1)).all(), options
        if "ctc_weight" not in options:  # the decoder alone loops up to the bound
            assert (symbols == encoder_lengths.unsqueeze(1)).all(), options


def test_bad_ctc_weights_are_one_line_errors():
    for weight in (-0.1, 1.5, True, "half"):
        with pytest.raises(T2TUserError, match=r"decode.ctc_weight must be a number in \[0, 1\]"):
            DecodeConfig(ctc_weight=weight)
    with pytest.raises(T2TUserError, match="pass decode.sampling_method=argmax or decode.ctc_weight=0"):
        DecodeConfig(ctc_weight=0.3, sampling_method="random")
    model = t2t_torch.model("transformer")(TINY, AUDIO).eval()  # trained without a CTC head
    with pytest.raises(T2TUserError, match=r"this model has none: pass decode.ctc_weight=0, or train with "
                                           r"hparams.model.ctc_weight > 0"):
        Predictor(model, {}, AUDIO, 100).generate([torch.randn(24, 16).tolist()], DecodeConfig(ctc_weight=0.5))
    with pytest.raises(T2TUserError, match=r"decode_eval.ctc_weight must be a number in \[0, 1\]"):
        decode_eval_callbacks(OmegaConf.create({"decode_eval": {"every": 1, "ctc_weight": 2}}))
    (callback,) = decode_eval_callbacks(OmegaConf.create({"decode_eval": {"every": 1, "ctc_weight": 0.5}}))
    assert callback.config.ctc_weight == 0.5


SPEECH_RUN = [
    "problem=speech_folder", "model=transformer", "hparams=transformer_librispeech", "hparams.model.hidden_size=16",
    "hparams.model.filter_size=32", "hparams.model.num_heads=2", "hparams.model.num_encoder_layers=1",
    "hparams.model.num_decoder_layers=1", "hparams.modality.audio_spectral.channels=4", "hparams.model.ctc_weight=0.5",
    "hparams.batching.batch_size=200", "hparams.batching.max_length=100", "decode_eval.every=1",
    "decode_eval.ctc_weight=0.5", "eval_at_end=false",
]


def test_a_ctc_checkpoint_decodes_jointly_in_training_and_from_the_entry_point(tmp_path):
    write_speech_folder(tmp_path / "speech")
    cfg = compose([*SPEECH_RUN, *QUIET_TRAINER], tmp_path)
    OmegaConf.update(cfg, "problem.data_files", {"root": str(tmp_path / "speech")}, merge=False)
    train(cfg)  # the dev decodes at each validation search jointly (decode_eval.ctc_weight) and log eval/cer
    assert any("eval/cer" in log.read_text() for log in (tmp_path / "run").rglob("metrics.csv"))
    checkpoint = tmp_path / "run" / "checkpoints" / "last.ckpt"
    for weight in (0.5, 1.0):
        out = tmp_path / f"decodes_{weight}"
        decode_cfg = compose([f"ckpt_path={checkpoint}", "device=cpu", "decode.split=test", "decode.beam_size=2",
                              f"decode.ctc_weight={weight}"], tmp_path / "decode", "decode")
        decode_cfg.data_dir = None
        OmegaConf.update(decode_cfg, "output_dir", str(out))
        scores = decode(decode_cfg)
        assert {"wer", "cer"} <= set(scores) and len((out / "decodes.txt").read_text().splitlines()) == 2
