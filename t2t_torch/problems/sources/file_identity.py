"""Content identity of local input files: the sha256 of their bytes, hashed once per change.

Caches and vocabularies are keyed by what their input files hold, not by their paths, so a corpus rewritten in
place is never served from a cache of its old content. Hashing a multi-GB corpus on every run would be slow, so
each hash is remembered in a small JSON file (`file_hashes.json` beside the cache) under the file's
(size, mtime_ns, ctime_ns, inode): a file whose stat is unchanged is not read again.

File timestamps are coarse (one kernel tick, or a second or more on some file systems), so a file rewritten within
the tick of its previous write can keep its stat. As git does for its index ("racy git"), a hash is remembered only
when the file was last changed well before hashing began; a recently changed file is hashed again the next time.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path

HASH_MEMO = "file_hashes.json"
RACY_WINDOW_NS = 2_000_000_000  # changed less than this before hashing began: not remembered (coarse timestamps)


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def content_sha256(path: str | Path, memo_file: Path) -> str:
    """sha256 hex of the bytes of `path`, read only when its stat differs from the one remembered in `memo_file`."""
    path = Path(path).expanduser().resolve()
    stat = path.stat()
    key = [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino]
    memo = read_memo(memo_file)
    entry = memo.get(str(path))
    if isinstance(entry, dict) and entry.get("stat") == key and isinstance(entry.get("sha256"), str):
        return entry["sha256"]
    started = time.time_ns()
    digest = file_sha256(path)
    changed = max(stat.st_mtime_ns, stat.st_ctime_ns)
    if path.stat().st_ctime_ns == stat.st_ctime_ns and started - changed > RACY_WINDOW_NS:  # unchanged meanwhile
        memo = read_memo(memo_file)  # another process may have added entries meanwhile
        memo[str(path)] = {"stat": key, "sha256": digest}
        write_memo(memo_file, memo)
    return digest


def read_memo(memo_file: Path) -> dict:
    try:
        memo = json.loads(memo_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # missing or damaged: it only saves time, so start afresh
        return {}
    return memo if isinstance(memo, dict) else {}


def write_memo(memo_file: Path, memo: dict) -> None:
    """Atomic replace; a lost race with another writer only costs that writer's entries a rehash later."""
    tmp = memo_file.with_name(f".{memo_file.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    try:
        memo_file.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(memo, indent=0, sort_keys=True), encoding="utf-8")
        os.replace(tmp, memo_file)
    except OSError:  # a read-only cache folder: hashes are simply not remembered
        tmp.unlink(missing_ok=True)
