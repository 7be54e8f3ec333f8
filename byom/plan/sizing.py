"""The capacity plan's arithmetic: scaling target, fleet bounds and cost, from MAX_RPS.

AWS's formula for target tracking on SageMakerVariantInvocationsPerInstance (a per-minute metric):
target = MAX_RPS x safety factor x 60. The minimum fleet is at least two instances (one per
Availability Zone survives a zone's loss); the maximum is what the stated peak needs at the target
load per instance. On CPUUtilization the target is a per-core percentage times the vCPUs, because
SageMaker's CPUUtilization is summed over cores (100% per core). Over a traffic profile, the
tracked fleet is the one that follows its target exactly (no start lag, no cooldown): the least an
autoscaled fleet can cost, which `byom plan` sets against serverless.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from byom.errors import CommandError
from byom.plan.prices import InstanceType

MIN_INSTANCES_FOR_AVAILABILITY = 2


@dataclass(frozen=True)
class Sizing:
    target_rps_per_instance: float
    invocations_per_instance_per_minute: float
    min_instances: int
    max_instances: int


@dataclass(frozen=True)
class Cost:
    min_fleet_usd_per_hour: float
    max_fleet_usd_per_hour: float
    usd_per_million_at_target: float
    usd_per_million_at_max_rps: float


def check_safety_factor(factor: float) -> float:
    if not 0 < factor <= 1:
        raise CommandError(f"--safety-factor {factor}: must be in (0, 1]")
    return factor


def invocations_target(max_rps: float, safety_factor: float) -> float:
    """Target tracking's TargetValue for SageMakerVariantInvocationsPerInstance (per minute)."""
    return max_rps * check_safety_factor(safety_factor) * 60


def size_fleet(max_rps: float, safety_factor: float, min_instances: int, peak_rps: float | None) -> Sizing:
    if max_rps <= 0:
        raise CommandError("MAX_RPS is 0: no rate met the SLO, so there is nothing to plan from")
    if min_instances < MIN_INSTANCES_FOR_AVAILABILITY:
        raise CommandError(f"--min-instances {min_instances}: at least 2, so one Availability Zone can fail")
    if peak_rps is not None and not peak_rps >= 0:
        raise CommandError(f"--peak-rps {peak_rps}: must be >= 0")
    per_instance = max_rps * check_safety_factor(safety_factor)
    needed = math.ceil(peak_rps / per_instance - 1e-9) if peak_rps is not None else 2 * min_instances
    target = invocations_target(max_rps, safety_factor)
    return Sizing(per_instance, target, min_instances, max(min_instances, needed))


def cpu_target(per_core_percent: float, instance: InstanceType) -> float:
    """TargetValue for CPUUtilization: SageMaker sums it over cores, so 70% per core on 4 vCPUs is 280."""
    if not 0 < per_core_percent <= 100:
        raise CommandError(f"--cpu-target {per_core_percent}: a per-core percentage in (0, 100]")
    return per_core_percent * instance.vcpus


def cost(sizing: Sizing, max_rps: float, instance: InstanceType) -> Cost:
    hourly = instance.usd_per_hour

    def per_million(rps: float) -> float:
        return hourly / (rps * 3600) * 1e6

    return Cost(
        round(hourly * sizing.min_instances, 4),
        round(hourly * sizing.max_instances, 4),
        round(per_million(sizing.target_rps_per_instance), 4),
        round(per_million(max_rps), 4),
    )


@dataclass(frozen=True)
class Tracked:
    instance_hours: float
    usd: float


def tracked_fleet(rates: np.ndarray, sizing: Sizing, usd_per_hour: float) -> Tracked:
    """Each second ceil(rate / target rps per instance) instances within [min, max], billed per second."""
    needed = np.ceil(np.asarray(rates, dtype=float) / sizing.target_rps_per_instance - 1e-9)
    instances = np.clip(needed, sizing.min_instances, sizing.max_instances)
    hours = float(instances.sum()) / 3600
    return Tracked(hours, hours * usd_per_hour)
