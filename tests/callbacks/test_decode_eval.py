"""The in-training dev decodes are configured as `decode_eval.*` (named for decoding: they log BLEU, ROUGE, WER or
CER, whichever the problem's decode metrics are). The old `eval_bleu_*` keys are one line naming the new ones,
wherever they are set; runs written with them keep their run directory; a checkpoint written under the old callback
name resumes its validation count."""

import pytest
from omegaconf import OmegaConf

from t2t_torch.callbacks.decode_eval import DecodeEval, decode_eval_callbacks
from t2t_torch.checkpoints.run_identity import identity_hash
from t2t_torch.errors import T2TUserError
from t2t_torch.run.config_check import RENAMED_KEYS, check_composed, compose_config
from t2t_torch.run.config_store import register_configs
from tests.checkpoints.test_run_identity import hydra_run_dir


@pytest.mark.parametrize("old", sorted(RENAMED_KEYS))
def test_an_old_key_on_the_command_line_is_one_line_naming_the_new_one(old):
    register_configs()
    with pytest.raises(T2TUserError, match=rf"^{old} is now {RENAMED_KEYS[old]}: pass {RENAMED_KEYS[old]}=\.\.\."):
        compose_config([f"{old}=1"])
    with pytest.raises(T2TUserError, match=rf"^{old} is now"):
        compose_config([f"+{old}=1"])


def test_an_old_key_in_a_recipe_or_config_file_is_one_line_too(tmp_path):
    register_configs()
    cfg = compose_config([f"hydra.run.dir={tmp_path}"])
    OmegaConf.set_struct(cfg, False)  # a recipe file adds keys where a command line cannot
    with_old = OmegaConf.merge(cfg, {"eval_bleu_every": 2})
    with pytest.raises(T2TUserError, match=r"eval_bleu_every \(set by a recipe or config file\) is now"
                                           r" decode_eval.every"):
        check_composed(with_old)


def test_decode_eval_settings_keep_the_run_directory_and_old_runs_keep_their_identity():
    command = ["problem=algorithmic_sort_problem", "seed=3"]
    assert hydra_run_dir(command) == hydra_run_dir([*command, "decode_eval.every=2", "decode_eval.samples=7"])
    base = {"problem": {"name": "algorithmic_sort_problem"}, "seed": 3}
    written_before = {**base, "eval_bleu_every": 2, "eval_bleu_samples": 16, "eval_bleu_beam_size": 4}
    written_now = {**base, "decode_eval": {"every": 2, "samples": 16, "beam_size": 4, "ctc_weight": 0.0}}
    assert identity_hash(written_before) == identity_hash(written_now) == identity_hash(base)


def test_the_callback_comes_from_decode_eval_and_resumes_an_old_checkpoints_count():
    assert decode_eval_callbacks(OmegaConf.create({"decode_eval": {"every": 0}})) == []
    (callback,) = decode_eval_callbacks(OmegaConf.create({"decode_eval": {"every": 2, "samples": 5}}))
    assert isinstance(callback, DecodeEval) and (callback.every, callback.num_samples) == (2, 5)
    callback.on_load_checkpoint(None, None, {"callbacks": {"BleuEval": {"validations": 7}}})
    assert callback.validations == 7
    callback.on_load_checkpoint(None, None, {"callbacks": {callback.state_key: {"validations": 3}, "BleuEval": {}}})
    assert callback.validations == 7  # the current key is Lightning's to restore (load_state_dict), not this hook's
