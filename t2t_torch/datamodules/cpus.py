"""How many CPUs this process may really use: the cores it may run on (its affinity), capped by a container's CPU
quota (cgroup v2 `cpu.max`, v1 `cpu.cfs_quota_us`), which neither `os.cpu_count()` nor torch's default thread count
honors. Sizes the worker processes of data preparation and the intra-op threads of CPU decoding, so that neither
runs more busy threads than there are CPUs to run them (the cost of that shows as system time, not user time).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")


def usable_cpus() -> int:
    """The CPUs this process may use: min(affinity, CPU quota rounded up), at least 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    return max(1, min(cores, math.ceil(quota)) if quota is not None else cores)


def cgroup_cpu_quota(root: Path = CGROUP) -> float | None:
    """CPUs' worth of time the container may use per period (e.g. 2.5); None without a quota."""
    for path, parse in ((root / "cpu.max", _v2_quota), (root / "cpu" / "cpu.cfs_quota_us", _v1_quota)):
        try:
            return parse(path)
        except (OSError, ValueError, IndexError):
            continue
    return None


def _v2_quota(path: Path) -> float | None:
    quota, period = path.read_text().split()[:2]  # "max 100000" or "200000 100000"
    return None if quota == "max" else int(quota) / int(period)


def _v1_quota(path: Path) -> float | None:
    quota = int(path.read_text())
    period = int(path.with_name("cpu.cfs_period_us").read_text())
    return None if quota <= 0 else quota / period
