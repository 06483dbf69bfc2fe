"""The modalities no registered problem uses yet (audio_spectral, real) through the generic model: shapes, masks
and losses on random batches, so a speech or regression problem can rely on them (issue 12 builds on these)."""

import pytest
import torch

import t2t_torch
from t2t_torch.spec import FeatureSpec, ProblemSpec, class_label_feature, symbol_feature

TINY = {"hidden_size": 16, "filter_size": 32, "num_heads": 2, "num_hidden_layers": 1}
AUDIO = FeatureSpec("audio_spectral", 0, (None, 16), "float32", 0.0, False)


def audio_batch():
    frames = torch.randn(2, 12, 16)
    frames[1, 4:] = 0.0  # the second example has 4 frames, then padding (its last kept position sees none)
    return frames


def test_audio_frames_to_tokens_subsample_by_four_with_the_mask():
    spec = ProblemSpec(features={"inputs": AUDIO, "targets": symbol_feature(9)})
    net = t2t_torch.model("transformer")(TINY, spec)
    frames = audio_batch()
    mask = net.inputs_modality.mask(frames)
    assert net.inputs_modality.bottom(frames).shape == (2, 3, 16) and mask.tolist() == [[True] * 3, [True, True, False]]
    out = net({"inputs": frames, "targets": torch.tensor([[3, 4, 1], [5, 1, 0]])})
    assert out["logits"].shape == (2, 3, 9) and out["num_tokens"] == 5 and torch.isfinite(out["loss"])


def test_audio_frames_to_a_class_label():
    spec = ProblemSpec(features={"inputs": AUDIO, "targets": class_label_feature(4)})
    out = t2t_torch.model("transformer_encoder")(TINY, spec)({"inputs": audio_batch(), "targets": torch.tensor([0, 3])})
    assert out["logits"].shape == (2, 4) and out["num_tokens"] == 2


def test_real_valued_target_is_an_l2_loss():
    spec = ProblemSpec(features={"inputs": symbol_feature(9),
                                 "targets": FeatureSpec("real", 0, (3,), "float32", 0.0, False)})
    net = t2t_torch.model("transformer_encoder")(TINY, spec)
    targets = torch.tensor([[1.0, 2.0, 3.0], [0.0, -1.0, 0.5]])
    out = net({"inputs": torch.tensor([[3, 4, 1], [5, 1, 0]]), "targets": targets})
    assert out["logits"].shape == (2, 3) and out["num_tokens"] == 6
    torch.testing.assert_close(out["loss"], ((out["logits"] - targets) ** 2).mean())


def test_every_modality_names_eval_metrics_the_module_can_build():
    """The LightningModule asks the target modality for its eval metrics (metrics/eval_metrics.py), never compares
    modality names; a kind nothing builds is one line."""
    from t2t_torch.errors import T2TUserError
    from t2t_torch.metrics.eval_metrics import EVAL_METRICS, eval_metrics_for
    from t2t_torch.modalities.base import Modality

    assert {cls.eval_metrics for cls in Modality.kinds.values()} <= set(EVAL_METRICS)
    assert Modality.kinds["symbol"].eval_metrics == "sequence" and Modality.kinds["class_label"].eval_metrics == "class"
    with pytest.raises(T2TUserError, match="no eval metrics of kind 'bleu'"):
        eval_metrics_for("bleu", None)
