"""Serverless inference's arithmetic: what an endpoint of one shape bills and throttles, second by second.

Owns the billing model and the concurrency a rate needs; byom.plan.compare sets it against the
instance fleet for `byom plan`, and `byom simulate` runs it minute by minute. Must not know files,
the command line or the price table's JSON (it takes byom.plan.prices' parsed prices).

How SageMaker bills and limits a serverless endpoint, as modelled:
- Compute: each invocation's duration, rounded up to the millisecond, x memory in GB x the price
  per GB-second. The duration is a measured latency, the same for every request.
- Requests: x a price per request (SageMaker lists none for serverless; a table may set one).
- Provisioned concurrency N: N x memory GB x its price per GB-second for every second it is
  provisioned; the invocations it serves (up to N at a time) are billed at its own, lower compute
  price, those beyond it at the on-demand price.
- Concurrency by Little's law: rate x duration, a second's mean (arrivals bunch within a
  second, so leave headroom below the maximum). Past the maximum concurrency (at most 200 per
  endpoint) SageMaker throttles: those requests fail at once (a 429), they do not queue, and are
  not billed.
Not modelled: cold starts (a load test of a warm container has none), the account's concurrency
quota across endpoints, and data processed in and out (billed alike on instance endpoints).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from byom.plan.prices import ServerlessPrice, ServerlessPrices

MEMORY_SIZES_MB = (1024, 2048, 3072, 4096, 5120, 6144)
MAX_CONCURRENCY = 200


@dataclass(frozen=True)
class Shape:
    memory_mb: int
    max_concurrency: int = MAX_CONCURRENCY
    provisioned: int = 0

    @property
    def memory_gb(self) -> float:
        return self.memory_mb / 1024


@dataclass(frozen=True)
class Rates:
    """One shape's prices and billed duration: everything a second's bill needs."""

    shape: Shape
    billed_ms: int
    price: ServerlessPrice
    usd_per_request: float  # the per-request fee alone

    @property
    def billed_s(self) -> float:
        return self.billed_ms / 1000

    @property
    def on_demand_usd_per_request(self) -> float:
        """Compute plus fee for one request served on demand."""
        return self.billed_s * self.shape.memory_gb * self.price.usd_per_gb_second + self.usd_per_request

    @property
    def provisioned_usd_per_second(self) -> float:
        return self.shape.provisioned * self.shape.memory_gb * self.price.provisioned_usd_per_gb_second

    @property
    def servable_rps(self) -> float:
        """The highest rate the maximum concurrency serves (Little's law backwards)."""
        return self.shape.max_concurrency / self.billed_s


@dataclass(frozen=True)
class Seconds:
    """Per-second arrays over a profile."""

    offered: np.ndarray
    served: np.ndarray
    throttled: np.ndarray
    concurrency: np.ndarray  # needed, before throttling
    compute_usd: np.ndarray
    request_usd: np.ndarray
    provisioned_usd: np.ndarray

    @property
    def usd(self) -> np.ndarray:
        return np.asarray(self.compute_usd + self.request_usd + self.provisioned_usd)


@dataclass(frozen=True)
class Minute:
    """One minute of a serverless endpoint in `byom simulate`."""

    minute: int
    offered_rps: float
    served_rps: float
    peak_concurrency: float  # needed, before throttling
    throttle_rate: float  # share of the minute's requests throttled
    p99_ms: float  # the measured latency while any request is served (cold starts not modelled)
    cost: float  # cumulative, USD


@dataclass(frozen=True)
class Bill:
    requests: float
    throttled: float
    peak_concurrency: float
    compute_usd: float
    request_usd: float
    provisioned_usd: float

    @property
    def total_usd(self) -> float:
        return self.compute_usd + self.request_usd + self.provisioned_usd


def billed_ms(latency_ms: float) -> int:
    """AWS bills whole milliseconds, rounded up, and at least one."""
    return max(1, math.ceil(latency_ms - 1e-9))


def rates_for(shape: Shape, latency_ms: float, prices: ServerlessPrices, price: ServerlessPrice) -> Rates:
    return Rates(shape, billed_ms(latency_ms), price, prices.usd_per_million_requests / 1e6)


def per_second(rates: np.ndarray, billing: Rates) -> Seconds:
    """Each second of a profile (rates in req/s): what is served, throttled and billed."""
    offered = np.asarray(rates, dtype=float)
    served = np.minimum(offered, billing.servable_rps)
    warm = np.minimum(served, billing.shape.provisioned / billing.billed_s)
    gb_seconds = billing.billed_s * billing.shape.memory_gb
    price = billing.price
    compute = gb_seconds * (
        warm * price.provisioned_compute_usd_per_gb_second + (served - warm) * price.usd_per_gb_second
    )
    return Seconds(
        offered,
        served,
        offered - served,
        offered * billing.billed_s,
        compute,
        served * billing.usd_per_request,
        np.full(offered.shape, billing.provisioned_usd_per_second),
    )


def bill(rates: np.ndarray, billing: Rates) -> Bill:
    seconds = per_second(rates, billing)
    return Bill(
        float(seconds.offered.sum()),
        float(seconds.throttled.sum()),
        float(seconds.concurrency.max(initial=0.0)),
        float(seconds.compute_usd.sum()),
        float(seconds.request_usd.sum()),
        float(seconds.provisioned_usd.sum()),
    )


def breakeven_rps(fleet_usd_per_hour: float, billing: Rates) -> float:
    """The steady rate at which serverless costs what the fleet does per hour; below it serverless
    costs less. Provisioned concurrency's hourly price counts, its requests are priced on demand
    (an upper bound); 0 when provisioned concurrency alone costs more than the fleet."""
    spare = fleet_usd_per_hour / 3600 - billing.provisioned_usd_per_second
    per_request = billing.on_demand_usd_per_request
    if spare <= 0:
        return 0.0
    return math.inf if per_request == 0 else spare / per_request


def minutes(rates: np.ndarray, billing: Rates, latency_ms: float) -> list[Minute]:
    """The profile minute by minute, the last minute possibly shorter, as byom.plan.fleet reports it."""
    seconds = per_second(rates, billing)
    cost = np.cumsum(seconds.usd)
    found = []
    for index, start in enumerate(range(0, len(seconds.offered), 60)):
        span = slice(start, start + 60)
        offered, served = seconds.offered[span], seconds.served[span]
        arrivals = float(offered.sum())
        found.append(
            Minute(
                index,
                round(arrivals / 60, 2),
                round(float(served.sum()) / 60, 2),
                round(float(seconds.concurrency[span].max()), 2),
                round(float(seconds.throttled[span].sum()) / arrivals, 5) if arrivals else 0.0,
                latency_ms if served.sum() > 0 else 0.0,
                round(float(cost[span][-1]), 6),
            )
        )
    return found
