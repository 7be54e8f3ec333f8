"""A second-by-second model of a SageMaker variant's fleet under a traffic profile, with or without
Application Auto Scaling target tracking. It owns the arithmetic only; byom.plan.simulate reads files.

What is modelled, and how:
- Each instance serves up to `capacity_rps` (the plan's saturation); load is spread evenly. Its
  p99 below capacity follows the plan's measured latency curve.
- Past capacity, requests queue (one fluid queue for the fleet): the newest request waits
  backlog / capacity seconds, added to its p99; a request that would wait past `timeout_s` (the
  60 s invocation limit) fails, so an overloaded fleet shows seconds of latency, then errors.
- Metrics are one-minute datapoints: InvocationsPerInstance = requests received / instances in
  service; CPUUtilization = utilisation x 100 x vCPUs (CPU taken as proportional to load).
- Target tracking as AWS describes it: the scale-out alarm needs 3 consecutive datapoints above
  the target, the scale-in alarm 15 below 90% of it. The new capacity is
  ceil(in-service x metric / target) within [min, max]. Capacity already starting counts, so a
  scale-out only adds beyond it (AWS's rule during the scale-out cooldown). Scale-in waits until no
  instance is starting, the scale-out cooldown since the last scale-out and the scale-in cooldown
  since the last scaling activity have passed.
- A new instance serves `start_s` after the decision (the seed saw 5-7 minutes); one removed stops
  serving at once and is billed for `stop_s` more. Cost is billed per second of every instance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

SCALE_OUT_DATAPOINTS = 3
SCALE_IN_DATAPOINTS = 15
SCALE_IN_RATIO = 0.9


@dataclass(frozen=True)
class InstanceModel:
    capacity_rps: float
    curve: Sequence[tuple[float, float]]  # (rps per instance, p99 ms)
    usd_per_hour: float
    vcpus: int = 2
    timeout_s: float = 60.0

    def p99_ms(self, rps: float) -> float:
        if not self.curve:
            return 0.0
        rates, p99s = zip(*self.curve, strict=True)
        return float(np.interp(rps, rates, p99s))


@dataclass(frozen=True)
class Autoscaling:
    metric: str  # "invocations" or "cpu"
    target_value: float
    min_instances: int
    max_instances: int
    scale_in_cooldown_s: float = 300
    scale_out_cooldown_s: float = 300


@dataclass(frozen=True)
class Timing:
    start_s: float = 360
    stop_s: float = 60


@dataclass(frozen=True)
class Minute:
    minute: int
    offered_rps: float
    instances: float  # in service, averaged over the minute
    desired: int
    utilisation: float
    p99_ms: float  # the worst second's
    error_rate: float
    cost: float  # cumulative, USD
    metric: float  # the datapoint target tracking saw


@dataclass
class _Fleet:
    in_service: int
    desired: int
    starting: list[float] = field(default_factory=list)  # ready times
    stopping: list[float] = field(default_factory=list)  # billing end times
    backlog: float = 0.0
    last_scale_out: float = -math.inf
    last_activity: float = -math.inf

    def tick(self, now: float) -> None:
        ready = [t for t in self.starting if t <= now]
        self.in_service += len(ready)
        self.starting = [t for t in self.starting if t > now]
        self.stopping = [t for t in self.stopping if t > now]

    @property
    def billed(self) -> int:
        return self.in_service + len(self.starting) + len(self.stopping)


@dataclass
class _MinuteTally:
    arrivals: float = 0.0
    served: float = 0.0
    failed: float = 0.0
    instance_seconds: float = 0.0
    worst_p99: float = 0.0


def simulate(
    rates: np.ndarray, model: InstanceModel, instances: int, policy: Autoscaling | None, timing: Timing
) -> list[Minute]:
    """The fleet minute by minute; `policy` None is a fixed fleet of `instances`."""
    fleet, minutes, datapoints = _Fleet(instances, instances), list[Minute](), list[float]()
    metric = policy.metric if policy is not None else "invocations"
    tally, cost = _MinuteTally(), 0.0
    for second, rate in enumerate(rates):
        fleet.tick(second)
        _serve_one_second(fleet, model, float(rate), tally)
        cost += fleet.billed * model.usd_per_hour / 3600
        if second % 60 == 59 or second == len(rates) - 1:
            minute = _close_minute(len(minutes), tally, fleet, model, cost, metric)
            minutes.append(minute)
            datapoints.append(minute.metric)
            if policy is not None:
                _autoscale(fleet, policy, datapoints, minute.instances, second + 1, timing)
            tally = _MinuteTally()
    return minutes


def _serve_one_second(fleet: _Fleet, model: InstanceModel, rate: float, tally: _MinuteTally) -> None:
    capacity = fleet.in_service * model.capacity_rps
    fleet.backlog += rate
    served = min(fleet.backlog, capacity)
    fleet.backlog -= served
    longest_queue = capacity * model.timeout_s
    failed = max(0.0, fleet.backlog - longest_queue) if capacity else fleet.backlog
    fleet.backlog -= failed
    per_instance = min(rate / fleet.in_service, model.capacity_rps) if fleet.in_service else 0.0
    wait_ms = 1000 * fleet.backlog / capacity if capacity else 1000 * model.timeout_s
    tally.arrivals += rate
    tally.served += served
    tally.failed += failed
    tally.instance_seconds += fleet.in_service
    tally.worst_p99 = max(tally.worst_p99, model.p99_ms(per_instance) + wait_ms)


def _close_minute(
    index: int, tally: _MinuteTally, fleet: _Fleet, model: InstanceModel, cost: float, metric: str
) -> Minute:
    seconds = 60.0
    instances = tally.instance_seconds / seconds
    capacity = instances * model.capacity_rps * seconds
    utilisation = tally.served / capacity if capacity else 1.0
    per_instance = tally.arrivals / instances if instances else math.inf
    datapoint = utilisation * 100 * model.vcpus if metric == "cpu" else per_instance
    return Minute(
        minute=index,
        offered_rps=round(tally.arrivals / seconds, 2),
        instances=round(instances, 2),
        desired=fleet.desired,
        utilisation=round(utilisation, 4),
        p99_ms=round(tally.worst_p99, 2),
        error_rate=round(tally.failed / tally.arrivals, 5) if tally.arrivals else 0.0,
        cost=round(cost, 4),
        metric=round(datapoint, 2),
    )


def _autoscale(
    fleet: _Fleet, policy: Autoscaling, datapoints: list[float], instances: float, now: float, timing: Timing
) -> None:
    """One evaluation at the end of a minute; `instances` is the minute's average in service."""
    recent_out = datapoints[-SCALE_OUT_DATAPOINTS:]
    recent_in = datapoints[-SCALE_IN_DATAPOINTS:]
    target = policy.target_value
    wanted = math.ceil(instances * datapoints[-1] / target - 1e-9) if target else fleet.desired
    wanted = min(max(wanted, policy.min_instances), policy.max_instances)
    if len(recent_out) == SCALE_OUT_DATAPOINTS and min(recent_out) > target and wanted > fleet.desired:
        fleet.starting += [now + timing.start_s] * (wanted - fleet.desired)
        fleet.desired, fleet.last_scale_out, fleet.last_activity = wanted, now, now
    elif (
        len(recent_in) == SCALE_IN_DATAPOINTS
        and max(recent_in) < SCALE_IN_RATIO * target
        and wanted < fleet.desired
        and not fleet.starting
        and now - fleet.last_scale_out >= policy.scale_out_cooldown_s
        and now - fleet.last_activity >= policy.scale_in_cooldown_s
    ):
        removed = min(fleet.desired - wanted, fleet.in_service - 1)
        fleet.in_service -= removed
        fleet.stopping += [now + timing.stop_s] * removed
        fleet.desired, fleet.last_activity = fleet.desired - removed, now


def first_breach(
    rates: np.ndarray, model: InstanceModel, instances: int, p99_ms: float, error_budget: float
) -> int | None:
    """The first second a fixed fleet's predicted p99 or error rate leaves the SLO (None: never)."""
    fleet = _Fleet(instances, instances)
    for second, rate in enumerate(rates):
        tally = _MinuteTally()
        _serve_one_second(fleet, model, float(rate), tally)
        failed = tally.failed / tally.arrivals if tally.arrivals else 0.0
        if tally.worst_p99 > p99_ms or failed > error_budget:
            return second
    return None
