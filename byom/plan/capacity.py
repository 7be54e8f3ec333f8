"""What one instance sustains, read from a load test's timeline: MAX_RPS, saturation, latency curve.

MAX_RPS is the highest rate served over `window` consecutive seconds whose requests, taken
together, kept p99 within the SLO and errors within the budget (the seed's method: 15 ms, 5%),
as CloudWatch's p99 over a period would. The p99 comes from the seconds' latency histograms, so a
stall of a few hundredths of a second counts for the requests it delayed, not for its whole
second; a sustained overload never passes, because open-loop queues keep latency high once the
server falls behind. A timeline without histograms (a result file from before they were kept) is
judged by its worst second's p99. Saturation is the highest 2xx throughput sustained over a
window, whatever the latency: the simulator's capacity.

A row is one second of a `byom loadtest` timeline, or one period of an artillery report
(byom.measure.artillery_report, 10 s): its counts are per second either way, and a window is a
number of rows, so `byom plan` turns its window in seconds into periods for a report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from byom.measure import latency_histogram


class Row(Protocol):
    """A stretch of a timeline with its counts per second (a Second, an artillery Period)."""

    @property
    def second(self) -> int: ...
    @property
    def offered(self) -> float: ...
    @property
    def achieved(self) -> float: ...
    @property
    def ok(self) -> float: ...
    @property
    def error_count(self) -> float: ...
    @property
    def error_rate(self) -> float: ...
    @property
    def p99_ms(self) -> float: ...
    @property
    def latency_histogram(self) -> Sequence[Sequence[int]]: ...


@dataclass(frozen=True)
class Slo:
    p99_ms: float = 15.0
    error_budget: float = 0.05
    window: int = 5


@dataclass(frozen=True)
class Sustained:
    rps: float
    start_second: int
    p99_ms: float
    error_rate: float


def second_passes(row: Row, slo: Slo) -> bool:
    return row.offered > 0 and row.p99_ms <= slo.p99_ms and row.error_rate <= slo.error_budget


def max_sustained(rows: Sequence[Row], slo: Slo) -> Sustained | None:
    """The passing window with the highest served (2xx) rate; None when no window passes."""
    width = min(slo.window, len(rows))
    best: Sustained | None = None
    for start, p99 in enumerate(window_p99_ms(rows, width)):
        window = rows[start : start + width]
        offered = sum(row.offered for row in window)
        errors = sum(row.error_count for row in window) / offered if offered else 1.0
        if min(row.offered for row in window) == 0 or p99 > slo.p99_ms or errors > slo.error_budget:
            continue
        rate = sum(row.ok for row in window) / width
        if best is None or rate > best.rps:
            best = Sustained(rate, window[0].second, round(p99, 3), errors)
    return best


def window_p99_ms(rows: Sequence[Row], width: int) -> list[float]:
    """The p99 of all requests in each run of `width` seconds (the worst second's without histograms)."""
    if width < 1 or len(rows) < width:
        return []
    if any(row.offered and not row.latency_histogram for row in rows):
        return [max(row.p99_ms for row in rows[i : i + width]) for i in range(len(rows) - width + 1)]
    running = np.cumsum(latency_histogram.dense([row.latency_histogram for row in rows]), axis=0)
    windows = running[width - 1 :] - np.vstack([np.zeros_like(running[:1]), running[:-width]])
    return [float(p99) for p99 in np.nan_to_num(latency_histogram.percentiles(windows, 99))]


def saturation_rps(rows: Sequence[Row], window: int) -> float:
    """The highest 2xx completion rate sustained over `window` seconds. A second's completions
    count up to its offered load: a backlog draining in a burst is not extra capacity."""
    achieved = np.array([min(row.achieved, row.offered) for row in rows], dtype=float)
    width = min(window, achieved.size)
    if width == 0:
        return 0.0
    return float(np.convolve(achieved, np.ones(width) / width, mode="valid").max())


def latency_curve(
    rows: Sequence[Row], up_to_rps: float, bins: int = 20, per_bin: int = 3
) -> list[tuple[float, float]]:
    """(offered rps, p99 ms) points up to a rate: medians per rate bin, made non-decreasing in p99.

    Past saturation p99 depends on how long the overload has lasted, not on the rate, so those
    seconds are left out; the fleet model treats load past capacity separately.
    """
    points = sorted((row.offered, row.p99_ms) for row in rows if 0 < row.offered <= up_to_rps * 1.001)
    if not points:
        return []
    rates, p99s = np.array(points).T
    # At least `per_bin` rows per bin (three seconds), so one noisy second cannot move its bin's
    # median; an artillery period's p99 is already over ten seconds of requests.
    groups = np.array_split(np.arange(rates.size), max(1, min(bins, rates.size // per_bin)))
    curve_rates = [float(np.median(rates[group])) for group in groups]
    curve_p99 = non_decreasing([float(np.median(p99s[group])) for group in groups])
    return [(round(r, 2), round(p, 3)) for r, p in zip(curve_rates, curve_p99, strict=True)]


def non_decreasing(values: Sequence[float]) -> list[float]:
    """The closest non-decreasing sequence (pool adjacent violators): a noisy bin is averaged with
    its neighbours instead of lifting every bin after it."""
    blocks: list[list[float]] = []  # [mean, count]
    for value in values:
        blocks.append([value, 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            (mean_a, n_a), (mean_b, n_b) = blocks[-2], blocks.pop()
            blocks[-1] = [(mean_a * n_a + mean_b * n_b) / (n_a + n_b), n_a + n_b]
    return [mean for mean, count in blocks for _ in range(int(count))]
