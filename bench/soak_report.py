"""The soak's verdict and its files: judging the RSS curve, the answers and the worker pids.

Owns the three rules (below), the CSV of the curve (one row per process per sample) and the
markdown report. It knows nothing of servers or sockets: bench/soak.py hands it samples, per-case
status counts and pid sets.

1. Memory: after the warm-up, each process's RSS and each server's total is fitted with a straight
   line (least squares over the samples); the rise that line makes across the judged window must
   stay within max(GROWTH_FRACTION of its median, GROWTH_KIB). A leak of one byte per request at
   1,000 req/s rises ~2.9 MiB over 50 minutes and fails; allocator steps of a few pages pass.
2. Answers: every request got the status its case expects (200 for the valid ones, the 4xx the
   contract gives the invalid ones): no 5xx, no timeout, no connection error.
3. Workers: the pids serving at the end are the ones serving after start-up (none replaced).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

GROWTH_FRACTION = 0.02
GROWTH_KIB = 2048


@dataclass(frozen=True)
class Sample:
    seconds: float  # since the load started
    server: str
    role: str  # "master" or "worker"
    pid: int
    rss_kib: int


@dataclass(frozen=True)
class Growth:
    name: str  # "iris worker 1234" or "iris total"
    median_kib: float
    rise_kib: float  # the fitted line's rise across the judged window
    allowed_kib: float

    @property
    def passed(self) -> bool:
        return self.rise_kib <= self.allowed_kib


def fitted_rise(seconds: Sequence[float], values: Sequence[float]) -> float:
    """The rise of the least-squares line through (seconds, values) from its first to last second."""
    if len(seconds) < 2 or seconds[-1] == seconds[0]:
        return 0.0
    slope = np.polyfit(np.asarray(seconds, float), np.asarray(values, float), 1)[0]
    return float(slope * (seconds[-1] - seconds[0]))


def growth(name: str, seconds: Sequence[float], values: Sequence[float]) -> Growth:
    median = float(np.median(values)) if len(values) else 0.0
    allowed = max(GROWTH_FRACTION * median, GROWTH_KIB)
    return Growth(name, median, fitted_rise(seconds, values), allowed)


def curves(samples: Sequence[Sample], warmup: float) -> dict[str, tuple[list[float], list[float]]]:
    """Per process and per server total, the (seconds, RSS KiB) after the warm-up."""
    found: dict[str, tuple[list[float], list[float]]] = {}
    totals: dict[tuple[str, float], float] = {}
    for sample in (s for s in samples if s.seconds >= warmup):
        times, values = found.setdefault(f"{sample.server} {sample.role} {sample.pid}", ([], []))
        times.append(sample.seconds)
        values.append(sample.rss_kib)
        key = (sample.server, sample.seconds)
        totals[key] = totals.get(key, 0) + sample.rss_kib
    for (server, seconds), total in sorted(totals.items()):
        times, values = found.setdefault(f"{server} total", ([], []))
        times.append(seconds)
        values.append(total)
    return found


def memory_verdict(samples: Sequence[Sample], warmup: float) -> list[Growth]:
    return [growth(name, *curve) for name, curve in curves(samples, warmup).items()]


@dataclass(frozen=True)
class CaseCount:
    server: str
    case: str
    expected: int
    statuses: Mapping[int, int]  # status (0: connection error, 1: timeout) -> requests

    @property
    def wrong(self) -> int:
        return sum(count for status, count in self.statuses.items() if status != self.expected)


def write_csv(path: Path, samples: Sequence[Sample]) -> None:
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["seconds", "server", "role", "pid", "rss_kib"])
        for s in samples:
            writer.writerow([f"{s.seconds:.1f}", s.server, s.role, s.pid, s.rss_kib])


@dataclass(frozen=True)
class Soak:
    """Everything the report says: what ran, what came back, and the verdicts."""

    header: Sequence[str]  # lines: machine, command, rates
    cases: Sequence[CaseCount]
    growth: Sequence[Growth]
    pids_before: Mapping[str, frozenset[int]]
    pids_after: Mapping[str, frozenset[int]]
    wrong_by_minute: Mapping[str, Mapping[int, int]] = field(default_factory=dict)  # server -> minute -> n

    @property
    def workers_kept(self) -> bool:
        return dict(self.pids_before) == dict(self.pids_after)

    @property
    def passed(self) -> bool:
        answers = not any(case.wrong for case in self.cases)
        return answers and self.workers_kept and all(g.passed for g in self.growth)


def markdown(soak: Soak) -> str:
    lines = ["# Soak run", "", *soak.header, ""]
    lines += ["## Answers", "", "| server | case | expected | answered | wrong |", "|---|---|---|---|---|"]
    for c in soak.cases:
        answered = ", ".join(f"{status}: {count:,}" for status, count in sorted(c.statuses.items()))
        lines.append(f"| {c.server} | {c.case} | {c.expected} | {answered} | {c.wrong:,} |")
    lines += _wrong_by_minute(soak.wrong_by_minute)
    lines += [
        "",
        "## RSS after the warm-up",
        "",
        "| process | median MiB | fitted rise KiB | allowed KiB | |",
    ]
    lines.append("|---|---|---|---|---|")
    for g in soak.growth:
        verdict = "ok" if g.passed else "GROWS"
        lines.append(
            f"| {g.name} | {g.median_kib / 1024:.1f} | {g.rise_kib:+.0f} | {g.allowed_kib:.0f} | {verdict} |"
        )
    kept = (
        "unchanged" if soak.workers_kept else f"CHANGED: {dict(soak.pids_before)} -> {dict(soak.pids_after)}"
    )
    lines += ["", f"Worker pids: {kept}.", "", f"**Verdict: {'pass' if soak.passed else 'FAIL'}.**", ""]
    return "\n".join(lines)


def _wrong_by_minute(wrong: Mapping[str, Mapping[int, int]]) -> list[str]:
    """A line per server that answered wrongly: how many in each minute of the load (from 1)."""
    lines = []
    for server, by_minute in wrong.items():
        if any(by_minute.values()):
            minutes = ", ".join(f"{minute + 1}: {n:,}" for minute, n in sorted(by_minute.items()))
            lines.append(f"- {server}, wrong answers in each minute: {minutes}")
    return ["", *lines] if lines else []
