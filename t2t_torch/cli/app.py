"""The one runner of the Hydra console scripts (`t2t-train`, `t2t-eval`, `t2t-datagen`, `t2t-inspect`, `t2t-decode`):
`run_app(program, config_name, task)`.

Before Hydra starts, it imports `usr_dir=...` (its registrations and its `conf/`), publishes every registered problem
as a `problem=` option, and composes the config once so that a bad name or override ends in one line naming the fix
(exit status 2) rather than a traceback. Errors the user can fix (`T2TUserError`) raised while running are reported
the same way, and so is a full disk (or quota), wherever the write was (a checkpoint, TensorBoard's writer thread).
With many processes (DDP), only global rank 0 prints the line; every process exits with status 2. A run stopped by
SIGTERM or SIGINT (its last.ckpt saved) exits with status 143 or 130. `--cfg hydra --resolve` is printed here:
Hydra's own cannot resolve a run directory named after the job's config.

The command line is `sys.argv`, because Hydra reads it there and Lightning's DDP launcher starts the other ranks by
rerunning it: an override the runner adds (`hydra.searchpath` for a usr_dir's `conf/`) is inserted into `sys.argv`
so that every rank sees the same command. Every message names the program it is given; nothing here is a module
global that a call changes.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import hydra
from omegaconf import DictConfig

from t2t_torch.errors import StoppedBySignal, T2TUserError

CONFIG_PATH = "pkg://t2t_torch.conf"  # the top-level conf/ folder, packaged as t2t_torch.conf (setup.py)

# Hydra's own flags that show something instead of running: no preflight compose for them.
NO_PREFLIGHT_FLAGS = {"-h", "--help", "--hydra-help", "--info", "-i", "--cfg", "-c", "--shell-completion", "-sc",
                      "--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd", "--resolve", "-p",
                      "--package"}

DISK_FULL = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded"}
DATA_PROGRAMS = ("t2t-datagen", "t2t-inspect")  # they write data, not checkpoints

def run_app(program: str, config_name: str, task: Callable[[DictConfig], Any], job_name: str = "cli") -> None:
    """Run `task` on the config `config_name` composed from the command line, as the console script `program`:
    the preflight checks, then Hydra (a run, a multirun, or what Hydra's flags show), with errors reported in one
    line under `program` (see the module docstring). `job_name` is Hydra's job name, which names the job's log file
    (`<job_name>.log` in the run directory)."""
    search_path = preflight(sys.argv[1:], program, config_name, job_name)
    if search_path:  # next to the usr_dir= override: argparse refuses overrides after --config-name etc.
        at = next(i for i, a in enumerate(sys.argv) if a.startswith("usr_dir=")) + 1
        sys.argv.insert(at, f"hydra.searchpath=[{','.join(f'file://{p}' for p in search_path)}]")
    with job_logging(), disk_full_in_threads(program):
        hydra_app(program, config_name, task, job_name)()


def hydra_app(program: str, config_name: str, task: Callable[[DictConfig], Any], job_name: str) -> Callable[[], Any]:
    """`task` as a Hydra app that reports its errors under `program` (`report_errors`), except in a trial of the
    Optuna sweeper, which records a T2TUserError as the trial's failure and goes on or stops."""

    def job(cfg: DictConfig) -> Any:
        from t2t_torch.sweeps.plan import in_optuna_trial

        if in_optuna_trial():
            return task(cfg)
        return report_errors(program, lambda: task(cfg))

    job.__module__ = job_name  # Hydra names the job after the module of its task function
    return hydra.main(config_path=CONFIG_PATH, config_name=config_name, version_base="1.3")(job)


def fail(error: T2TUserError, program: str) -> NoReturn:
    """Print `error` as one line, on global rank 0 only (one line, not one per process), and exit with status 2 on
    every rank. Lightning computes the rank from the launcher's environment (torchrun, SLURM, its own launcher)."""
    from lightning.pytorch.utilities.rank_zero import rank_zero_only

    if getattr(rank_zero_only, "rank", 0) == 0:
        print(f"{program}: error: {error}", file=sys.stderr)
    sys.exit(2)


def report_errors(program: str, run: Callable[[], Any]) -> Any:
    """`run()`, with a T2TUserError or a full disk reported in one line (exit status 2) and a run stopped by a
    signal in one line with the signal's exit status (143 after SIGTERM, 130 after SIGINT)."""
    try:
        return run()
    except T2TUserError as error:
        fail(error, program)
    except StoppedBySignal as stopped:
        print(f"{program}: {stopped}", file=sys.stderr)
        sys.exit(stopped.exit_status)
    except Exception as error:
        full = disk_full(error)
        if full is None:
            raise
        fail(T2TUserError(disk_full_message(full, program)), program)


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
    if program in DATA_PROGRAMS:
        fix = "free some space or pass another data_dir; the data already prepared is kept"
    else:
        fix = "free some space or pass another output_dir/hydra.run.dir; checkpoints already written are kept"
    return f"{DISK_FULL[error.errno]}{where}: {fix}"


@contextlib.contextmanager
def disk_full_in_threads(program: str) -> Iterator[None]:
    """A thread that meets a full disk (TensorBoard's event writer) would print its traceback before the main thread
    re-raises the same error on its next write and `report_errors` reports it in one line: that traceback is held
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
        fail(T2TUserError(disk_full_message(held[0], program)), program)


def preflight(argv: list[str], program: str, config_name: str, job_name: str = "cli") -> list[Path]:
    """Import each `usr_dir=`, register the problem options, print `--cfg hydra --resolve` (and exit), and compose
    and check the config (and a sweep's plan) once: a bad command line is one line naming the fix (`fail`). Returns
    the usr_dirs' `conf/` folders, for Hydra's search path."""
    import t2t_torch  # noqa: F401  (registers the built-ins)
    from t2t_torch.run.config_check import compose_config
    from t2t_torch.run.config_store import register_configs
    from t2t_torch.usr_dir import import_usr_dir, usr_conf_dir

    search_path: list[Path] = []
    try:
        for arg in argv:
            if arg.startswith("usr_dir="):
                value = arg.split("=", 1)[1]
                import_usr_dir(value)
                if (conf := usr_conf_dir(value)) is not None:
                    search_path.append(conf)
        register_configs(conf_dirs=search_path)
        if "--resolve" in argv and print_resolved_hydra_config(argv, config_name, search_path, job_name):
            sys.exit(0)
        if not NO_PREFLIGHT_FLAGS.intersection(a.split("=", 1)[0] for a in argv):
            overrides = [a for a in argv if not a.startswith("-")]
            compose_config(overrides, config_name, search_path, multirun=is_sweep(argv))
            if config_name == "train" and is_sweep(argv):
                from t2t_torch.sweeps.plan import check_sweep_command

                check_sweep_command(overrides, config_name, search_path)
    except T2TUserError as error:
        fail(error, program)
    return search_path


def print_resolved_hydra_config(argv: list[str], config_name: str, search_path: list[Path], job_name: str) -> bool:
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
                                           args.package, job_name=job_name))
    return True


def is_sweep(argv: list[str]) -> bool:
    """A multirun (`-m`), or a search picked with `hparams_search=` (its config sets hydra.mode=MULTIRUN)."""
    return any(a in ("-m", "--multirun") or a.lstrip("+").startswith("hparams_search=") for a in argv)


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
