"""Settings that used to end in a long traceback, or trained silently wrong: each is one line naming the fix.

Most are refused by the preflight check (`compose_config`, before any data is prepared or any folder made): a
`trainer.max_time` that is no duration, a seed outside numpy's range, a model size of 0, a validation interval of 0,
a batch size of 0, a run directory that cannot be created, an unquoted non-ASCII override. The rest go through the
entry point in this process (`run_cli` of test_cli_errors.py): `--cfg hydra --resolve`, a disk that fills up while
the TensorBoard writer writes, and an error on a process other than rank 0 (printed once, by rank 0)."""

import errno
import sys
from pathlib import Path

import pytest
from hydra.core.global_hydra import GlobalHydra
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from t2t_torch.cli.app import report_errors
from t2t_torch.cli.eval import main as eval_main
from t2t_torch.errors import T2TUserError
from t2t_torch.run.config_check import compose_config
from t2t_torch.run.config_store import register_configs
from tests.cli.test_cli_errors import assert_one_line_error, run_cli  # noqa: F401  (run_cli: a fixture)
from tests.fixtures.helpers import tiny


def settings(tmp_path: Path, *overrides: str) -> list[str]:
    """The tiny test config with `overrides` in place of its own values for the same keys."""
    keys = {o.split("=", 1)[0] for o in overrides}
    base = [o for o in tiny([f"data_dir={tmp_path / 'data'}", f"hydra.run.dir={tmp_path / 'run'}"])
            if o.split("=", 1)[0] not in keys]
    return [*base, *overrides]


def refused(tmp_path: Path, *overrides: str, match: str) -> str:
    """The one-line message with which the preflight check refuses `overrides`; nothing is made on disk."""
    register_configs()
    with pytest.raises(T2TUserError, match=match) as caught:
        compose_config(settings(tmp_path, *overrides))
    message = str(caught.value)
    assert "\n" not in message and ": " in message, message
    assert not (tmp_path / "data").exists() and not (tmp_path / "run").exists()
    return message


def accepted(tmp_path: Path, *overrides: str):
    register_configs()
    return compose_config(settings(tmp_path, *overrides))


# 1. trainer.max_time


@pytest.mark.parametrize("value", ["garbage", "12:00:00", "3600", "{hourz:1}", "{hours:-1}"])
def test_max_time_that_is_no_duration(value, tmp_path):
    message = refused(tmp_path, f"trainer.max_time={value}", match="trainer.max_time")
    assert "DD:HH:MM:SS" in message and "{hours:12}" in message


@pytest.mark.parametrize("value", ["00:12:00:00", "{hours:12}", "{days:1,minutes:30}", "null"])
def test_max_time_in_a_form_lightning_takes(value, tmp_path):
    accepted(tmp_path, f"trainer.max_time={value}")


# 2. seed


@pytest.mark.parametrize("value", ["-1", str(2**32), "1.5", "abc"])
def test_seed_outside_numpys_range(value, tmp_path):
    assert "4294967295" in refused(tmp_path, f"seed={value}", match="seed must be a whole number")


@pytest.mark.parametrize("value", ["0", str(2**32 - 1)])
def test_seed_at_the_ends_of_the_range(value, tmp_path):
    assert accepted(tmp_path, f"seed={value}").seed == int(value)


# 3. model sizes


@pytest.mark.parametrize(("override", "needle"), [
    ("hparams.model.hidden_size=0", "hparams.model.hidden_size must be a whole number >= 1, not 0"),
    ("hparams.model.hidden_size=-16", "hparams.model.hidden_size must be a whole number >= 1, not -16"),
    ("hparams.model.hidden_size=16.5", "hparams.model.hidden_size must be a whole number"),
    ("hparams.model.filter_size=0", "hparams.model.filter_size must be a whole number >= 1"),
    ("hparams.model.num_hidden_layers=0", "hparams.model.num_hidden_layers must be a whole number >= 1"),
    ("+hparams.model.num_encoder_layers=-1", "hparams.model.num_encoder_layers must be a whole number >= 0"),
    ("hparams.model.attention_dropout=1.5", "hparams.model.attention_dropout must be a number in [0, 1)"),
])
def test_model_sizes_must_be_positive(override, needle, tmp_path):
    assert needle in refused(tmp_path, override, match="hparams.model")


def test_a_transformer_with_its_own_encoder_and_decoder_depths_needs_no_num_hidden_layers(tmp_path):
    accepted(tmp_path, "hparams.model.num_hidden_layers=0", "+hparams.model.num_encoder_layers=1",
             "+hparams.model.num_decoder_layers=1")


def test_sizes_of_another_model(tmp_path):
    register_configs()
    with pytest.raises(T2TUserError, match="hparams.model.hidden_size must be a whole number >= 1, not 0"):
        compose_config(["problem=image_digits", "model=basic_fc_relu", "hparams=basic_fc_small",
                        "hparams.model.hidden_size=0", f"data_dir={tmp_path / 'data'}"])


# 4. trainer numbers


@pytest.mark.parametrize(("override", "needle"), [
    ("trainer.val_check_interval=0", "trainer.val_check_interval must be"),
    ("trainer.val_check_interval=1.5", "trainer.val_check_interval must be"),
    ("trainer.max_steps=-2", "trainer.max_steps must be -1 (no limit) or a whole number >= 1"),
    ("trainer.max_steps=0", "trainer.max_steps must be -1 (no limit) or a whole number >= 1"),
    ("trainer.limit_val_batches=-1", "trainer.limit_val_batches must be"),
    ("trainer.check_val_every_n_epoch=0", "trainer.check_val_every_n_epoch must be a whole number >= 1"),
    ("trainer.accumulate_grad_batches=0", "trainer.accumulate_grad_batches must be a whole number >= 1"),
])
def test_trainer_numbers_out_of_range(override, needle, tmp_path):
    assert needle in refused(tmp_path, override, match="trainer")


@pytest.mark.parametrize("override", ["trainer.max_steps=-1", "trainer.limit_val_batches=0",
                                      "trainer.val_check_interval=0.5", "trainer.check_val_every_n_epoch=2"])
def test_trainer_numbers_in_range(override, tmp_path):
    accepted(tmp_path, override)


# 5. batching


@pytest.mark.parametrize(("override", "needle"), [
    ("hparams.batching.batch_size=-5", "hparams.batching.batch_size must be a whole number >= 1, not -5"),
    ("hparams.batching.batch_size=0", "hparams.batching.batch_size must be a whole number >= 1, not 0"),
    ("hparams.batching.max_length=-1", "hparams.batching.max_length must be a whole number >= 0"),
    ("+hparams.batching.length_bucket_step=1.0", "hparams.batching.length_bucket_step must be a number > 1"),
])
def test_batching_out_of_range(override, needle, tmp_path):
    assert needle in refused(tmp_path, override, match="hparams.batching")


# 6. a run directory that cannot be created


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_run_dir_where_no_folder_can_be_made(tmp_path):
    """/proc takes no new folders, not even root's (whom os.access lets write anywhere)."""
    register_configs()
    with pytest.raises(T2TUserError, match=r"hydra.run.dir '/proc/x' cannot be created.*pass another hydra.run.dir"):
        compose_config([*settings(tmp_path), "hydra.run.dir=/proc/x"])


# 7. --cfg hydra --resolve


def test_cfg_hydra_resolve_prints_the_resolved_hydra_config(tmp_path, run_cli):  # noqa: F811
    code, out, err = run_cli(["--cfg", "hydra", "--resolve", "problem=algorithmic_identity_binary40"])
    assert code == 0, err[-2000:]
    assert out.startswith("hydra:\n") and "Traceback" not in err
    assert "dir: outputs/algorithmic_identity_binary40/transformer-transformer_tiny_algorithmic/" in out
    assert "${" not in out

    code, out, err = run_cli(["--cfg", "hydra", "--resolve", "-p", "hydra.run"])
    assert code == 0, err[-2000:]
    assert out.startswith("# @package hydra.run\ndir: outputs/algorithmic_reverse_decimal40_iid/")
    assert not (tmp_path / "outputs").exists()


# 8. an unquoted non-ASCII override


def test_unquoted_non_ascii_value(tmp_path):
    folder = tmp_path / "größe"
    message = refused(tmp_path, f"data_dir={folder}", match="quote")
    assert f"""'data_dir="{folder}"'""" in message and "LexerNoViableAltException" not in message


def test_quoted_non_ascii_value_works(tmp_path):
    folder = tmp_path / "größe"
    assert accepted(tmp_path, f'data_dir="{folder}"').data_dir == str(folder)


# 9. a full disk reached by the TensorBoard writer


def test_disk_full_in_the_tensorboard_writer_is_one_line(tmp_path, run_cli, monkeypatch):  # noqa: F811
    """The writer's thread meets ENOSPC; the main thread re-raises it on its next flush (as on a real full disk)."""
    from tensorboard.summary.writer.record_writer import RecordWriter

    def full(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(RecordWriter, "write", full)
    result = run_cli(settings(tmp_path))
    assert_one_line_error(result, "no space left on device", "free some space or pass another output_dir",
                          "checkpoints already written are kept")
    assert "Exception in thread" not in result[2]


def test_disk_full_with_a_file_name(tmp_path, monkeypatch, capsys):
    def run():
        raise OSError(errno.EDQUOT, "Disk quota exceeded", "/runs/r/csv/metrics.csv")

    with pytest.raises(SystemExit) as stop:
        report_errors("t2t-train", run)
    assert stop.value.code == 2
    assert capsys.readouterr().err == ("t2t-train: error: disk quota exceeded while writing /runs/r/csv/metrics.csv:"
                                       " free some space or pass another output_dir/hydra.run.dir; checkpoints"
                                       " already written are kept\n")


# 10. one error, many processes


def test_an_error_is_printed_by_rank_zero_only(tmp_path, run_cli, monkeypatch):  # noqa: F811
    monkeypatch.setattr(rank_zero_only, "rank", 1)
    code, out, err = run_cli(settings(tmp_path, "seed=-1"))
    assert (code, out, err) == (2, "", "")
    monkeypatch.setattr(rank_zero_only, "rank", 0)
    assert_one_line_error(run_cli(settings(tmp_path, "seed=-1")), "seed")


def test_rank_zero_only_on_an_early_failure(monkeypatch, capsys):
    monkeypatch.setattr(rank_zero_only, "rank", 3)
    monkeypatch.setattr(sys, "argv", ["t2t-eval", "mode=train"])
    GlobalHydra.instance().clear()
    with pytest.raises(SystemExit) as stop:
        eval_main()
    assert stop.value.code == 2 and capsys.readouterr().err == ""


def test_a_mapping_over_a_recipes_mapping_says_how_to_replace_it():
    """The README's manifest form on top of a recipe that sets data_files.root: Hydra merges the two mappings."""
    from t2t_torch.run.config_store import register_configs

    register_configs()  # the problem options, as the CLI registers them before composing
    overrides = ["experiment=speech_synthetic_tiny", "problem.data_files={train: a.tsv, dev: b.tsv}"]
    with pytest.raises(T2TUserError) as error:
        compose_config(overrides)
    message = str(error.value)
    assert "problem.data_files already holds a mapping without 'train'" in message and "\n" not in message
    assert "Did you mean: problem.data_files" not in message
    replaced = compose_config(["experiment=speech_synthetic_tiny", "problem.data_files=null", overrides[1]])
    assert dict(replaced.problem.data_files) == {"train": "a.tsv", "dev": "b.tsv"}  # the form the message names


def test_a_token_batch_smaller_than_the_longest_kept_example_is_one_line(tmp_path):
    """Token batching would silently make one-example batches over the budget: refused once the lengths are known."""
    from t2t_torch.run.train import train
    from tests.fixtures.helpers import compose

    with pytest.raises(T2TUserError) as error:  # the tiny problem's examples are 8 ids + EOS
        train(compose(tiny(["hparams.batching.batch_size=6", "hparams.batching.max_length=20"]), tmp_path))
    message = str(error.value)
    assert "batch_size=6 tokens is less than the longest training example" in message and "(9 tokens" in message
    assert "pass batch_size>=9 or max_length<=6" in message and "\n" not in message
