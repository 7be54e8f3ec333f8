"""Latency histograms in log-spaced buckets: percentiles over any run of seconds without every request.

A load test keeps one histogram per second, so `byom plan` can judge a window of seconds by the
p99 of all its requests together, as CloudWatch's p99 over a period does, instead of by each
second's own p99 (one short stall then spoils a whole window). Bucket `i` holds latencies in
[BASE_MS * 2**(i / PER_OCTAVE), BASE_MS * 2**((i + 1) / PER_OCTAVE)), the first one everything
below. A percentile is read as the upper edge of its bucket: at most 1/16 octave (4.4%) above the
exact value and never below it, so an SLO check on it errs on the strict side.

A histogram is stored sparse, as [bucket, count] pairs in bucket order (the JSON form).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

BASE_MS = 0.01
PER_OCTAVE = 16
BUCKETS = 30 * PER_OCTAVE  # up to 0.01 ms * 2**30: about 3 hours

Sparse = Sequence[Sequence[int]]


def of(latency_ms: np.ndarray) -> list[list[int]]:
    """The sparse histogram of some latencies."""
    buckets, counts = np.unique(_bucket(latency_ms), return_counts=True)
    return [[int(b), int(c)] for b, c in zip(buckets, counts, strict=True)]


def dense(histograms: Sequence[Sparse]) -> np.ndarray:
    """One row of BUCKETS counts per histogram."""
    table = np.zeros((len(histograms), BUCKETS), dtype=np.int64)
    for row, pairs in enumerate(histograms):
        for bucket, count in pairs:
            table[row, bucket] += count
    return table


def percentiles(counts: np.ndarray, q: float) -> np.ndarray:
    """The q-th percentile (0-100) of each row of dense counts, in ms; NaN for an empty row."""
    cumulative = np.cumsum(counts, axis=-1)
    totals = cumulative[..., -1:]
    rank = np.maximum(np.ceil(np.round(totals * q / 100, 6)), 1)  # nearest rank; 19980.000000000004 is 19980
    bucket = (cumulative < rank).sum(axis=-1)
    return np.where(totals[..., 0] > 0, upper_edge(bucket), math.nan)


def upper_edge(bucket: np.ndarray) -> np.ndarray:
    return BASE_MS * 2.0 ** ((bucket + 1) / PER_OCTAVE)


def _bucket(latency_ms: np.ndarray) -> np.ndarray:
    clipped = np.maximum(latency_ms, BASE_MS)
    bucket: np.ndarray = (np.log2(clipped / BASE_MS) * PER_OCTAVE).astype(np.int64)
    bucket += clipped >= upper_edge(bucket)  # where the logarithm rounded down across an edge
    np.minimum(bucket, BUCKETS - 1, out=bucket)
    return bucket
