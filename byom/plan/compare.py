"""`byom plan`'s serverless comparison: the plan file's "serverless" section, arithmetic included.

Owns: the choice of serverless shape (memory, maximum and provisioned concurrency, from the
flags), the traffic it is priced over (a profile, as `byom simulate` reads one), and the verdict
against the instance fleet that follows its target over the same traffic (byom.plan.sizing).
The billing model is byom.plan.serverless's, the lines of arithmetic byom.plan.serverless_lines'
(what `byom plan` prints and the plan file keeps); must not know how the plan is printed or written.

Each request is billed for the p99 latency at MAX_RPS, rounded up to the millisecond: a measured
figure that errs high (the median request is shorter), so a verdict for serverless is not flattered.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from byom.errors import CommandError
from byom.plan import profile, serverless, serverless_lines, sizing
from byom.plan.prices import InstanceType, PriceTable
from byom.plan.serverless import Bill, Rates, Shape


def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--serverless-memory",
        type=int,
        metavar="MB",
        help="memory to price serverless at, 1024-6144 in steps of 1024 (default 1024, the smallest)",
    )
    group.add_argument(
        "--max-concurrency", type=int, help="serverless MaxConcurrency, 1-200 (default 200, the most)"
    )
    group.add_argument(
        "--provisioned-concurrency", type=int, help="serverless ProvisionedConcurrency (default none)"
    )
    traffic = group.add_mutually_exclusive_group()
    traffic.add_argument(
        "--profile",
        type=Path,
        help="traffic to price over: CSV of `second,rps` or `minute,rps` (default: the seed's)",
    )
    traffic.add_argument(
        "--profile-ramp",
        metavar="START:END:DURATION",
        help="traffic to price over: a linear ramp, e.g. 1:50:1h",
    )


@dataclass(frozen=True)
class Comparison:
    billing: Rates
    latency_ms: float
    traffic: profile.Profile
    peak_rps: float
    cost: Bill
    fleet: sizing.Tracked
    breakeven_rps: float


def section(
    arguments: argparse.Namespace,
    latency_ms: float,
    sized: sizing.Sizing,
    instance: InstanceType,
    table: PriceTable,
) -> dict[str, Any]:
    """The plan's "serverless" section; {"compared": false, reason} when the table has no serverless
    prices and no serverless flag asked for them."""
    shape = read_shape(arguments)
    if table.serverless is None and not asked_for(arguments):
        return {"compared": False, "reason": f"the price table {table.source} has no serverless prices"}
    prices, price = table.serverless_price(shape.memory_mb)
    billing = serverless.rates_for(shape, latency_ms, prices, price)
    traffic = profile.from_options(arguments.profile, arguments.profile_ramp, "--profile-ramp")
    rates = traffic.rates()
    if not len(rates):
        raise CommandError("the traffic profile is shorter than one second")
    comparison = Comparison(
        billing,
        latency_ms,
        traffic,
        float(rates.max()),
        serverless.bill(rates, billing),
        sizing.tracked_fleet(rates, sized, instance.usd_per_hour),
        serverless.breakeven_rps(sized.min_instances * instance.usd_per_hour, billing),
    )
    return document(comparison, arguments, sized, instance, prices.as_of)


def asked_for(arguments: argparse.Namespace) -> bool:
    flags = ("serverless_memory", "max_concurrency", "provisioned_concurrency", "profile", "profile_ramp")
    return any(getattr(arguments, flag) is not None for flag in flags)


def read_shape(arguments: argparse.Namespace) -> Shape:
    smallest = serverless.MEMORY_SIZES_MB[0]
    memory = smallest if arguments.serverless_memory is None else arguments.serverless_memory
    if memory not in serverless.MEMORY_SIZES_MB:
        raise CommandError(f"--serverless-memory {memory}: must be 1024, 2048, 3072, 4096, 5120 or 6144 MB")
    most = serverless.MAX_CONCURRENCY if arguments.max_concurrency is None else arguments.max_concurrency
    if not 1 <= most <= serverless.MAX_CONCURRENCY:
        raise CommandError(f"--max-concurrency {most}: must be 1-{serverless.MAX_CONCURRENCY}")
    provisioned = arguments.provisioned_concurrency or 0
    if arguments.provisioned_concurrency is not None and not 1 <= provisioned <= most:
        raise CommandError(
            f"--provisioned-concurrency {provisioned}: must be 1 up to the max concurrency ({most})"
        )
    return Shape(memory, most, provisioned)


def cheaper(comparison: Comparison) -> str:
    if comparison.cost.throttled > 0:
        return "instances"
    return "serverless" if comparison.cost.total_usd < comparison.fleet.usd else "instances"


def document(
    comparison: Comparison,
    arguments: argparse.Namespace,
    sized: sizing.Sizing,
    instance: InstanceType,
    as_of: str,
) -> dict[str, Any]:
    billing, cost, shape = comparison.billing, comparison.cost, comparison.billing.shape
    price = billing.price
    return {
        "compared": True,
        "memory_mb": shape.memory_mb,
        "memory_choice": "--serverless-memory" if arguments.serverless_memory is not None else "the smallest",
        "max_concurrency": shape.max_concurrency,
        "provisioned_concurrency": shape.provisioned,
        "latency_ms": comparison.latency_ms,
        "latency_basis": "p99 at MAX_RPS",
        "billed_ms_per_request": billing.billed_ms,
        "prices": {
            "usd_per_gb_second": price.usd_per_gb_second,
            "provisioned_usd_per_gb_second": price.provisioned_usd_per_gb_second,
            "provisioned_compute_usd_per_gb_second": price.provisioned_compute_usd_per_gb_second,
            "usd_per_million_requests": round(billing.usd_per_request * 1e6, 9),
            "as_of": as_of,
        },
        "usd_per_million_on_demand": round(billing.on_demand_usd_per_request * 1e6, 6),
        "profile": {
            "label": comparison.traffic.label,
            "duration_s": comparison.traffic.duration,
            "requests": round(cost.requests, 1),
            "peak_rps": round(comparison.peak_rps, 2),
        },
        "peak_concurrency": round(cost.peak_concurrency, 3),
        "throttled_requests": round(cost.throttled, 1),
        "serverless_usd": {
            "compute": round(cost.compute_usd, 6),
            "requests": round(cost.request_usd, 6),
            "provisioned": round(cost.provisioned_usd, 6),
            "total": round(cost.total_usd, 6),
        },
        "fleet_usd": round(comparison.fleet.usd, 6),
        "fleet_instance_hours": round(comparison.fleet.instance_hours, 4),
        "breakeven_rps": None
        if comparison.breakeven_rps == float("inf")
        else round(comparison.breakeven_rps, 2),
        "cheaper": cheaper(comparison),
        "arithmetic": serverless_lines.arithmetic(
            comparison, sized, instance, arguments.serverless_memory is None
        ),
        "not_measured": serverless_lines.NOT_MEASURED,
    }
