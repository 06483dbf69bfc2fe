"""The regression runner's report: report.md, report.csv and one learning-curve PNG per recipe.

Each report records what is needed to compare two of them: the recipe, metric, band and the result of every seed,
wall time, the git commit of the code, the versions of torch, lightning and hydra-core, and the hardware. The
learning curves (train loss and the expected metric over steps, one line per seed, the band dashed) are drawn from
each run's metrics.csv with matplotlib's object API (no pyplot state, no display needed).
"""

from __future__ import annotations

import csv
import datetime
import math
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from t2t_torch.errors import T2TUserError
from t2t_torch.regress.result import RecipeResult

TRAIN_LOSS = "train/loss"
PACKAGES = ("torch", "lightning", "hydra-core")
CSV_FIELDS = ("recipe", "metric", "min", "max", "seed", "result", "in_band", "verdict", "steps", "wall_s",
              "git_commit", "torch", "lightning", "hydra_core", "hardware", "run_dir", "note")


def read_metrics(run_dir: Path) -> list[dict[str, str]]:
    """All rows of the run's CSV logs (csv/version_N/metrics.csv, oldest version first: a resumed run appends one)."""
    rows: list[dict[str, str]] = []
    versions = sorted((run_dir / "csv").glob("version_*"), key=lambda p: int(p.name.split("_")[-1]))
    for version in versions:
        path = version / "metrics.csv"
        if path.is_file():
            with path.open(newline="") as handle:
                rows.extend(csv.DictReader(handle))
    return rows


def metric_series(rows: list[dict[str, str]], metric: str) -> list[tuple[int, float]]:
    """(step, value) for every row that logged `metric`."""
    return [(int(float(r["step"])), float(r[metric])) for r in rows if r.get(metric) not in (None, "")]


def format_value(value: float | None) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:.4g}"


def check_plotting() -> None:
    """Fail early, in one line, when matplotlib (needed for the learning curves) is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise T2TUserError(
            "t2t-regress draws learning curves with matplotlib: pip install 't2t-torch[regress]'"
        ) from None


def git_commit() -> str:
    """The commit of the checkout this package runs from, with '-dirty' for uncommitted changes; 'unknown' outside
    git."""
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}-dirty" if dirty else commit


def versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def hardware() -> str:
    """E.g. 'Intel Xeon ... x2 CPUs' or '... x16 CPUs, 1x NVIDIA H100 80GB HBM3'."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        lines = cpuinfo.read_text().splitlines()
        names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
        cpu = names[0] if names else cpu
    text = f"{cpu} x{os.cpu_count()} CPUs"
    import torch

    if torch.cuda.is_available():
        gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        text += f", {len(gpus)}x {gpus[0]}"
    return text


def write_report(results: list[RecipeResult], report_dir: Path, command: list[str]) -> Path:
    """Write report.md, report.csv and <recipe>.png into report_dir; returns the Markdown file."""
    report_dir.mkdir(parents=True, exist_ok=True)
    context = {"git_commit": git_commit(), **{k.replace("-", "_"): v for k, v in versions().items()},
               "hardware": hardware()}
    for result in results:
        if result.seeds:
            plot_learning_curves(result, report_dir / f"{result.recipe.name}.png")
    write_csv(results, report_dir / "report.csv", context)
    path = report_dir / "report.md"
    path.write_text(markdown(results, context, command, report_dir))
    return path


def write_csv(results: list[RecipeResult], path: Path, context: dict[str, str]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for result in results:
            expected = result.recipe.expected
            base = {"recipe": result.recipe.name, "metric": expected.metric, "min": expected.min, "max": expected.max,
                    "verdict": result.verdict, **context}
            if result.skipped:
                writer.writerow({**base, "note": result.skipped})
            for run in result.seeds:
                writer.writerow({**base, "seed": run.seed, "result": run.value, "in_band": expected.contains(run.value),
                                 "steps": run.steps, "wall_s": round(run.wall_s, 1), "run_dir": run.run_dir,
                                 "note": run.error})


def markdown(results: list[RecipeResult], context: dict[str, str], command: list[str], report_dir: Path) -> str:
    lines = [
        "# Regression report", "",
        f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}",
        f"- command: `{' '.join(command)}`",
        f"- git commit: {context['git_commit']}",
        f"- versions: torch {context['torch']}, lightning {context['lightning']}, hydra-core {context['hydra_core']},"
        f" python {platform.python_version()}",
        f"- hardware: {context['hardware']}", "",
        "| recipe | metric | band | seeds | result per seed | wall time per seed | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for result in results:
        expected = result.recipe.expected
        seeds = ", ".join(str(r.seed) for r in result.seeds) or "—"
        values = ", ".join(format_value(r.value) for r in result.seeds) or "—"
        walls = ", ".join(f"{r.wall_s / 60:.1f} min" for r in result.seeds) or "—"
        lines.append(f"| {result.recipe.name} | {expected.metric} | {expected.band()} | {seeds} | {values} | {walls} |"
                     f" {result.verdict} |")
    notes = [f"- {r.recipe.name}: skipped — {r.skipped}" for r in results if r.skipped]
    notes += [f"- {r.recipe.name} seed {s.seed}: {s.error}" for r in results for s in r.seeds if s.error]
    if notes:
        lines += ["", "## Notes", "", *notes]
    curves = [r.recipe.name for r in results if (report_dir / f"{r.recipe.name}.png").is_file() and r.seeds]
    if curves:
        lines += ["", "## Learning curves", ""]
        lines += [f"![{name}]({name}.png)" for name in curves]
    return "\n".join(lines) + "\n"


def plot_learning_curves(result: RecipeResult, path: Path) -> None:
    """Train loss and the expected metric over steps, one line per seed, with the band dashed."""
    from matplotlib.figure import Figure

    expected = result.recipe.expected
    figure = Figure(figsize=(10, 4), layout="constrained")
    loss_axes, metric_axes = figure.subplots(1, 2)
    for run in result.seeds:
        rows = read_metrics(run.run_dir)
        for axes, column in ((loss_axes, TRAIN_LOSS), (metric_axes, expected.metric)):
            series = metric_series(rows, column)
            if series:
                steps, values = zip(*series, strict=True)
                axes.plot(steps, values, marker="." if column != TRAIN_LOSS else None, label=f"seed {run.seed}")
    for side, bound in (("min", expected.min), ("max", expected.max)):
        if bound is not None:
            metric_axes.axhline(bound, linestyle="--", color="gray", label=f"band {side} {bound:g}")
    loss_axes.set(title=TRAIN_LOSS, xlabel="step")
    metric_axes.set(title=expected.metric, xlabel="step")
    for axes in (loss_axes, metric_axes):
        if axes.lines:
            axes.legend(fontsize="small")
    figure.suptitle(f"{result.recipe.name}: {result.verdict}")
    figure.savefig(path, dpi=100)
