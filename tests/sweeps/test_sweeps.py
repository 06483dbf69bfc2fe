"""Optuna sweeps (`hparams_search=...`, the `t2t_optuna` sweeper) through the real command line, on a tiny problem.

- a 3-trial sweep with a failed trial, one that fails on bad input and one stopped before its final evaluation ends
  with one line; rerun, the stopped trial runs again in place (from its checkpoint), the failed one is retried with
  the same parameters, the bad-input one is not, completed trials are not run again; results.csv/.md report every
  trial and best.yaml trains as it is;
- bad input (unknown key, low >= high, a log range over 0, an objective no run logs) is one line and exit status 2
  before any trial directory exists.

Faults are injected by a `usr_dir` whose `__init__.py` wraps `t2t_torch.run.train.train`
(SWEEP_TEST_FAULTS=<call>:<error|input|stopped>,...: the n-th train() call of the sweep process raises a bug, raises
a T2TUserError, or trains and then returns no metrics).
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import get_class
from optuna.distributions import FloatDistribution, IntDistribution

from t2t_torch.cli.train import main as train_main
from t2t_torch.errors import T2TUserError
from t2t_torch.registry import PACKAGE_CONF_DIR
from t2t_torch.run.config_store import register_configs
from t2t_torch.sweeps.plan import SWEEPER_TARGET, SweepPlan, objective_value
from t2t_torch.sweeps.search_space import parse_range, parse_search_space, split_command_line
from t2t_torch.sweeps.study import default_storage, distributions, open_study, sweep_lock
from tests.fixtures.helpers import TINY_PROBLEM

REPO = Path(__file__).resolve().parents[2]
TINY = [
    *TINY_PROBLEM, "hparams=transformer_tiny", "hparams.model.hidden_size=16", "hparams.model.filter_size=32",
    "hparams.model.num_heads=2", "trainer.max_steps=3", "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
]
FAULTS = '''
import os
import t2t_torch.run.train
from t2t_torch.errors import StoppedBySignal, T2TUserError

_train = t2t_torch.run.train.train
_calls = []


def train(cfg):
    _calls.append(cfg.output_dir)
    faults = dict(f.split(":") for f in os.environ.get("SWEEP_TEST_FAULTS", "").split(",") if f)
    fault = faults.get(str(len(_calls)))
    if fault == "error":
        raise RuntimeError("injected failure")
    if fault == "input":
        raise T2TUserError("injected bad input")
    metrics = _train(cfg)
    if fault == "stopped":  # trained, then stopped before the final evaluation, as after SIGTERM
        raise StoppedBySignal(3, cfg.output_dir + "/checkpoints/last.ckpt")
    return metrics


t2t_torch.run.train.train = train
'''
BAD_SEARCHES = {
    "bad_key": "hparams.optim.learning_rat: {type: float, low: 0.1, high: 1.0}",
    "bad_range": "hparams.optim.learning_rate_constant: {type: float, low: 3.0, high: 0.3}",
    "bad_log": "hparams.optim.weight_decay: {type: float, low: 0.0, high: 1.0e-4, log: true}",
}


def write_usr_dir(root: Path, init: str = "") -> Path:
    (root / "conf" / "hparams_search").mkdir(parents=True)
    (root / "__init__.py").write_text(init)
    for name, param in BAD_SEARCHES.items():
        (root / "conf" / "hparams_search" / f"{name}.yaml").write_text(
            "# @package _global_\ndefaults:\n  - algorithmic_tiny_range\n  - _self_\n"
            f"hydra:\n  sweeper:\n    params:\n      {param}\n")
    return root


def run_train(args: list[str], cwd: Path, faults: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "SWEEP_TEST_FAULTS": faults}
    return subprocess.run([sys.executable, str(REPO / "train.py"), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def read_rows(sweep: Path) -> list[dict[str, str]]:
    with open(sweep / "results.csv") as handle:
        return list(csv.DictReader(handle))


def test_sweep_resumes_after_interruptions_and_reports_the_best_trial(tmp_path: Path) -> None:
    usr_dir = write_usr_dir(tmp_path / "sweep_faults", FAULTS)
    sweep = tmp_path / "sweep"
    args = [f"usr_dir={usr_dir}", "hparams_search=algorithmic_tiny_range", *TINY, f"data_dir={tmp_path / 'data'}",
            f"hydra.sweep.dir={sweep}"]

    # 1. trial 1 fails, trial 2 fails on bad input (two failures tolerated), trial 3 stops before its final
    #    evaluation (as after SIGTERM): the sweep ends with one line; trial 3 stays RUNNING, to be resumed.
    first = run_train([*args, "hydra.sweeper.n_trials=3", "hydra.sweeper.max_failures=2"], tmp_path,
                      faults="2:error,3:input,4:stopped")
    assert first.returncode == 2, first.stderr[-3000:]
    assert first.stderr.strip().splitlines()[-1].startswith("t2t-train: error: trial(s) [3] stopped before")
    rows = read_rows(sweep)
    assert [(r["trial"], r["state"], r["error"]) for r in rows] == [
        ("0", "COMPLETE", ""), ("1", "FAIL", "RuntimeError: injected failure"), ("2", "FAIL", "injected bad input"),
        ("3", "RUNNING", "")]
    kept = (sweep / "trial_0" / "checkpoints" / "last.ckpt").stat().st_mtime_ns

    # 2. the same command: trial 3 runs again in place from its checkpoint, trial 1 is retried with its parameters
    #    as trial 4, trial 2 (bad input) is not retried, trial 0 is not run again.
    second = run_train([*args, "hydra.sweeper.n_trials=3", "hydra.sweeper.max_failures=2"], tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "Resuming from" in (sweep / "trial_3" / "cli.log").read_text()
    rows = read_rows(sweep)
    assert [(r["trial"], r["state"], r["retry_of"]) for r in rows] == [
        ("0", "COMPLETE", ""), ("1", "FAIL", ""), ("2", "FAIL", ""), ("3", "COMPLETE", ""), ("4", "COMPLETE", "1")]
    searched = [k for k in rows[0] if k.startswith("hparams.")]
    assert len(searched) == 4 and all(rows[4][k] == rows[1][k] for k in searched)
    assert (sweep / "trial_0" / "checkpoints" / "last.ckpt").stat().st_mtime_ns == kept
    objective = "eval/neg_log_perplexity"
    best = max((r for r in rows if r["state"] == "COMPLETE"), key=lambda r: float(r[objective]))
    assert f"| {best['trial']}* | COMPLETE |" in (sweep / "results.md").read_text()
    best_yaml = (sweep / "best.yaml").read_text()
    assert f"trial_{best['trial']}" in best_yaml.splitlines()[0]

    # 3. best.yaml is a ready-to-run config.
    rerun = run_train(["--config-dir", str(sweep), "--config-name", "best", f"usr_dir={usr_dir}"], tmp_path)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert (sweep / "best_run" / "checkpoints" / "last.ckpt").is_file()


@pytest.mark.parametrize(
    ("search", "extra", "message"),
    [
        ("bad_key", [], "unknown hparams key 'hparams.optim.learning_rat' in the search space. Did you mean:"),
        ("bad_range", [], "learning_rate_constant: low (3.0) must be below high (0.3)"),
        ("bad_log", [], "weight_decay: a log range needs low > 0"),
        ("algorithmic_tiny_range", ["objective=eval/acuracy"],
         "objective 'eval/acuracy' is not a metric this run logs. Did you mean: eval/accuracy"),
        ("algorithmic_tiny_range", ["objective=eval/bleu"], "add decode_eval.every=1"),
        ("algorithmic_tiny_range", ["objective=eval/loss"], "set hydra.sweeper.direction=minimize"),
    ],
)
def test_bad_search_is_one_line_before_any_trial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str], search: str, extra: list[str],
                                                 message: str) -> None:
    usr_dir = write_usr_dir(tmp_path / f"sweep_{search}")
    sweep = tmp_path / "sweep"
    argv = ["train.py", f"usr_dir={usr_dir}", f"hparams_search={search}", *TINY, f"data_dir={tmp_path / 'data'}",
            f"hydra.sweep.dir={sweep}", *extra]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exited:
        train_main()
    assert exited.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("t2t-train: error: ") and message in lines[0], lines
    assert not sweep.exists()


def test_objective_value_names_the_metrics_a_run_logged() -> None:
    assert objective_value({"eval/loss": 1.5}, "eval/loss") == 1.5
    assert objective_value({}, "eval/loss") is None  # stopped before the final evaluation
    with pytest.raises(T2TUserError, match=r"'eval/bleu' is not among this run's final metrics \(eval/loss\)"):
        objective_value({"eval/loss": 1.5}, "eval/bleu")


def test_sweeper_target_names_the_plugin_class() -> None:
    from hydra_plugins.t2t_optuna_sweeper.t2t_optuna_sweeper import T2TOptunaSweeper, T2TOptunaSweeperConf

    assert f"{T2TOptunaSweeper.__module__}.{T2TOptunaSweeper.__name__}" == SWEEPER_TARGET
    assert T2TOptunaSweeperConf._target_ == SWEEPER_TARGET


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "float", "lo": 0.1, "high": 1.0}, "unknown field 'lo'. Did you mean: low, log?"),
        ({"type": "floot", "low": 0.1, "high": 1.0}, "unknown type 'floot'. Did you mean: float?"),
        ({"type": "float", "low": 0.1, "high": 1.0, "log": True, "step": 0.1}, "'step' and 'log: true' cannot"),
        ({"type": "int", "low": 1.5, "high": 4}, "an int range needs whole-number bounds"),
        ({"type": "int", "low": 1, "high": 4, "step": 2}, "must be a multiple of step (2)"),
        ({"type": "categorical", "choices": []}, "'choices' must be a non-empty list"),
        ({"type": "float", "low": 1.0, "high": 1.0}, "low (1.0) must be below high (1.0)"),
    ],
)
def test_malformed_ranges_are_one_line(spec: dict, message: str) -> None:
    with pytest.raises(T2TUserError) as error:
        parse_range("hparams.optim.x", spec)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_ranges_and_command_line_sweeps_become_optuna_distributions() -> None:
    space = parse_search_space({
        "hparams.optim.learning_rate_constant": {"low": 0.3, "high": 3.0, "log": True},
        "hparams.model.num_hidden_layers": {"type": "int", "low": 1, "high": 5, "step": 2},
        "hparams.optim.learning_rate_schedule": {"choices": ["constant*linear_warmup", "legacy"]},
    })
    fixed, sweeps = split_command_line(["trainer.max_steps=3", "hparams=transformer_tiny,transformer_small"])
    assert fixed == ["trainer.max_steps=3"] and sweeps["hparams"].choices == ("transformer_tiny", "transformer_small")
    dists = distributions({**space, **sweeps})
    assert dists["hparams.optim.learning_rate_constant"] == FloatDistribution(0.3, 3.0, log=True)
    assert dists["hparams.model.num_hidden_layers"] == IntDistribution(1, 5, step=2)
    assert space["hparams.optim.learning_rate_schedule"].override("constant*linear_warmup") == \
        "++hparams.optim.learning_rate_schedule='constant*linear_warmup'"
    assert sweeps["hparams"].override("transformer_small") == "hparams=transformer_small"


def test_rerunning_a_study_with_other_settings_is_refused(tmp_path: Path) -> None:
    space = parse_search_space({"hparams.optim.weight_decay": {"low": 0.0, "high": 1e-4}})
    plan = SweepPlan("search", "eval/loss", "minimize", space, ("trainer.max_steps=3",))
    storage = default_storage(tmp_path)
    open_study(plan, storage, "tpe", 0)
    open_study(plan, storage, "random", 1)  # the sampler may change
    other = SweepPlan("search", "eval/loss", "minimize", space, ("trainer.max_steps=4",))
    with pytest.raises(T2TUserError, match=r"was run with another command line .*hydra.sweep.dir=<new dir>"):
        open_study(other, storage, "tpe", 0)
    with sweep_lock(tmp_path), pytest.raises(T2TUserError, match="another sweep .* is running in"):
        with sweep_lock(tmp_path):
            pass


@pytest.mark.parametrize(("launcher", "key", "value"), [("local_parallel", "n_jobs", 3),
                                                        ("slurm", "array_parallelism", 3)])
def test_launcher_configs_follow_the_sweeper(launcher: str, key: str, value: int) -> None:
    register_configs()
    with initialize_config_dir(str(PACKAGE_CONF_DIR), version_base="1.3"):
        cfg = compose("train", [*TINY_PROBLEM, "hparams_search=transformer_base_range", f"hydra/launcher={launcher}",
                                "hydra.sweeper.n_jobs=3"], return_hydra_config=True)
    assert cfg.hydra.launcher[key] == value
    assert get_class(cfg.hydra.launcher._target_).__name__ in ("JoblibLauncher", "SlurmLauncher")
    if launcher == "slurm":
        folder = cfg.hydra.launcher.submitit_folder  # each search keeps its own sweep dir
        assert folder.startswith("multirun/transformer_base_range/algorithmic_identity_binary40/transformer-")
        assert folder.endswith("/.submitit/%j")


@pytest.mark.parametrize("search", sorted(p.stem for p in (PACKAGE_CONF_DIR / "hparams_search").glob("*.yaml")))
def test_every_shipped_search_passes_its_pre_flight(search: str) -> None:
    """Each conf/hparams_search/ YAML (ranges, objective, direction, trial counts) is checked by make_plan, which
    the generic compose test cannot do: it drops the hydra node where a search keeps those settings."""
    from t2t_torch.sweeps.plan import check_sweep_command

    register_configs()
    check_sweep_command([f"hparams_search={search}"])  # raises T2TUserError on a bad key, range or objective
    with pytest.raises(T2TUserError, match="direction must be maximize or minimize"):  # the check is live
        check_sweep_command([f"hparams_search={search}", "hydra.sweeper.direction=sideways"])
