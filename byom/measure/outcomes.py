"""What a load generator records, and how the records of several generator processes become one.

Per request, appended as it finishes: its scheduled offset (s), its latency from that schedule (s)
and its status. Per generator process, one `ProcessUsage`: requests, CPU seconds (its own
getrusage) and wall seconds, and how many requests it started late, so a saturated generator is
seen (`saturated`) instead of its own delay passing for the server's latency.

`merge` pools the records of processes that shared one schedule and one clock. Requests are
concatenated unchanged, so every figure computed from them, the per-second timeline with its
latency histograms, the summary's exact percentiles and the ensure metrics, is the one a single
process gives for the same requests; CPU adds up. It knows nothing of sockets or processes.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

LATE_SECONDS = 0.010  # a request started this long after its scheduled time was sent late
SATURATED_LATE_FRACTION = 0.01  # more late requests than this, and the generator fell behind
SATURATED_CPU_PERCENT = 90.0  # of one core: an event loop this busy is about to fall behind


@dataclass(frozen=True)
class ProcessUsage:
    """One generator process: what it sent, the CPU it used, and how late it started requests."""

    requests: int
    cpu_seconds: float
    wall_seconds: float
    late: int  # requests started more than LATE_SECONDS after their scheduled time
    max_lag_seconds: float

    @property
    def cpu_percent(self) -> float:
        """Percent of one core (0 for a process stopped before its start time)."""
        return 100 * self.cpu_seconds / self.wall_seconds if self.wall_seconds > 0 else 0.0

    @property
    def saturated(self) -> bool:
        behind = self.late > SATURATED_LATE_FRACTION * self.requests
        return behind or self.cpu_percent >= SATURATED_CPU_PERCENT

    def document(self) -> dict[str, Any]:
        """The JSON form: the fields, rounded, with cpu_percent and saturated."""
        fields = {name: round(value, 4) for name, value in asdict(self).items()}
        return {**fields, "cpu_percent": round(self.cpu_percent, 1), "saturated": self.saturated}


@dataclass
class Outcomes:
    """One entry per finished request: scheduled offset (s), latency from schedule (s), status."""

    scheduled: array[float] = field(default_factory=lambda: array("d"))
    latency: array[float] = field(default_factory=lambda: array("d"))
    status: array[int] = field(default_factory=lambda: array("i"))
    cpu_samples: list[tuple[float, float]] = field(default_factory=list)  # (elapsed s, cpu s)
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    interrupted: bool = False
    processes: list[ProcessUsage] = field(default_factory=list)  # one per generator process

    def add(self, scheduled: float, latency: float, status: int) -> None:
        self.scheduled.append(scheduled)
        self.latency.append(latency)
        self.status.append(status)


def merge(parts: Sequence[Outcomes], interrupted: bool = False) -> Outcomes:
    """The records of processes that ran shares of one schedule from one start time, as one."""
    merged = Outcomes(cpu_samples=summed_cpu(parts), interrupted=interrupted)
    for part in parts:
        merged.scheduled.extend(part.scheduled)
        merged.latency.extend(part.latency)
        merged.status.extend(part.status)
        merged.processes.extend(part.processes)
        merged.interrupted |= part.interrupted
    merged.wall_seconds = max((part.wall_seconds for part in parts), default=0.0)
    merged.cpu_seconds = sum(part.cpu_seconds for part in parts)
    return merged


def summed_cpu(parts: Sequence[Outcomes]) -> list[tuple[float, float]]:
    """CPU seconds all processes had used at each whole second (each one's samples interpolated)."""
    last = max((part.cpu_samples[-1][0] for part in parts if part.cpu_samples), default=0.0)
    seconds = np.arange(1, math.floor(last) + 1, dtype=np.float64)
    total = np.zeros_like(seconds)
    for part in filter(lambda part: part.cpu_samples, parts):
        elapsed, cpu = (np.array([0.0, *column]) for column in zip(*part.cpu_samples, strict=True))
        total += np.interp(seconds, elapsed, cpu)
    return [(float(t), float(c)) for t, c in zip(seconds, total, strict=True)]


def usage_line(number: int, usage: ProcessUsage, count: int) -> str:
    """One line for process `number` (from 1) of `count`, saying whether it kept up."""
    late = 100 * usage.late / max(usage.requests, 1)
    line = (
        f"generator process {number}/{count}: {usage.requests} requests, CPU {usage.cpu_percent:.1f}%"
        f" of one core, {late:.1f}% started over {LATE_SECONDS * 1000:.0f} ms late"
        f" (latest {usage.max_lag_seconds * 1000:.1f} ms)"
    )
    if usage.saturated:
        line += ": saturated, its own delay is in the latencies (more --workers, or fewer req/s)"
    return line
