"""Reading inputs and writing outputs of file decoding, one line per example, never shifting a line.

The part of T2T's `utils/decoding.py` (`_get_sorted_inputs`, the `decode_to_file` writer) that touches files:
- lines are split on "\\n" only (a stray "\\r", form feed or U+2028 inside a line does not start a new example), a
  trailing "\\r" (Windows line ends) and a leading UTF-8 byte-order mark are dropped, and a final newline does not
  add an empty example;
- bytes that are not valid UTF-8 are replaced by U+FFFD and the lines holding them are counted, instead of failing;
- every output is written on one line (line breaks inside it become spaces; with several beams per line, tabs
  separate them), and the file is written to a temporary name and renamed, so a crash leaves no half file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from t2t_torch.errors import T2TUserError


def read_text_lines(path: str | Path, what: str = "input file",
                    setting: str = "decode.from_file") -> tuple[list[str], int]:
    """(lines of `path`, number of lines that held invalid UTF-8); a one-line error naming `setting` for a missing
    file."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise T2TUserError(f"{what} '{path}' does not exist: pass {setting}=<a text file, one line per example>")
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    raw_lines = data.split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()  # the newline ending the last line
    lines, invalid = [], 0
    for raw in raw_lines:
        raw = raw[:-1] if raw.endswith(b"\r") else raw
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            lines.append(raw.decode("utf-8", errors="replace"))
            invalid += 1
    return lines, invalid


def one_line(text: str, separator: str = "") -> str:
    """`text` with every line break (and `separator`, if given) replaced by a space."""
    text = " ".join(text.splitlines()) if text else text
    return text.replace(separator, " ") if separator else text


def format_output(beams: str | Sequence[str]) -> str:
    """One output line: the text, or several beams joined by tabs."""
    if isinstance(beams, str):
        return one_line(beams)
    return "\t".join(one_line(beam, "\t") for beam in beams)


def write_text_lines(path: str | Path, lines: Sequence[str]) -> Path:
    """Write `lines` (each already one line) to `path` atomically, creating its folder; returns the path."""
    path = Path(path).expanduser()
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w", encoding="utf-8", newline="\n") as file:
            for line in lines:
                file.write(line + "\n")
        os.replace(tmp, path)
    except OSError as error:  # the callers check the path first; this is a full disk or a path changed meanwhile
        raise T2TUserError(f"cannot write '{path}' ({error.strerror}): free space or pass another path") from None
    finally:
        tmp.unlink(missing_ok=True)
    return path
