#!/usr/bin/env python
"""English -> German dialogue pairs from Fish Fillets NG's game data (Debian's `fillets-ng-data`, GPL-2), for the
fine-tuning recipe (`conf/experiment/translate_ende_fillets_finetune.yaml`); `scripts/fetch_local_data.sh fillets`
downloads the package and runs this.

    python scripts/extract_fillets.py <unpacked .deb>/usr/share/games/fillets-ng/script ~/t2t_data/raw/fillets

Each level's `dialogs_de.lua` holds `dialogId("<id>", "<font>", "<English>")` lines, each followed by
`dialogStr("<German>")`. The pairs are split by level, so that no level's lines are in two splits: in sorted level
order, every 10th level from the 1st goes to test, every 10th from the 6th to dev, the rest to train. Written as
`<out>/{train,dev,test}.tsv` (English<TAB>German), into `<out>.part` renamed when complete.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

PAIR = re.compile(r'dialogId\("[^"]*",\s*"[^"]*",\s*"((?:[^"\\]|\\.)*)"\)\s*dialogStr\("((?:[^"\\]|\\.)*)"\)')


def clean(text: str) -> str:
    return " ".join(text.replace('\\"', '"').split())


def split_of(number: int) -> str:
    return "test" if number % 10 == 0 else "dev" if number % 10 == 5 else "train"


def main(script: Path, out: Path) -> None:
    levels = sorted(p for p in script.iterdir() if (p / "dialogs_de.lua").is_file())
    if not levels:
        sys.exit(f"extract_fillets: no <level>/dialogs_de.lua under {script}")
    rows: dict[str, list[str]] = {"train": [], "dev": [], "test": []}
    for number, level in enumerate(levels):
        for english, german in PAIR.findall((level / "dialogs_de.lua").read_text(encoding="utf-8")):
            if clean(english) and clean(german):
                rows[split_of(number)].append(f"{clean(english)}\t{clean(german)}\n")
    partial = out.with_name(out.name + ".part")
    partial.mkdir(parents=True, exist_ok=True)
    for split, lines in rows.items():
        (partial / f"{split}.tsv").write_text("".join(lines), encoding="utf-8")
    partial.rename(out)
    print(f"extract_fillets: {len(levels)} levels -> " + ", ".join(f"{s} {len(r)}" for s, r in rows.items()))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: extract_fillets.py <fillets-ng script folder> <out folder>")
    main(Path(sys.argv[1]), Path(sys.argv[2]).expanduser())
