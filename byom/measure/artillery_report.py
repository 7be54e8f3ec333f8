"""Artillery's own JSON report (`artillery run --output report.json`) read as a timeline of periods.

Owns: recognising a report by its shape, and turning each of its reporting periods into a
`Period`, a row `byom plan` judges as it judges a second of a `byom loadtest` result (the rows of
byom.plan.capacity). Must not know what a plan does with them.

A report is {"aggregate": {...}, "intermediate": [period, ...]}, written the same way by
artillery's distributed runners (Lambda, Fargate), their workers' periods merged. A period has
`period` (its start, epoch ms, a string or a number; artillery's periods are 10 s, aligned to the
wall clock), `firstMetricAt` and `lastMetricAt` (epoch ms), `counters` (`http.requests`,
`http.codes.NNN`, `errors.CODE`...) and `summaries` (`histograms` in older reports) with
`http.response_time`: {min, max, count, mean, p50, median, p75, p90, p95, p99, p999}.

How a period becomes a row:
- its length is the reporting period clipped to the run (from the first metric to the last), so
  the first and last periods are usually partial; one shorter than half a period is left out, too
  short to judge, and a period missing inside the run becomes an empty row, so that no window of
  several periods spans a gap;
- offered is `http.requests` per second, ok and achieved the 2xx codes per second (artillery
  counts a response when it arrives); errors are every other `http.codes.NNN` and every
  `errors.X` (ETIMEDOUT, ECONNREFUSED...), by name, and the error rate is errors / requests;
- p50, p95 and p99 are the period's `http.response_time`: artillery's own sketch of the
  responses that period (1% relative accuracy; a request without a response has no latency),
  timed from the request's send to its first byte, in whole milliseconds. There is no histogram to
  pool periods with, so a window of several periods is judged by its worst period's p99.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from byom.errors import CommandError

DEFAULT_PERIOD_S = 10.0  # artillery's reporting period (not configurable in v2)
LATENCY_METRIC = "http.response_time"


@dataclass(frozen=True)
class Period:
    """One reporting period: its counts as artillery gave them, read per second as a row."""

    second: int  # its start, seconds after the first period's
    seconds: float  # its length within the run
    requests: int
    ok_count: int
    errors: Mapping[str, int] = field(default_factory=dict)
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    latency_histogram: Sequence[Sequence[int]] = ()  # none: artillery keeps its own

    @property
    def offered(self) -> float:
        return self.requests / self.seconds

    @property
    def ok(self) -> float:
        return self.ok_count / self.seconds

    @property
    def achieved(self) -> float:
        return self.ok

    @property
    def error_count(self) -> float:
        """Errors per second, so that error_count / offered is the period's error rate."""
        return sum(self.errors.values()) / self.seconds

    @property
    def error_rate(self) -> float:
        return sum(self.errors.values()) / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class Report:
    periods: list[Period]
    period_s: float
    left_out: list[Period]  # partial periods too short to judge


def is_report(document: Any) -> bool:
    """Whether a JSON document has an artillery report's shape."""
    return (
        isinstance(document, dict)
        and "kind" not in document
        and isinstance(document.get("intermediate"), list)
        and isinstance(document.get("aggregate"), dict)
    )


def looks_like_report(path: Path) -> bool:
    """Whether a file holds an artillery report; False for anything unreadable (its reader says why)."""
    try:
        return is_report(json.loads(path.read_text()))
    except (OSError, ValueError):
        return False


def read(path: Path) -> Report:
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise CommandError(f"cannot read the artillery report {path}: {error}") from None
    try:
        return from_document(document)
    except (KeyError, TypeError, ValueError) as error:
        raise CommandError(f"{path}: a malformed artillery report ({error!r})") from None


def from_document(document: Mapping[str, Any]) -> Report:
    entries = sorted(document["intermediate"], key=lambda entry: int(entry["period"]))
    if not entries:
        raise CommandError("the artillery report has no periods (intermediate is empty)")
    starts = [int(entry["period"]) for entry in entries]
    period_ms = nominal_period_ms(starts)
    if any((start - starts[0]) % period_ms for start in starts):
        raise CommandError(f"the artillery report's periods do not fall on a {period_ms / 1000:g} s grid")
    run = (min(map(_first_at, entries)), max(_last_at(e, period_ms) for e in entries))
    by_start = dict(zip(starts, entries, strict=True))
    rows = [
        period_row(by_start.get(start), start, starts[0], period_ms, run)
        for start in range(starts[0], starts[-1] + 1, period_ms)
    ]
    judged = [row.seconds * 1000 >= period_ms / 2 for row in rows]
    kept = [row for row, ok in zip(rows, judged, strict=True) if ok]
    return Report(kept, period_ms / 1000, [row for row, ok in zip(rows, judged, strict=True) if not ok])


def _first_at(entry: Mapping[str, Any]) -> float:
    return float(entry.get("firstMetricAt", entry.get("firstCounterAt", int(entry["period"]))))


def _last_at(entry: Mapping[str, Any], period_ms: int) -> float:
    return float(entry.get("lastMetricAt", entry.get("lastCounterAt", int(entry["period"]) + period_ms)))


def nominal_period_ms(starts: Sequence[int]) -> int:
    """The reporting period: artillery's 10 s, or the shortest step between period starts if shorter
    (a step of several periods is a gap)."""
    steps = [b - a for a, b in itertools.pairwise(starts) if b > a]
    return min([*steps, int(DEFAULT_PERIOD_S * 1000)])


def period_row(
    entry: Mapping[str, Any] | None, start: int, first: int, period_ms: int, run: tuple[float, float]
) -> Period:
    """One period as a row; an empty row (no requests) where the report has none."""
    length_ms = min(start + period_ms, run[1]) - max(start, run[0])
    second, seconds = round((start - first) / 1000), max(length_ms, 1.0) / 1000
    if entry is None:
        return Period(second, seconds, 0, 0)
    counters: Mapping[str, int] = entry.get("counters", {})
    latency = latency_summary(entry)
    return Period(
        second,
        seconds,
        int(counters.get("http.requests", 0)),
        sum(int(n) for name, n in counters.items() if _is_2xx(name)),
        errors_of(counters),
        float(latency.get("p50", latency.get("median", 0.0))),
        float(latency.get("p95", 0.0)),
        float(latency.get("p99", 0.0)),
    )


def latency_summary(entry: Mapping[str, Any]) -> Mapping[str, float]:
    for section in ("summaries", "histograms"):
        summary = (entry.get(section) or {}).get(LATENCY_METRIC)
        if summary:
            return {name: value for name, value in summary.items() if _finite(value)}
    return {}


def errors_of(counters: Mapping[str, int]) -> dict[str, int]:
    """Every status outside 2xx, by code, and every error without a status, by artillery's name."""
    errors: dict[str, int] = {}
    for name, count in counters.items():
        if (name.startswith("http.codes.") and not _is_2xx(name)) or name.startswith("errors."):
            errors[name.removeprefix("http.codes.").removeprefix("errors.")] = int(count)
    return {name: n for name, n in errors.items() if n}


def _is_2xx(name: str) -> bool:
    code = name.removeprefix("http.codes.")
    return name.startswith("http.codes.") and code.isdigit() and 200 <= int(code) < 300


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)
