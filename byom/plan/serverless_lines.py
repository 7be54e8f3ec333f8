"""The serverless comparison's arithmetic as lines: what `byom plan` prints and the plan file keeps.

Owns the wording and the rounding of each figure shown; the figures are byom.plan.compare's (a
line multiplies only to show its working). Must not price, bill or decide anything itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from byom.plan import sizing
from byom.plan.prices import InstanceType
from byom.plan.serverless import Shape

if TYPE_CHECKING:
    from byom.plan.compare import Comparison

NOT_MEASURED = (
    "not measured: cold starts (a load test of a warm container has none; a serverless endpoint starts "
    "workers after idle time and as concurrency grows, seconds each), nor a serverless worker's CPU share, "
    "which grows with its memory (the latency is the tested instance's)"
)


def usd(amount: float) -> str:
    """A price without an exponent: $0.00002, not $2e-05."""
    return "$" + (f"{amount:.10f}".rstrip("0").rstrip(".") or "0")


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
