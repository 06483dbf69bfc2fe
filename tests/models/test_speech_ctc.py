"""The optional CTC loss on the encoder's output (t2t_torch/models/ctc.py, `hparams.model.ctc_weight`): the joint loss
is (1 - w) x the decoder's + w x CTC per target symbol (blank = pad, EOS not a symbol, padded frames not read), its
head trains, and a model without an encoder refuses it in one line."""

import pytest
import torch
import torch.nn.functional as F

import t2t_torch
from t2t_torch.errors import T2TUserError
from t2t_torch.models.ctc import CtcHead
from t2t_torch.spec import FeatureSpec, ProblemSpec, symbol_feature

AUDIO = ProblemSpec(features={"inputs": FeatureSpec("audio_spectral", 0, (None, 16), "float32", 0.0, False),
                              "targets": symbol_feature(9)})
TINY = {"hidden_size": 16, "filter_size": 32, "num_heads": 2, "num_hidden_layers": 1}


def batch():
    frames = torch.randn(2, 40, 16, generator=torch.Generator().manual_seed(0))
    frames[1, 20:] = 0.0  # padding
    return {"inputs": frames, "targets": torch.tensor([[3, 4, 5, 1], [6, 1, 0, 0]])}


def test_ctc_loss_per_symbol_ignores_eos_and_padding():
    torch.manual_seed(0)
    head = CtcHead(4, ProblemSpec(features={"targets": symbol_feature(9)})).double()
    memory = torch.randn(2, 6, 4, dtype=torch.float64)
    mask = torch.tensor([[True] * 6, [True] * 3 + [False] * 3])
    targets = torch.tensor([[3, 4, 5, 1], [6, 1, 0, 0]])
    log_probs = F.log_softmax(head.projection(memory), -1)
    expected = (F.ctc_loss(log_probs[0:1, :6].transpose(0, 1), torch.tensor([[3, 4, 5]]), [6], [3], reduction="sum")
                + F.ctc_loss(log_probs[1:2, :3].transpose(0, 1), torch.tensor([[6]]), [3], [1], reduction="sum")) / 4
    torch.testing.assert_close(head.loss(memory, mask, targets).double(), expected, rtol=1e-5, atol=1e-6)


def test_the_joint_loss_mixes_decoder_and_ctc_and_trains_the_head():
    torch.manual_seed(0)
    plain = t2t_torch.model("transformer")(TINY, AUDIO)
    torch.manual_seed(0)
    joint = t2t_torch.model("transformer")({**TINY, "ctc_weight": 0.25}, AUDIO)
    assert not hasattr(plain, "ctc") and joint.auxiliary_weights == {"ctc": 0.25}
    joint.eval()
    plain.eval()
    with torch.no_grad():
        decoder = plain(batch())["loss"]
        memory = joint.body.encode(joint.inputs_modality.bottom(batch()["inputs"]), joint.inputs_modality.mask(
            batch()["inputs"]))
        ctc = joint.ctc.loss(memory, joint.inputs_modality.mask(batch()["inputs"]), batch()["targets"])
        torch.testing.assert_close(joint(batch())["loss"], 0.75 * decoder + 0.25 * ctc)
    joint.train()
    joint(batch())["loss"].backward()
    assert joint.ctc.projection.weight.grad.abs().sum() > 0


def test_ctc_needs_an_encoder_and_a_weight_below_one():
    decoder_only = ProblemSpec(features={"targets": symbol_feature(9)})
    with pytest.raises(T2TUserError, match="pass hparams.model.ctc_weight=0"):
        t2t_torch.model("transformer")({**TINY, "ctc_weight": 0.3}, decoder_only)
    with pytest.raises(T2TUserError, match=r"ctc_weight must be a number in \[0, 1\)"):
        t2t_torch.model("transformer")({**TINY, "ctc_weight": 1.0}, AUDIO)
