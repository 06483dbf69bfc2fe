"""The small table printed at the end of a run: final eval metrics, steps, wall time and the run directory."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table


def print_final_metrics(metrics: dict[str, float], output_dir: Path, steps: int, seconds: float) -> None:
    table = Table(title="Final metrics", show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name in sorted(metrics):
        table.add_row(name, f"{metrics[name]:.4f}")
    table.add_row("steps", str(steps))
    table.add_row("wall time", f"{seconds / 60:.1f} min")
    console = Console()
    console.print(table)
    console.print(f"Run directory: {output_dir}")
