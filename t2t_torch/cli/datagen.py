"""`t2t-datagen problem=<name> data_dir=<folder>` (T2T's t2t-datagen): download and prepare a problem's data (training
does this itself when the data is missing)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from t2t_torch.cli.app import run_app

PROGRAM = "t2t-datagen"


def generate(cfg: DictConfig) -> None:
    from t2t_torch.run.train import build_problem

    problem = build_problem(cfg)
    problem.generate_data(Path(cfg.data_dir).expanduser())
    print(f"Prepared {problem.name} in {Path(cfg.data_dir).expanduser()}")


def main() -> None:
    run_app(PROGRAM, "datagen", generate)


if __name__ == "__main__":
    main()
