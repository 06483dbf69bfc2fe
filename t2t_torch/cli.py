"""Command-line entry points: `train.py` / `t2t-train`, `t2t-eval`, `t2t-datagen` and `t2t-inspect` (T2T's
t2t-trainer, t2t-eval and t2t-datagen; `t2t-inspect` shows a problem's data, run/data_report.py).
`t2t-eval <the training command>` is `t2t-train <the training command> mode=eval`: it evaluates the run's last.ckpt
(or `ckpt_path=`) on `eval_split` without training.

Before Hydra starts, the entry point imports `usr_dir=...` (its registrations and its `conf/`), publishes every
registered problem as a `problem=` option, and composes the config once so that a bad name or override ends in
one line naming the fix (exit status 2) rather than a traceback. Errors the user can fix (`T2TUserError`) raised
while running are reported the same way, and so is a full disk (or quota), wherever the write was (a checkpoint,
TensorBoard's writer thread). With many processes (DDP), only global rank 0 prints the line; every process exits
with status 2. A run stopped by SIGTERM or SIGINT (its last.ckpt saved) exits with status 143 or 130.
`--cfg hydra --resolve` is printed here: Hydra's own cannot resolve a run directory named after the job's config.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from t2t_torch.errors import StoppedBySignal, T2TUserError

_NO_PREFLIGHT_FLAGS = {"-h", "--help", "--hydra-help", "--info", "-i", "--cfg", "-c", "--shell-completion", "-sc",
                       "--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd", "--resolve", "-p",
                       "--package"}

log = logging.getLogger(__name__)


DISK_FULL = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded"}


def _fail(error: T2TUserError, program: str) -> None:
    """Print `error` as one line, on global rank 0 only (one line, not one per process), and exit with status 2 on
    every rank. Lightning computes the rank from the launcher's environment (torchrun, SLURM, its own launcher)."""
    from lightning.pytorch.utilities.rank_zero import rank_zero_only

    if getattr(rank_zero_only, "rank", 0) == 0:
        print(f"{program}: error: {error}", file=sys.stderr)
    sys.exit(2)


def disk_full(error: BaseException | None) -> OSError | None:
    """The OSError of a full disk or quota that `error` is, or was raised from or while handling; else None."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, OSError) and error.errno in DISK_FULL:
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def disk_full_message(error: OSError, program: str) -> str:
    """The one line for a full disk: what filled up, the file if the error names it, and what to do."""
    where = f" while writing {error.filename}" if error.filename else ""
    if program in ("t2t-datagen", "t2t-inspect"):
        fix = "free some space or pass another data_dir; the data already prepared is kept"
    else:
        fix = "free some space or pass another output_dir/hydra.run.dir; checkpoints already written are kept"
    return f"{DISK_FULL[error.errno]}{where}: {fix}"


@contextlib.contextmanager
def disk_full_in_threads(program: str) -> Iterator[None]:
    """A thread that meets a full disk (TensorBoard's event writer) would print its traceback before the main thread
    re-raises the same error on its next write and `_report_errors` reports it in one line: that traceback is held
    back. Should the main thread finish without meeting it, the held error is reported at the end, never lost."""
    held: list[OSError] = []
    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        full = disk_full(args.exc_value)
        if full is None:
            previous(args)
        else:
            held.append(full)

    threading.excepthook = hook
    try:
        yield
    finally:
        threading.excepthook = previous
    if held:
        _fail(T2TUserError(disk_full_message(held[0], program)), program)


def _preflight(config_name: str, program: str) -> None:
    """usr_dir import, problem options, and a one-line error for a bad command line (see module docstring)."""
    import t2t_torch  # noqa: F401  (registers the built-ins)
    from t2t_torch.run.config_check import compose_config
    from t2t_torch.run.config_store import register_configs
    from t2t_torch.usr_dir import import_usr_dir, usr_conf_dir

    argv = sys.argv[1:]
    search_path: list[Path] = []
    try:
        for arg in argv:
            if arg.startswith("usr_dir="):
                value = arg.split("=", 1)[1]
                import_usr_dir(value)
                if (conf := usr_conf_dir(value)) is not None:
                    search_path.append(conf)
        register_configs()
        if "--resolve" in argv and _print_resolved_hydra_config(argv, config_name, search_path):
            sys.exit(0)
        if search_path:  # next to the usr_dir= override: argparse refuses overrides after --config-name etc.
            at = next(i for i, a in enumerate(sys.argv) if a.startswith("usr_dir=")) + 1
            sys.argv.insert(at, f"hydra.searchpath=[{','.join(f'file://{p}' for p in search_path)}]")
        if not _NO_PREFLIGHT_FLAGS.intersection(a.split("=", 1)[0] for a in argv):
            overrides = [a for a in argv if not a.startswith("-")]
            compose_config(overrides, config_name, search_path, multirun=_is_sweep(argv))
            if config_name == "train" and _is_sweep(argv):
                from t2t_torch.sweeps.plan import check_sweep_command

                check_sweep_command(overrides, config_name, search_path)
    except T2TUserError as error:
        _fail(error, program)


def _print_resolved_hydra_config(argv: list[str], config_name: str, search_path: list[Path]) -> bool:
    """For `--cfg hydra --resolve [-p package]`, print the resolved hydra config (config_check.resolved_hydra_config)
    and return True; False for any other command line."""
    from hydra._internal.utils import get_args_parser

    from t2t_torch.run.config_check import resolved_hydra_config

    args = get_args_parser().parse_args(argv)  # Hydra's own command-line parser
    if args.cfg != "hydra" or not args.resolve:
        return False
    if args.config_path or args.config_dir:
        raise T2TUserError("--cfg hydra --resolve shows this program's own config: leave out --config-path and"
                           " --config-dir, or leave out --resolve")
    sys.stdout.write(resolved_hydra_config(args.overrides, args.config_name or config_name, search_path,
                                           args.package))
    return True


def _is_sweep(argv: list[str]) -> bool:
    """A multirun (`-m`), or a search picked with `hparams_search=` (its config sets hydra.mode=MULTIRUN)."""
    return any(a in ("-m", "--multirun") or a.lstrip("+").startswith("hparams_search=") for a in argv)


def _report_errors(program: str, run: Callable[[], Any]) -> Any:
    try:
        return run()
    except T2TUserError as error:
        _fail(error, program)
    except StoppedBySignal as stopped:
        print(f"{program}: {stopped}", file=sys.stderr)
        sys.exit(stopped.exit_status)  # 143 after SIGTERM, 130 after SIGINT
    except Exception as error:
        full = disk_full(error)
        if full is None:
            raise
        _fail(T2TUserError(disk_full_message(full, program)), program)


@hydra.main(config_path="pkg://t2t_torch.conf", config_name="train", version_base="1.3")
def _train_task(cfg: DictConfig) -> Any:
    from t2t_torch.run.evaluate import evaluate
    from t2t_torch.run.train import train

    def run() -> Any:
        if cfg.get("mode", "train") == "eval":
            return evaluate(cfg)
        try:
            metrics = train(cfg)
        except StoppedBySignal:
            if in_optuna_trial():
                return None  # the sweeper records the trial as stopped; a rerun resumes it in place
            raise
        objective = cfg.get("objective")
        if not objective:
            return metrics
        from t2t_torch.sweeps.plan import objective_value

        return objective_value(metrics, objective)  # None: stopped early; a missing metric is a one-line error

    from t2t_torch.sweeps.plan import in_optuna_trial

    if in_optuna_trial():
        return run()  # the sweeper records a T2TUserError as this trial's failure and goes on or stops
    return _report_errors(_program, run)


@hydra.main(config_path="pkg://t2t_torch.conf", config_name="datagen", version_base="1.3")
def _datagen_task(cfg: DictConfig) -> None:
    from t2t_torch.run.train import build_problem

    def run() -> None:
        problem = build_problem(cfg)
        problem.generate_data(Path(cfg.data_dir).expanduser())
        print(f"Prepared {problem.name} in {Path(cfg.data_dir).expanduser()}")

    _report_errors("t2t-datagen", run)


@hydra.main(config_path="pkg://t2t_torch.conf", config_name="inspect", version_base="1.3")
def _inspect_task(cfg: DictConfig) -> None:
    from t2t_torch.run.data_report import inspect_split
    from t2t_torch.run.train import build_problem

    def run() -> None:
        options = cfg.get("inspect") or {}
        inspect_split(build_problem(cfg), cfg.data_dir, str(options.get("split", "train")),
                      int(options.get("num_examples", 5)), options.get("plot"))

    _report_errors("t2t-inspect", run)


@contextlib.contextmanager
def job_logging() -> Iterator[None]:
    """Hydra configures logging for each job (handlers bound to the streams of that moment, and a log file in the run
    directory) and never removes them; here they live as long as the job. Afterwards every logger that existed
    before gets back the handlers, level and flags it had, and the handlers the job added to it are closed. This
    matters when an entry point runs in-process (tests, notebooks): a handler bound to a stream that is closed later
    (a test's captured stdout) would fail on every later log call ('I/O operation on closed file')."""
    manager = logging.Logger.manager
    loggers = [logging.getLogger(), *(lg for lg in manager.loggerDict.values() if isinstance(lg, logging.Logger))]
    before = {id(lg): (lg.handlers[:], lg.level, lg.propagate, lg.disabled) for lg in loggers}
    try:
        yield
    finally:
        for lg in loggers:
            handlers, level, propagate, disabled = before[id(lg)]
            for handler in lg.handlers:
                if handler not in handlers:
                    handler.close()
            lg.handlers[:] = handlers
            lg.setLevel(level)
            lg.propagate, lg.disabled = propagate, disabled


_program = "t2t-train"  # the name errors of the train task are reported under


def train_main() -> None:
    _preflight("train", "t2t-train")
    with job_logging(), disk_full_in_threads("t2t-train"):
        _train_task()


def inspect_main() -> None:
    _preflight("inspect", "t2t-inspect")
    with job_logging(), disk_full_in_threads("t2t-inspect"):
        _inspect_task()


def eval_main() -> None:
    """`t2t-eval`: the training command with `mode=eval` (T2T's t2t-eval); another `mode=` is a one-line error."""
    global _program
    modes = [a.split("=", 1)[1] for a in sys.argv[1:] if a.split("=", 1)[0] == "mode"]
    other = [mode for mode in modes if mode != "eval"]
    if other:
        _fail(T2TUserError(f"t2t-eval evaluates a checkpoint; mode={other[0]} trains: use t2t-train for that, or"
                           " leave mode= out"), "t2t-eval")
    if not modes:
        sys.argv.insert(1, "mode=eval")
    _program = "t2t-eval"
    try:
        _preflight("train", "t2t-eval")
        with job_logging(), disk_full_in_threads("t2t-eval"):
            _train_task()
    finally:
        _program = "t2t-train"


def datagen_main() -> None:
    _preflight("datagen", "t2t-datagen")
    with job_logging(), disk_full_in_threads("t2t-datagen"):
        _datagen_task()


def registry_main(argv: list[str] | None = None) -> int:
    """`t2t-registry [usr_dir=PATH]`: print every registered problem, model and hparams set."""
    import t2t_torch  # noqa: F401  (registers the built-ins)
    from t2t_torch import registry
    from t2t_torch.usr_dir import import_usr_dir

    try:
        for arg in sys.argv[1:] if argv is None else argv:
            if arg.startswith("usr_dir="):
                import_usr_dir(arg.split("=", 1)[1])
    except T2TUserError as error:
        print(f"t2t-registry: error: {error}", file=sys.stderr)
        return 2
    print(registry.registry_table())
    return 0
