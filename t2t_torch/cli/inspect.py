"""`t2t-inspect problem=<name> [inspect.split=dev inspect.num_examples=5 inspect.plot=FILE]`: show a problem's
data as the model sees it (run/data_report.py)."""

from __future__ import annotations

from omegaconf import DictConfig

from t2t_torch.cli.app import run_app

PROGRAM = "t2t-inspect"


def show_split(cfg: DictConfig) -> None:
    from t2t_torch.run.data_report import inspect_split
    from t2t_torch.run.train import build_problem

    options = cfg.get("inspect") or {}
    inspect_split(build_problem(cfg), cfg.data_dir, str(options.get("split", "train")),
                  int(options.get("num_examples", 5)), options.get("plot"))


def main() -> None:
    run_app(PROGRAM, "inspect", show_split)


if __name__ == "__main__":
    main()
