"""`CheckpointRecord` (t2t_torch/checkpoints/record.py): the typed fields of a real tiny run's last.ckpt, `mismatch`
for another model, hparams, problem or vocabulary, the same record (and weights, decodes, evaluation, warm start and
averaging) from a sharded directory written by Lightning's own FSDP sharded save, and one-line errors for an older
t2t-torch's checkpoint, a foreign one and a broken or unsafe sharded directory."""

from __future__ import annotations

import copy
import dataclasses
import os
import pickle
import shutil
from pathlib import Path

import pytest
import torch
from lightning.pytorch.strategies import FSDPStrategy
from omegaconf import OmegaConf

from t2t_torch.checkpoints.average import average_checkpoints, find_checkpoints
from t2t_torch.checkpoints.best import resolve_checkpoint
from t2t_torch.checkpoints.record import CheckpointRecord
from t2t_torch.checkpoints.run_identity import first_differences, identity, identity_hash
from t2t_torch.checkpoints.sharded import is_sharded_checkpoint
from t2t_torch.errors import T2TUserError
from t2t_torch.inference.predictor import Predictor
from t2t_torch.models.t2t_module import T2TModule
from t2t_torch.run.evaluate import evaluate
from t2t_torch.run.train import check_checkpoint_matches, train
from t2t_torch.run.warm_start import warm_start
from t2t_torch.spec import ProblemSpec
from tests.fixtures.helpers import compose, tiny

PROBLEM = "algorithmic_identity_binary40"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """(tmp dir, last.ckpt) of one tiny 4-step run."""
    tmp = tmp_path_factory.mktemp("record")
    torch.set_num_threads(1)
    train(compose(tiny(), tmp))
    return tmp, tmp / "run" / "checkpoints" / "last.ckpt"


@pytest.fixture(scope="module")
def sharded(run):
    """last.ckpt saved again as Lightning's FSDP strategy saves with state_dict_type="sharded" (its own code:
    torch.distributed.checkpoint shards of `model` and `optimizer_0`, and meta.pt), beside it in the run."""
    _, last = run
    folder = last.with_name("sharded.ckpt")
    FSDPStrategy(state_dict_type="sharded").save_checkpoint(torch.load(last, weights_only=True), folder)
    return folder


def test_the_record_of_a_real_run_has_its_typed_fields(run):
    tmp, last = run
    record = CheckpointRecord.load(last)
    assert record.path == last and record.global_step == 4 and record.epoch == 0 and not record.sharded
    assert record.model_name == "transformer" and record.model_hparams["hidden_size"] == 16
    assert record.optim_hparams["learning_rate_warmup_steps"] == 10 and isinstance(record.modality_hparams, dict)
    assert record.problem_name == PROBLEM and record.problem_settings["train_size"] == 200
    assert "name" not in record.problem_settings and "_target_" not in record.problem_settings
    assert isinstance(record.spec, ProblemSpec) and record.spec == record.problem().spec(tmp / "data")
    assert record.batching.batch_size == 64 and record.data_dir == str(tmp / "data")
    assert record.vocab_hashes == {} and record.vocabularies == {}  # the algorithmic problems have no vocab files
    assert record.run_config["seed"] == OmegaConf.to_container(compose(tiny(), tmp), resolve=True)["seed"]
    assert record.run_identity == identity(record.run_config)
    assert record.resumable and record.best_model_path.name.startswith("best-")
    assert record.state_dict is None  # only when asked
    weighted = CheckpointRecord.load(last, weights=True)
    assert weighted == record and set(weighted.state_dict) == set(torch.load(last, weights_only=True)["state_dict"])
    assert set(weighted.model_weights()) == set(weighted.module().model.state_dict())
    assert CheckpointRecord.load(record.best_model_path).resumable


def changed(record: CheckpointRecord, **hparams) -> CheckpointRecord:
    """The record of `record`'s checkpoint with some hyper_parameters replaced."""
    return CheckpointRecord.from_hparams({**copy.deepcopy(dict(record.hyper_parameters)), **hparams}, record.path)


def test_mismatch_names_the_first_identity_difference_in_one_line(run):
    record = CheckpointRecord.load(run[1])
    hp = record.hyper_parameters
    assert record.mismatch(record) is None and record.mismatch(CheckpointRecord.from_hparams(hp)) is None
    cases = {
        "another model ('transformer' vs 'lstm_seq2seq')": changed(record, model_name="lstm_seq2seq"),
        "another model hparams (hidden_size: 16 vs 32)":
            changed(record, model_hparams={**hp["model_hparams"], "hidden_size": 32}),
        f"another problem ('{PROBLEM}' vs 'algorithmic_reverse_binary40')":
            changed(record, problem_name="algorithmic_reverse_binary40"),
        "another problem settings (train_size: 200 vs 100)": changed(record, run_config={
            **hp["run_config"], "problem": {**hp["run_config"]["problem"], "train_size": 100}}),
        "another vocabulary (sha256 per feature) (inputs: '<unset>' vs 'ab')":
            changed(record, vocab_hashes={"inputs": "ab"}),
    }
    for expected, other in cases.items():
        assert record.mismatch(other) == expected
    assert record.mismatch(changed(record, vocab_hashes={"inputs": "ab"}), skip=("vocab_hashes",)) is None
    # Hydra's keys of the problem node (`_target_` builds its DataModule) are not settings of the problem
    targeted = changed(record, run_config={**hp["run_config"], "problem": {**hp["run_config"]["problem"],
                                                                        "_target_": "some.DataModule"}})
    assert record.mismatch(targeted) is None and targeted.problem().name == PROBLEM


def test_run_differences_name_the_settings_of_another_run(run):
    record = CheckpointRecord.load(run[1])
    assert record.run_differences(record.run_config) == []
    assert record.run_differences({**record.run_config, "seed": 7}) == [f"seed: {record.run_config['seed']!r} vs 7"]
    assert record.run_differences(None) is None and changed(record, run_config={}).run_differences({"a": 1}) is None


def test_the_problem_nodes_datamodule_target_is_no_identity():
    """`problem._target_` follows from the problem's name: a run composed before the node had it keeps its run
    directory's name and resumes."""
    before = {"problem": {"name": PROBLEM, "train_size": 1}, "seed": 1}
    after = {"problem": {**before["problem"], "_target_": "some.DataModule.for_problem"}, "seed": 1}
    assert identity_hash(after) == identity_hash(before) and first_differences(before, after) == []
    assert first_differences(before, {**after, "seed": 2}) == ["seed: 1 vs 2"]


def test_a_sharded_directory_gives_the_same_record_and_weights(run, sharded):
    _, last = run
    assert is_sharded_checkpoint(sharded) and (sharded / "meta.pt").is_file() and (sharded / ".metadata").is_file()
    assert list(sharded.glob("*.distcp")) and resolve_checkpoint(sharded) == sharded
    single, folder = CheckpointRecord.load(last, weights=True), CheckpointRecord.load(sharded, weights=True)
    assert folder.sharded and folder.resumable and folder.path == sharded
    assert dataclasses.replace(folder, path=last, sharded=False) == single
    assert set(folder.state_dict) == set(single.state_dict)
    for key, value in single.state_dict.items():
        assert torch.equal(folder.state_dict[key], value), key
    assert CheckpointRecord.load(sharded).state_dict is None


def test_a_sharded_directory_decodes_evaluates_warm_starts_and_averages_as_its_file(run, sharded, tmp_path):
    tmp, last = run
    texts = ["1 0 1 1", "0 0 1"]
    expected = Predictor.from_checkpoint(last).translate(texts, beam_size=2, extra_length=4)
    assert Predictor.from_checkpoint(sharded).translate(texts, beam_size=2, extra_length=4) == expected
    cfg = compose(tiny(["mode=eval"]), tmp)
    from_file = evaluate(cfg)
    OmegaConf.update(cfg, "ckpt_path", str(sharded))  # after composing: the command line's check reads files only
    assert evaluate(cfg) == pytest.approx(from_file)
    module = T2TModule(**CheckpointRecord.load(last).hyper_parameters)
    check_checkpoint_matches(sharded, module)
    report = warm_start(module.model, "transformer", sharded, {}, set())
    assert not report.mapped and not report.initialized and not report.unused
    single = CheckpointRecord.load(last, weights=True)
    for key, value in module.model.state_dict().items():
        assert torch.equal(value, single.state_dict[f"model.{key}"]), key
    assert sharded in find_checkpoints([last.parent]) and find_checkpoints([sharded]) == [sharded]
    averaged = average_checkpoints([sharded, last])  # the same weights twice: their average is themselves
    assert averaged["global_step"] == 4 and "optimizer_states" not in averaged
    for key, value in single.state_dict.items():
        torch.testing.assert_close(averaged["state_dict"][key], value)


def copy_of(folder: Path, parent: Path) -> Path:
    return Path(shutil.copytree(folder, parent / folder.name))


class RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_broken_or_unsafe_sharded_directory_is_one_line(sharded, tmp_path):
    marker = tmp_path / "ran"
    unsafe = copy_of(sharded, tmp_path / "unsafe")
    (unsafe / ".metadata").write_bytes(pickle.dumps(RunsCode(marker)))
    missing = copy_of(sharded, tmp_path / "missing")
    (missing / ".metadata").unlink()
    truncated = copy_of(sharded, tmp_path / "truncated")
    for shard in truncated.glob("*.distcp"):
        shard.write_bytes(shard.read_bytes()[:100])
    for folder, weights, needle in ((unsafe, False, "other than checkpoint metadata"),
                                    (missing, False, "no .metadata"),
                                    (truncated, True, "missing, truncated or corrupt")):
        with pytest.raises(T2TUserError) as error:
            CheckpointRecord.load(folder, weights=weights)
        message = str(error.value)
        assert "\n" not in message and f"'{folder}'" in message and needle in message, message
    assert not marker.exists()  # the pickled call was never made


def test_an_older_or_foreign_checkpoint_is_one_line_where_a_field_is_needed(tmp_path):
    old = tmp_path / "old.ckpt"
    torch.save({"state_dict": {}, "global_step": 1, "hyper_parameters": {
        "model_name": "transformer", "model_hparams": {"hidden_size": 8}, "problem_name": PROBLEM,
        "run_config": {}, "problem_info": {"target_vocab_size": 4}}}, old)
    record = CheckpointRecord.load(old)  # what it records is read; what it lacks is None
    assert record.model_name == "transformer" and record.run_config is None and record.vocab_hashes is None
    assert not record.resumable and record.run_identity is None
    with pytest.raises(T2TUserError, match=r"written by an older t2t-torch .* retrain it") as error:
        _ = record.spec
    assert "\n" not in str(error.value) and f"'{old}'" in str(error.value)
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "global_step": 3, "hyper_parameters": {"lr": 0.1}}, foreign)
    with pytest.raises(T2TUserError, match="holds no t2t-torch hyper_parameters: pass a .ckpt of a t2t-train run"):
        CheckpointRecord.load(foreign).require_model()
    with pytest.raises(T2TUserError, match="the checkpoint does not name its problem"):
        CheckpointRecord.load(foreign).problem()
    text = tmp_path / "notes.ckpt"
    text.write_text("not a checkpoint")
    with pytest.raises(T2TUserError, match="not a file written by torch.save"):
        CheckpointRecord.load(text)
    with pytest.raises(T2TUserError, match="does not exist"):
        CheckpointRecord.load(tmp_path / "absent.ckpt")
