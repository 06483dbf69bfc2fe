"""`t2t-eval <the training command>` (T2T's t2t-eval) is `t2t-train <the training command> mode=eval`: it evaluates
the run's last.ckpt (or `ckpt_path=`) on `eval_split` without training; another `mode=` is a one-line error."""

from __future__ import annotations

import sys

from t2t_torch.cli.app import fail, run_app
from t2t_torch.cli.train import train_or_evaluate
from t2t_torch.errors import T2TUserError

PROGRAM = "t2t-eval"


def main() -> None:
    modes = [a.split("=", 1)[1] for a in sys.argv[1:] if a.split("=", 1)[0] == "mode"]
    other = [mode for mode in modes if mode != "eval"]
    if other:
        fail(T2TUserError(f"t2t-eval evaluates a checkpoint; mode={other[0]} trains: use t2t-train for that, or"
                          " leave mode= out"), PROGRAM)
    if not modes:  # in sys.argv, which Hydra reads and DDP reruns for the other ranks (app.py)
        sys.argv.insert(1, "mode=eval")
    run_app(PROGRAM, "train", train_or_evaluate)


if __name__ == "__main__":
    main()
