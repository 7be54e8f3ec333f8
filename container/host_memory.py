"""What the kernel says of this container's memory: /proc/meminfo's fields, and its cgroup's limit
and usage (v2, else v1).

Owns reading those files, whose figures three parts use: the multi-model 507 (multimodel.memory),
`/execution-parameters` (batch_limits) and training's memory budget (training.data). Must not know
what the figures are for. Linux only; elsewhere every answer is None.
"""

from __future__ import annotations

from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")
MEMINFO = Path("/proc/meminfo")
UNLIMITED = 1 << 60  # cgroup v1 reports "no limit" as a number near 2**63
LIMIT_FILES = ("sys/fs/cgroup/memory.max", "sys/fs/cgroup/memory/memory.limit_in_bytes")


def available_bytes(cgroup: Path = CGROUP, meminfo: Path = MEMINFO) -> int | None:
    """Memory this container can still take, or None when neither the kernel nor a cgroup says."""
    known = [
        value
        for value in (meminfo_bytes(meminfo, "MemAvailable"), _cgroup_headroom(cgroup))
        if value is not None
    ]
    return min(known) if known else None


def cgroup_limit(root: Path) -> int | None:
    """The cgroup's memory limit under the system root `root` (v2 `memory.max`, else v1
    `memory.limit_in_bytes`); None when unlimited or unknown."""
    for name in LIMIT_FILES:
        try:
            text = (root / name).read_text().strip()
        except OSError:
            continue
        if text == "max" or not text.isdigit() or int(text) >= UNLIMITED:
            return None
        return int(text)
    return None


def meminfo_bytes(meminfo: Path, field: str) -> int | None:
    """One field of a /proc/meminfo-shaped file, in bytes; None when it cannot be read."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_headroom(root: Path) -> int | None:
    """The cgroup's limit less its usage (v2: memory.max, memory.current, memory.stat's
    inactive_file; v1: memory.limit_in_bytes, usage_in_bytes, total_inactive_file)."""
    for limit_file, usage_file, stat_file, inactive_key in (
        ("memory.max", "memory.current", "memory.stat", "inactive_file"),
        (
            "memory/memory.limit_in_bytes",
            "memory/memory.usage_in_bytes",
            "memory/memory.stat",
            "total_inactive_file",
        ),
    ):
        try:
            limit_text = (root / limit_file).read_text().strip()
            usage = int((root / usage_file).read_text())
        except (OSError, ValueError):
            continue
        if limit_text == "max" or int(limit_text) >= UNLIMITED:
            return None
        return int(limit_text) - max(0, usage - _stat_value(root / stat_file, inactive_key))
    return None


def _stat_value(stat: Path, key: str) -> int:
    try:
        for line in stat.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0
