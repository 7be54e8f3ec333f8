"""Reading /proc: a process's children, its memory high-water mark and CPU time; a CPU's busy time."""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")


def children(pid: int) -> list[int]:
    """The live processes whose parent is `pid`, in pid order."""
    found = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def memory_kib(pid: int) -> dict[str, int]:
    """VmHWM (peak resident set), VmRSS (resident now) and Pss (resident now, each shared page
    divided among the processes sharing it) of `pid`, in KiB."""
    values = {}
    for line in (PROC / str(pid) / "status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmHWM", "VmRSS"):
            values[name] = int(rest.split()[0])
    for line in (PROC / str(pid) / "smaps_rollup").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name == "Pss":
            values[name] = int(rest.split()[0])
    return values


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` so far (0 when it is gone)."""
    try:
        fields = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def tree_cpu_seconds(pids: list[int]) -> float:
    """CPU time of each process in `pids` and of its children (a server's master and workers)."""
    return sum(cpu_seconds(pid) for root in pids for pid in [root, *children(root)])


def cpu_busy_seconds(cpu: int) -> tuple[float, float]:
    """(busy, steal) seconds of one CPU since boot, from /proc/stat: busy is all but idle and iowait."""
    for line in (PROC / "stat").read_text().splitlines():
        name, *values = line.split()
        if name == f"cpu{cpu}":
            user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in values[:8])
            return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS, steal / CLOCK_TICKS
    raise ValueError(f"no cpu{cpu} in /proc/stat")
