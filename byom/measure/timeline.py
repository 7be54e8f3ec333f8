"""A load test's per-second timeline, and the result files (JSON, CSV) that carry it.

Each row is one second of the schedule. `offered` counts requests scheduled in that second;
`achieved` counts 2xx responses that completed in it (what a server's own throughput graph
shows); the percentiles and error counts are over the requests scheduled in it, so a slow second
stays charged to the load that caused it. Latencies include errors; a timeout counts as its timeout.
Each row also keeps its latencies' histogram (byom.measure.latency_histogram), so percentiles over several
seconds can be read back exactly enough to judge an SLO.

The JSON result: {"kind": "byom.loadtest", "version": 1, "target", "started_at", "phases",
"summary": {...}, "generator": {"cpu_seconds", "wall_seconds", "cpu_percent", "processes", ...},
"timeline": [row, ...]} with rows as in `Second`, one per line. The generator's CPU, overall and per
second, is that of all its processes together, in percent of one core; "processes" has each one's
(byom.measure.outcomes.ProcessUsage.document).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from byom.errors import CommandError
from byom.measure import latency_histogram
from byom.measure.loadgen import STATUS_CONNECTION_ERROR, STATUS_TIMEOUT
from byom.measure.outcomes import Outcomes
from byom.shared.documents import read_document

RESULT_KIND = "byom.loadtest"
_STATUS_NAMES = {STATUS_CONNECTION_ERROR: "connection", STATUS_TIMEOUT: "timeout"}


@dataclass(frozen=True)
class Second:
    second: int
    offered: int
    achieved: int
    ok: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: Mapping[str, int] = field(default_factory=dict)
    generator_cpu_percent: float = 0.0
    latency_histogram: Sequence[Sequence[int]] = ()  # byom.measure.latency_histogram's sparse form

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def error_rate(self) -> float:
        return self.error_count / self.offered if self.offered else 0.0


def status_name(status: int) -> str:
    return _STATUS_NAMES.get(status, str(status))


def build(outcomes: Outcomes, duration: float) -> list[Second]:
    scheduled = np.frombuffer(outcomes.scheduled, dtype=np.float64)
    latency_ms = np.frombuffer(outcomes.latency, dtype=np.float64) * 1000
    status = np.frombuffer(outcomes.status, dtype=np.int32)
    good = (status >= 200) & (status < 300)
    seconds = int(np.ceil(duration))
    slot = np.minimum(scheduled.astype(np.int64), max(seconds - 1, 0))
    finished = np.floor(scheduled + latency_ms / 1000).astype(np.int64)
    achieved = np.bincount(finished[good], minlength=seconds)[:seconds]
    cpu = _cpu_per_second(outcomes.cpu_samples, seconds)
    order = np.argsort(slot, kind="stable")
    bounds = np.searchsorted(slot[order], np.arange(seconds + 1))
    return [
        _second(s, latency_ms[order[a:b]], status[order[a:b]], int(achieved[s]), cpu[s])
        for s, a, b in zip(range(seconds), bounds[:-1], bounds[1:], strict=True)
    ]


def _second(index: int, latency_ms: np.ndarray, status: np.ndarray, achieved: int, cpu: float) -> Second:
    good = (status >= 200) & (status < 300)
    codes, counts = np.unique(status[~good], return_counts=True)
    errors = {status_name(int(c)): int(n) for c, n in zip(codes, counts, strict=True)}
    p50, p95, p99 = np.percentile(latency_ms, [50, 95, 99]) if latency_ms.size else (0.0, 0.0, 0.0)
    return Second(
        index,
        int(status.size),
        achieved,
        int(good.sum()),
        round(float(p50), 3),
        round(float(p95), 3),
        round(float(p99), 3),
        errors,
        round(cpu, 1),
        latency_histogram.of(latency_ms),
    )


def _cpu_per_second(samples: Sequence[tuple[float, float]], seconds: int) -> list[float]:
    """CPU percent of one core the generator used in each second, from its about-once-a-second samples."""
    if not samples:
        return [0.0] * seconds
    elapsed, cpu = (np.array([0.0, *column]) for column in zip(*samples, strict=True))
    at_whole_seconds = np.interp(np.arange(seconds + 1), elapsed, cpu)
    return [round(100 * float(used), 1) for used in np.diff(at_whole_seconds)]


def summary(outcomes: Outcomes) -> dict[str, Any]:
    latency_ms = np.frombuffer(outcomes.latency, dtype=np.float64) * 1000
    status = np.frombuffer(outcomes.status, dtype=np.int32)
    good = (status >= 200) & (status < 300)
    codes, counts = np.unique(status[~good], return_counts=True)
    p50, p95, p99 = np.percentile(latency_ms, [50, 95, 99]) if latency_ms.size else (0.0, 0.0, 0.0)
    return {
        "requests": int(status.size),
        "ok": int(good.sum()),
        "errors": {status_name(int(c)): int(n) for c, n in zip(codes, counts, strict=True)},
        "p50_ms": round(float(p50), 3),
        "p95_ms": round(float(p95), 3),
        "p99_ms": round(float(p99), 3),
    }


def generator_usage(outcomes: Outcomes) -> dict[str, Any]:
    """CPU of all generator processes together (percent of one core), and each one's usage."""
    wall = outcomes.wall_seconds
    return {
        "cpu_seconds": round(outcomes.cpu_seconds, 3),
        "wall_seconds": round(wall, 3),
        "cpu_percent": round(100 * outcomes.cpu_seconds / wall if wall > 0 else 0.0, 1),
        "processes": [usage.document() for usage in outcomes.processes],
    }


def write_json(path: Path, document: Mapping[str, Any], rows: Sequence[Second]) -> None:
    head = json.dumps({**document, "timeline": []}, indent=1)
    lines = ",\n  ".join(json.dumps(asdict(row), separators=(",", ":")) for row in rows)
    before, after = head.rsplit('"timeline": []', 1)  # the last key: rows go one per line
    path.write_text(f'{before}"timeline": [\n  {lines}\n ]{after}\n')


def write_csv(path: Path, rows: Sequence[Second]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "second",
                "offered_rps",
                "achieved_rps",
                "ok",
                "p50_ms",
                "p95_ms",
                "p99_ms",
                "errors",
                "errors_by_status",
                "generator_cpu_percent",
            ]
        )
        for row in rows:
            codes = " ".join(f"{name}:{count}" for name, count in sorted(row.errors.items()))
            writer.writerow(
                [
                    row.second,
                    row.offered,
                    row.achieved,
                    row.ok,
                    row.p50_ms,
                    row.p95_ms,
                    row.p99_ms,
                    row.error_count,
                    codes,
                    row.generator_cpu_percent,
                ]
            )


def read_result(path: Path) -> tuple[dict[str, Any], list[Second]]:
    """A loadtest JSON result: its document and its timeline rows."""
    document = read_document(path, RESULT_KIND, "loadtest result")
    try:
        rows = [Second(**row) for row in document["timeline"]]
    except (KeyError, TypeError) as error:
        raise CommandError(f"{path}: a malformed timeline ({error})") from None
    return document, rows
