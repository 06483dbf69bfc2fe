"""`t2t-regress` / `scripts/regress.py`: run known-result recipes and check each final metric against its band.

T2T's README listed commands with the numbers they reach; this makes those numbers checked facts. Every recipe
(`conf/experiment/<name>.yaml` with a band in `conf/known_results.yaml`, see `t2t_torch.regress.recipes`) runs
through the real training entry point, one subprocess per seed,

    t2t-train experiment=<name> seed=<s> hydra.run.dir=<report dir>/<name>/seed<s> [overrides]

then its final metric (the last value in the run's metrics.csv) is compared to the band, and the report dir gets
report.md, report.csv and one learning-curve PNG per recipe (`t2t_torch.regress.report`). Exit status: 0 when every
run recipe is inside its band, 1 when one is not (or its run failed), 2 for a usage error.

    t2t-regress --list
    t2t-regress algorithmic_sort_problem --seeds 1,2,3
    t2t-regress --all-cpu --report-dir outputs/regress/today data_dir=~/t2t_data
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from omegaconf import OmegaConf

from t2t_torch.errors import StoppedBySignal, T2TUserError
from t2t_torch.regress.recipes import Recipe, all_recipes, cpu_recipes, find_recipe
from t2t_torch.regress.report import check_plotting, format_value, metric_series, read_metrics, write_report
from t2t_torch.regress.result import RecipeResult, SeedResult

PROGRAM = "t2t-regress"


def train_command() -> list[str]:
    """The real training entry point: the installed t2t-train script."""
    script = shutil.which("t2t-train") or str(Path(sys.executable).with_name("t2t-train"))
    return [script]


def final_value(rows: list[dict[str, str]], metric: str) -> tuple[float | None, int | None]:
    """The last logged value of `metric` and its step, or (None, None)."""
    series = metric_series(rows, metric)
    return (series[-1][1], series[-1][0]) if series else (None, None)


@dataclass(frozen=True)
class RunOptions:
    """What every run of one invocation shares: the report dir, extra overrides, usr_dir, threads and jobs."""

    report_dir: Path
    overrides: tuple[str, ...] = ()
    usr_dir: str | None = None
    threads: int | None = None  # OMP_NUM_THREADS for the training process (None: torch's default)
    jobs: int = 1               # training processes at a time

    def environment(self) -> dict[str, str] | None:
        return None if self.threads is None else {**os.environ, "OMP_NUM_THREADS": str(self.threads)}


def run_seed(recipe: Recipe, seed: int, options: RunOptions) -> SeedResult:
    """Train `recipe` with `seed` in <report_dir>/<name>/seed<seed> (output in seed<seed>.log beside it)."""
    run_dir = (options.report_dir / recipe.name / f"seed{seed}").resolve()
    log_path = run_dir.with_suffix(".log")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    usr_dir = [f"usr_dir={options.usr_dir}"] if options.usr_dir else []
    command = [*train_command(), *usr_dir, f"experiment={recipe.name}", f"seed={seed}", f"hydra.run.dir={run_dir}",
               "trainer.enable_progress_bar=false", *options.overrides]
    started = time.monotonic()
    with log_path.open("w") as log:
        log.write(" ".join(command) + "\n")
        log.flush()
        returncode = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=options.environment(),
                                    check=False).returncode
    wall_s = time.monotonic() - started
    rows = read_metrics(run_dir)
    value, step = final_value(rows, recipe.expected.metric)
    error = ""
    if returncode in StoppedBySignal.EXIT_STATUSES.values():
        signal_name = next(k for k, v in StoppedBySignal.EXIT_STATUSES.items() if v == returncode)
        error = f"training was stopped by {signal_name} (exit status {returncode}): rerun with --resume to finish it"
        value = None
    elif returncode != 0:
        error = f"training exited with status {returncode}: {last_line(log_path)} (log: {log_path})"
    elif value is None:
        error = f"the run logged no {recipe.expected.metric} (log: {log_path})"
    elif (stopped := unfinished(run_dir, rows)) is not None:
        error = (f"training stopped at step {stopped[0]} of {stopped[1]} (trainer.max_time or early stopping): a"
                 " band needs the whole budget")
        value = None  # a value from the middle of training says nothing about the recipe
    return SeedResult(seed=seed, value=value, wall_s=wall_s, steps=step, run_dir=run_dir, error=error)


def unfinished(run_dir: Path, rows: list[dict[str, str]]) -> tuple[int, int] | None:
    """(last step trained, trainer.max_steps) when the run stopped before max_steps without saying so (a
    `trainer.max_time` budget, early stopping), else None."""
    config = run_dir / "config.yaml"
    if not config.is_file():
        return None
    max_steps = int(OmegaConf.load(config).trainer.get("max_steps") or -1)
    trained = max((int(float(row["step"])) + 1 for row in rows if row.get("step")), default=0)
    return (trained, max_steps) if 0 < max_steps and trained < max_steps else None


def last_line(path: Path) -> str:
    lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def select_recipes(names: list[str], all_cpu: bool) -> list[Recipe]:
    """The recipes named (each must exist and have a known result), plus every CPU-scale one with --all-cpu."""
    if not names and not all_cpu:
        raise T2TUserError("name one or more recipes, or pass --all-cpu (t2t-regress --list lists them)")
    chosen = {r.name: r for r in cpu_recipes()} if all_cpu else {}
    for name in names:
        chosen.setdefault(name, find_recipe(name))
    return list(chosen.values())


def parse_seeds(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise T2TUserError(f"--seeds takes comma-separated integers (e.g. 1,2,3), got '{text}'") from None
    if not seeds:
        raise T2TUserError("--seeds is empty: pass e.g. --seeds 1,2,3")
    return seeds


def seeds_for(recipe: Recipe, seeds: list[int] | None) -> list[int]:
    """--seeds if given, else the first seed the band was established with, else train.yaml's default 1234."""
    if seeds:
        return seeds
    return list(recipe.expected.seeds[:1]) or [1234]


def check_composes(recipes: list[Recipe], overrides: list[str], usr_dir: str | None) -> None:
    """Compose every runnable recipe with the overrides first, so a typo fails in one line before any training."""
    from t2t_torch.run.config_check import compose_config
    from t2t_torch.run.config_store import register_configs
    from t2t_torch.usr_dir import usr_conf_dir

    register_configs()
    search_path = [conf] if usr_dir and (conf := usr_conf_dir(usr_dir)) is not None else []
    for recipe in recipes:
        if recipe.skip_reason() is None:
            try:
                compose_config([f"experiment={recipe.name}", *overrides], "train", search_path)
            except T2TUserError as error:
                raise T2TUserError(f"recipe {recipe.name}: {error}") from None


def check_fresh(recipes: list[Recipe], seeds: list[int] | None, report_dir: Path) -> None:
    """Refuse to train into a run dir left by an earlier invocation: resuming it would re-report the old result."""
    for recipe in recipes:
        for seed in seeds_for(recipe, seeds):
            run_dir = report_dir / recipe.name / f"seed{seed}"
            if recipe.skip_reason() is None and run_dir.exists():
                raise T2TUserError(f"{run_dir} exists from an earlier run: pass another --report-dir, or --resume to"
                                   " finish unfinished runs there")


def run_recipes(recipes: list[Recipe], seeds: list[int] | None, options: RunOptions,
                on_progress: Callable[[list[RecipeResult]], None] = lambda results: None) -> list[RecipeResult]:
    """Run every runnable recipe for its seeds, `options.jobs` runs at a time (calling `on_progress` after each run,
    so a report survives an interrupted batch); skipped recipes carry their reason."""
    results = {r.name: RecipeResult(r, [], skipped=r.skip_reason() or "") for r in recipes}
    for result in results.values():
        if result.skipped:
            print(f"SKIP {result.recipe.name}: {result.skipped}", flush=True)
    tasks = [(r.recipe, seed) for r in results.values() if not r.skipped for seed in seeds_for(r.recipe, seeds)]
    with ThreadPoolExecutor(max_workers=options.jobs) as pool:  # each worker waits on one training subprocess
        runs = pool.map(lambda task: run_and_print(*task, options), tasks)
        for (recipe, _), run in zip(tasks, runs, strict=True):
            results[recipe.name].seeds.append(run)
            on_progress(list(results.values()))
    return list(results.values())


def run_and_print(recipe: Recipe, seed: int, options: RunOptions) -> SeedResult:
    print(f"RUN  {recipe.name} seed={seed} ...", flush=True)
    run = run_seed(recipe, seed, options)
    verdict = "ok" if recipe.expected.contains(run.value) else "OUT OF BAND"
    print(f"DONE {recipe.name} seed={seed}: {recipe.expected.metric} = {format_value(run.value)} (band"
          f" {recipe.expected.band()}) {verdict}, {run.wall_s / 60:.1f} min{'; ' + run.error if run.error else ''}",
          flush=True)
    return run


def list_recipes() -> None:
    """Print every experiment with its known result's metric and band, scale, and whether the runner would skip
    it."""
    for name, recipe in sorted(all_recipes().items()):
        if recipe.expected is None:
            print(f"{name:45s} (no known result)")
            continue
        expected = recipe.expected
        note = recipe.skip_reason()
        skipped = f"  [skipped: {note}]" if note else ""
        print(f"{name:45s} {expected.scale:4s} {expected.metric} {expected.band()}" + skipped)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROGRAM, description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("items", nargs="*", metavar="RECIPE|KEY=VALUE",
                        help="recipes to run; KEY=VALUE items are Hydra overrides passed to every run"
                             " (e.g. data_dir=...)")
    parser.add_argument("--all-cpu", action="store_true", help="run every CPU-scale recipe (scale: cpu in its known"
                        " result)")
    parser.add_argument("--seeds", help="comma-separated seeds (default: each recipe's first established seed)")
    parser.add_argument("--report-dir", type=Path, help="where runs and the report go (default outputs/regress/<time>)")
    parser.add_argument("--usr-dir", help="a usr_dir whose conf/experiment/ recipes (their bands in"
                        " conf/known_results.yaml) and registrations to use")
    parser.add_argument("--threads", type=int, help="CPU threads per training run (OMP_NUM_THREADS; 1 is fastest on a"
                        " busy machine)")
    parser.add_argument("--jobs", type=int, default=1, help="training runs at a time (default 1; with --threads,"
                        " jobs x threads should not exceed the cores)")
    parser.add_argument("--resume", action="store_true", help="reuse the run dirs already in --report-dir (an"
                        " interrupted run continues from its last.ckpt; a finished one is only evaluated again)")
    parser.add_argument("--list", action="store_true", help="list the recipes and exit")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_intermixed_args(argv)
    try:
        return _main(args, command=[PROGRAM, *argv])
    except T2TUserError as error:
        print(f"{PROGRAM}: error: {error}", file=sys.stderr)
        return 2


def _main(args: argparse.Namespace, command: list[str]) -> int:
    if args.usr_dir:
        from t2t_torch.usr_dir import import_usr_dir

        import_usr_dir(args.usr_dir)
    if args.list:
        list_recipes()
        return 0
    overrides = [item for item in args.items if "=" in item]
    recipes = select_recipes([item for item in args.items if "=" not in item], args.all_cpu)
    seeds = parse_seeds(args.seeds)
    check_plotting()
    check_composes(recipes, overrides, args.usr_dir)
    stamp = datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    report_dir = (args.report_dir or Path("outputs/regress") / stamp).expanduser()
    if args.jobs < 1 or (args.threads is not None and args.threads < 1):
        raise T2TUserError(f"--jobs and --threads must be >= 1, got {args.jobs} and {args.threads}")
    if not args.resume:
        check_fresh(recipes, seeds, report_dir)
    options = RunOptions(report_dir, tuple(overrides), args.usr_dir, args.threads, args.jobs)
    results = run_recipes(recipes, seeds, options, lambda partial: write_report(partial, report_dir, command))
    report = write_report(results, report_dir, command)
    failed = [r.recipe.name for r in results if r.verdict == "FAIL"]
    print(f"Report: {report}")
    print(f"{len(failed)} recipe(s) outside their band: {', '.join(failed)}" if failed else "All recipes in band.")
    return 1 if failed else 0


def console_main() -> None:
    sys.exit(main())
