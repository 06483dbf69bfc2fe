"""`decode.score_file` with a language model (decoder-only, t2t_torch/inference/predictor.py `Predictor.score`):
the source is the prompt and only the target is scored, so two sources with one target score differently, and the
score is the log-probability that incremental decoding from the prompt gives the target's tokens and eos."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from t2t_torch.inference.predictor import Predictor
from t2t_torch.run.decode import decode
from t2t_torch.spec import EOS_ID
from tests.fixtures.helpers import QUIET_TRAINER, TINY_MODEL, compose
from tests.fixtures.text import train_offline


@pytest.fixture(scope="module")
def lm_checkpoint(tmp_path_factory) -> Path:
    """A tiny decoder-only Transformer trained for two steps on text2self_files (tests/fixtures/lm.py)."""
    run = train_offline(["problem=text2self_files", "model=transformer", *TINY_MODEL, *QUIET_TRAINER,
                         "trainer.max_steps=2", "trainer.val_check_interval=2", "hparams.batching.batch_size=256",
                         "hparams.batching.max_length=64"], tmp_path_factory.mktemp("lm_scoring"))
    return run / "checkpoints" / "last.ckpt"


PAIRS = [("the old cat", "sleeps ."), ("a dog number 7", "sleeps ."), ("the old cat", "runs .")]


def score_file(checkpoint: Path, tmp_path: Path, pairs: list[tuple[str, str]]) -> list[float]:
    pairs_file, scores = tmp_path / "pairs.tsv", tmp_path / "scores.txt"
    pairs_file.write_text("".join(f"{source}\t{target}\n" for source, target in pairs))
    cfg = compose([f"ckpt_path={checkpoint}", "device=cpu", f"decode.score_file={pairs_file}",
                   f"decode.to_file={scores}"], tmp_path, "decode")
    cfg.data_dir = None
    decode(cfg)
    return [float(line) for line in scores.read_text().splitlines()]


def test_the_source_is_the_prompt_so_other_sources_score_one_target_differently(lm_checkpoint, tmp_path):
    scores = score_file(lm_checkpoint, tmp_path, PAIRS)
    assert len(scores) == 3 and all(s < 0 for s in scores)
    assert scores[0] != pytest.approx(scores[1], abs=1e-4)  # same target, another prompt
    assert scores[0] != pytest.approx(scores[2], abs=1e-4)  # same prompt, another target


def test_the_score_is_what_decoding_from_the_prompt_gives_the_target(lm_checkpoint, tmp_path):
    from t2t_torch.inference.scoring import continuation

    scores = score_file(lm_checkpoint, tmp_path, PAIRS)
    predictor = Predictor.from_checkpoint(lm_checkpoint)
    model, encoder = predictor.model.eval(), predictor.encoders["targets"]
    for (source, target), score in zip(PAIRS, scores, strict=True):
        prompt = torch.tensor([encoder.encode(source)])
        wanted = [*encoder.encode(continuation(source, target)), EOS_ID]
        assert encoder.decode([*prompt[0].tolist(), *wanted[:-1]]) == f"{source} {target}"  # one text, one space
        expected, ids = 0.0, torch.zeros((1, 0), dtype=torch.long)
        with torch.inference_mode():
            cache = model.init_cache(prefix=prompt, max_length=len(wanted))
            for step, token in enumerate(wanted):  # incremental decoding: the prompt read into the cache first
                logits, cache = model.decode_step(ids, step, cache)
                expected += torch.log_softmax(logits.float(), -1)[0, token].item()
                ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
        assert score == pytest.approx(expected, abs=1e-3)


def test_continuation_adds_one_space_only_where_none_is():
    from t2t_torch.inference.scoring import continuation

    assert continuation("the cat", "sleeps") == " sleeps"
    assert continuation("the cat ", "sleeps") == "sleeps" and continuation("the cat", " sleeps") == " sleeps"
