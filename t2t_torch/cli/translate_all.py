"""`t2t-translate-all`: decode a split with every checkpoint of a run and tabulate its decode metrics per step (T2T's
`bin/t2t_translate_all.py`, which decoded a file with each checkpoint of a model dir, plus its `t2t-bleu` pass
that wrote BLEU per step for TensorBoard).

    t2t-translate-all outputs/RUN                                 # dev split, beam 4, alpha 0.6
    t2t-translate-all outputs/RUN --split test --beam_size 1 --num_samples 200 --out outputs/RUN/translate_all

What it decodes and writes: run/translate_all.py.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from t2t_torch.errors import T2TUserError
from t2t_torch.inference.decode_config import DecodeConfig
from t2t_torch.run.translate_all import decode_every_checkpoint, plot, write_table

PROGRAM = "t2t-translate-all"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROGRAM, description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="a run dir (or its checkpoints/ folder)")
    parser.add_argument("--split", default="dev", help="the problem's split to decode (dev)")
    parser.add_argument("--num_samples", type=int, default=-1, help="decode the first N examples; -1: all")
    parser.add_argument("--beam_size", type=int, default=4)
    parser.add_argument("--alpha", type=float, default=0.6)
    parser.add_argument("--extra_length", type=int, default=DecodeConfig.extra_length)
    parser.add_argument("--batch_size", type=int, default=DecodeConfig.batch_size)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default=None, help="the output folder (default: RUN/translate_all-<split>)")
    args = parser.parse_args(argv)
    run = Path(args.run).expanduser()
    out = Path(args.out).expanduser() if args.out else (run.parent if run.name == "checkpoints" else run) / \
        f"translate_all-{args.split}"
    try:
        config = DecodeConfig(beam_size=args.beam_size, alpha=args.alpha, extra_length=args.extra_length,
                              batch_size=args.batch_size)
        rows = decode_every_checkpoint(run, out, args.split, args.num_samples, config, args.device)
    except T2TUserError as error:
        print(f"{PROGRAM}: error: {error}", file=sys.stderr)
        return 2
    table = write_table(rows, out, args.split)
    plot(rows, out, args.split)
    print(table.read_text(encoding="utf-8"), end="")
    print(f"Wrote {table}, {out / 'table.csv'} and the decodes of {len(rows)} checkpoints under {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
