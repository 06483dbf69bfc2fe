"""`t2t-decode` / `python decode.py ckpt_path=... [decode.<key>=...]` (T2T's t2t-decoder): decode with a trained
model (`decode(cfg)`, run/decode.py, which lists what it decodes and writes). The problem, model and hparams come
from the checkpoint: passing one is a one-line error."""

from __future__ import annotations

import sys

from t2t_torch.cli.app import fail, run_app
from t2t_torch.errors import T2TUserError
from t2t_torch.run.decode import decode

PROGRAM = "t2t-decode"
FROM_CHECKPOINT = ("problem", "model", "hparams")


def main() -> None:
    for arg in sys.argv[1:]:
        key = arg.lstrip("+~").split("=", 1)[0].split(".", 1)[0]
        if key in FROM_CHECKPOINT:
            fail(T2TUserError(f"'{arg}': the {key} comes from the checkpoint; pass only ckpt_path=... and"
                              " decode.<key>=... (data_dir=... if the data moved)"), PROGRAM)
    run_app(PROGRAM, "decode", decode, job_name="decode")


if __name__ == "__main__":
    main()
