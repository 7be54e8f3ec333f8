"""`byom plan`'s serverless comparison: the plan file's "serverless" section, arithmetic included.

Owns: the choice of serverless shape (memory, maximum and provisioned concurrency, from the
flags), the traffic it is priced over (a profile, as `byom simulate` reads one), and the verdict
against the instance fleet that follows its target over the same traffic (byom.plan.sizing).
The billing model is byom.plan.serverless's; must not know how the plan is printed or written:
the lines of arithmetic it returns are what `byom plan` prints and the plan file keeps.

Each request is billed for the p99 latency at MAX_RPS, rounded up to the millisecond: a measured
figure that errs high (the median request is shorter), so a verdict for serverless is not flattered.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from byom.errors import CommandError
from byom.plan import profile, serverless, sizing
from byom.plan.prices import InstanceType, PriceTable
from byom.plan.serverless import Bill, Rates, Shape

NOT_MEASURED = (
    "not measured: cold starts (a load test of a warm container has none; a serverless endpoint starts "
    "workers after idle time and as concurrency grows, seconds each), nor a serverless worker's CPU share, "
    "which grows with its memory (the latency is the tested instance's)"
)


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
    memory = 1024 if arguments.serverless_memory is None else arguments.serverless_memory
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


def usd(amount: float) -> str:
    """A price without an exponent: $0.00002, not $2e-05."""
    return "$" + (f"{amount:.10f}".rstrip("0").rstrip(".") or "0")


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
            "usd_per_million_requests": billing.usd_per_request * 1e6,
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
        "arithmetic": arithmetic(comparison, sized, instance, arguments.serverless_memory is None),
        "not_measured": NOT_MEASURED,
    }


def arithmetic(
    comparison: Comparison, sized: sizing.Sizing, instance: InstanceType, default_memory: bool
) -> list[str]:
    return [
        shape_line(comparison.billing.shape, default_memory),
        billed_line(comparison),
        traffic_line(comparison),
        serverless_line(comparison),
        fleet_line(comparison, sized, instance),
        verdict_line(comparison, sized, instance),
        "  " + NOT_MEASURED,
    ]


def shape_line(shape: Shape, default_memory: bool) -> str:
    choice = (
        "the smallest size: pass --serverless-memory if the model and its container need more"
        if default_memory
        else "--serverless-memory"
    )
    provisioned = shape.provisioned or "none"
    return (
        f"serverless {shape.memory_mb} MB ({choice}), max concurrency {shape.max_concurrency}, "
        f"provisioned concurrency {provisioned}"
    )


def billed_line(comparison: Comparison) -> str:
    billing = comparison.billing
    gb, price = billing.shape.memory_gb, billing.price.usd_per_gb_second
    return (
        f"  per request: p99 at MAX_RPS {comparison.latency_ms:g} ms, billed {billing.billed_ms} ms (rounded up to "
        f"the ms) x {gb:g} GB x {usd(price)}/GB-s + {usd(billing.usd_per_request * 1e6)}/million requests "
        f"= ${billing.on_demand_usd_per_request * 1e6:.4g} per million on demand"
    )


def traffic_line(comparison: Comparison) -> str:
    billing, cost = comparison.billing, comparison.cost
    most = billing.shape.max_concurrency
    throttled = ": nothing throttled"
    if cost.throttled > 0:
        share = cost.throttled / cost.requests
        throttled = f": {cost.throttled:,.0f} requests ({share:.2%}) throttled above {billing.servable_rps:,.0f} req/s"
    return (
        f"  traffic: {comparison.traffic.label}, {cost.requests:,.0f} requests in {comparison.traffic.duration:g} s; "
        f"peak concurrency {comparison.peak_rps:,.1f} req/s x {billing.billed_s:g} s = {cost.peak_concurrency:.4g} "
        f"of {most} (Little's law){throttled}"
    )


def serverless_line(comparison: Comparison) -> str:
    billing, cost = comparison.billing, comparison.cost
    shape, price = billing.shape, billing.price
    warm = (
        f" (up to {shape.provisioned} at a time at {usd(price.provisioned_compute_usd_per_gb_second)}/GB-s)"
    )
    provisioned = (
        f" + provisioned {shape.provisioned} x {shape.memory_gb:g} GB x {usd(price.provisioned_usd_per_gb_second)}/GB-s "
        f"x {comparison.traffic.duration:g} s ${cost.provisioned_usd:.4g}"
    )
    if not shape.provisioned:
        warm = provisioned = ""
    return (
        f"  serverless over it: compute {cost.requests - cost.throttled:,.0f} x {billing.billed_s:g} s x "
        f"{shape.memory_gb:g} GB{warm} ${cost.compute_usd:.4g} + requests ${cost.request_usd:.4g}{provisioned} "
        f"= ${cost.total_usd:.4g}"
    )


def fleet_line(comparison: Comparison, sized: sizing.Sizing, instance: InstanceType) -> str:
    fleet = comparison.fleet
    ceiling = sized.max_instances * sized.target_rps_per_instance
    short = ""
    if comparison.peak_rps > ceiling * (1 + 1e-9):
        short = f"; its peak needs more than {sized.max_instances} instances at the target load (raise --peak-rps)"
    return (
        f"  instances over it: {sized.min_instances}..{sized.max_instances} {instance.name} tracking "
        f"{sized.target_rps_per_instance:g} req/s each, {fleet.instance_hours:.4g} instance-hours x "
        f"${instance.usd_per_hour:g} = ${fleet.usd:.4g} (no start lag or cooldown: the least the fleet costs){short}"
    )


def verdict_line(comparison: Comparison, sized: sizing.Sizing, instance: InstanceType) -> str:
    cost, fleet, billing = comparison.cost, comparison.fleet, comparison.billing
    if cost.throttled > 0:
        verdict = f"serverless cannot carry this traffic at max concurrency {billing.shape.max_concurrency}"
    elif cost.total_usd < fleet.usd:
        verdict = f"serverless costs less for this traffic (${cost.total_usd:.4g} < ${fleet.usd:.4g})"
    else:
        verdict = (
            f"the instance fleet costs less for this traffic (${fleet.usd:.4g} <= ${cost.total_usd:.4g})"
        )
    hourly = sized.min_instances * instance.usd_per_hour
    breakeven = comparison.breakeven_rps
    if breakeven == 0:
        steady = "at no steady rate: its provisioned concurrency alone costs more"
    elif breakeven > billing.servable_rps:
        steady = f"at any steady rate it can serve (up to {billing.servable_rps:,.0f} req/s)"
    else:
        steady = f"below {breakeven:,.1f} req/s sustained"
    return f"  {verdict}; against the {sized.min_instances}-instance minimum (${hourly:g}/hour) serverless costs less {steady}"
