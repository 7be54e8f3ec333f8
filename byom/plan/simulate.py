"""`byom simulate`: replay a traffic profile against a plan's fleet, BEFORE (fixed) vs AFTER (autoscaling).

Reads a plan (byom.plan.plan_file) for the instance model and the policy, a profile (the seed's two-hour
ramp by default, a CSV, or --ramp), runs byom.plan.fleet twice, prints a table, and writes
PREFIX.json, PREFIX.csv (both fleets, minute by minute) and PREFIX.png (side by side). A plan with
a serverless section is also run as that serverless endpoint (byom.plan.serverless: cost and
throttling per minute), in the table, the totals and the JSON. A plan made
from an artillery report says so first: its instance was measured per period, not per second.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from byom.errors import CommandError
from byom.plan import fleet, profile, serverless
from byom.plan.fleet import Autoscaling, InstanceModel, Minute, Timing
from byom.plan.prices import ServerlessPrice
from byom.shared import plots
from byom.shared.documents import read_plan


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "simulate", help="replay traffic against a plan's fleet, fixed vs autoscaling"
    )
    parser.add_argument("plan", type=Path, help="a `byom plan` JSON file")
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--profile", type=Path, help="CSV of `second,rps` or `minute,rps` (default: the seed's)"
    )
    source.add_argument("--ramp", metavar="START:END:DURATION", help="a linear ramp, e.g. 100:900:60s")
    parser.add_argument("--fixed-instances", type=int, help="BEFORE fleet size (default: the plan's minimum)")
    parser.add_argument(
        "--start-minutes", type=float, default=6.0, help="instance start time (6; the seed saw 5-7)"
    )
    parser.add_argument("--stop-minutes", type=float, default=1.0, help="billed time after scale-in (1)")
    parser.add_argument("--timeout", type=float, default=60.0, help="invocation timeout, seconds (60)")
    parser.add_argument("--every", type=int, default=5, help="table row every N minutes (5)")
    parser.add_argument(
        "--out", type=Path, default=Path("simulate"), help="output prefix (default ./simulate)"
    )
    parser.set_defaults(run=run)


def run(arguments: argparse.Namespace) -> int:
    check_numbers(arguments)
    rates = traffic(arguments).rates()
    if not len(rates):
        raise CommandError("the traffic profile is shorter than one second")
    plan = read_plan(arguments.plan)
    print_resolution(plan)
    model, policy, slo = instance_model(plan, arguments.timeout), autoscaling(plan), plan_slo(plan)
    fixed = policy.min_instances if arguments.fixed_instances is None else arguments.fixed_instances
    timing = Timing(arguments.start_minutes * 60, arguments.stop_minutes * 60)
    before = fleet.simulate(rates, model, fixed, None, timing)
    after = fleet.simulate(rates, model, policy.min_instances, policy, timing)
    breach = fleet.first_breach(rates, model, fixed, *slo)
    shape = serverless_model(plan)
    lean = serverless.minutes(rates, *shape) if shape is not None else None
    prefix: Path = arguments.out
    prefix.parent.mkdir(parents=True, exist_ok=True)
    written = write_outputs(prefix, before, after, fixed, slo, lean)
    print_table(before, after, arguments.every, lean)
    print_totals(before, after, fixed, breach, rates)
    if shape is not None and lean is not None:
        print_serverless_totals(shape[0], lean)
    print("wrote " + ", ".join(str(path) for path in written))
    return 0


def check_numbers(arguments: argparse.Namespace) -> None:
    if arguments.fixed_instances is not None and arguments.fixed_instances < 1:
        raise CommandError("--fixed-instances must be at least 1")
    if arguments.every < 1 or not arguments.timeout > 0:
        raise CommandError("--every must be at least 1 and --timeout above 0")
    if min(arguments.start_minutes, arguments.stop_minutes) < 0:
        raise CommandError("--start-minutes and --stop-minutes must be >= 0")


def print_resolution(plan: dict[str, Any]) -> None:
    resolution = plan.get("capacity", {}).get("resolution_s", 1)
    if isinstance(resolution, int | float) and resolution > 1:
        print(
            f"the plan's instance was measured per {resolution:g} s period ({plan.get('source', {}).get('method')}): "
            "its capacity and latency curve are period averages, blind to shorter bursts"
        )


def plan_slo(plan: dict[str, Any]) -> tuple[float, float]:
    try:
        return float(plan["slo"]["p99_ms"]), float(plan["slo"]["error_budget"])
    except (KeyError, TypeError, ValueError) as error:
        raise CommandError(f"the plan lacks its slo section ({error})") from None


def traffic(arguments: argparse.Namespace) -> profile.Profile:
    return profile.from_options(arguments.profile, arguments.ramp)


def instance_model(plan: dict[str, Any], timeout: float) -> InstanceModel:
    try:
        found, instance = plan["capacity"], plan["instance"]
        curve = [(float(rate), float(p99)) for rate, p99 in found["latency_curve"]]
        return InstanceModel(
            float(found["saturation_rps"]),
            curve,
            float(instance["usd_per_hour"]),
            int(instance["vcpus"]),
            timeout,
        )
    except (KeyError, TypeError, ValueError) as error:
        raise CommandError(f"the plan lacks its capacity or instance section ({error})") from None


def serverless_model(plan: dict[str, Any]) -> tuple[serverless.Rates, float] | None:
    """The plan's serverless shape and its measured latency; None when the plan compared none."""
    section = plan.get("serverless")
    if not isinstance(section, dict) or not section.get("compared"):
        return None
    try:
        found = section["prices"]
        memory = int(section["memory_mb"])
        shape = serverless.Shape(
            memory, int(section["max_concurrency"]), int(section["provisioned_concurrency"])
        )
        price = ServerlessPrice(
            memory,
            float(found["usd_per_gb_second"]),
            float(found["provisioned_usd_per_gb_second"]),
            float(found["provisioned_compute_usd_per_gb_second"]),
        )
        billing = serverless.Rates(
            shape,
            int(section["billed_ms_per_request"]),
            price,
            float(found["usd_per_million_requests"]) / 1e6,
        )
        return billing, float(section["latency_ms"])
    except (KeyError, TypeError, ValueError) as error:
        raise CommandError(f"the plan's serverless section is incomplete ({error})") from None


def autoscaling(plan: dict[str, Any]) -> Autoscaling:
    try:
        s = plan["scaling"]
        return Autoscaling(
            s["metric"],
            float(s["target_value"]),
            int(s["min_instances"]),
            int(s["max_instances"]),
            float(s["scale_in_cooldown_s"]),
            float(s["scale_out_cooldown_s"]),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise CommandError(f"the plan lacks its scaling section ({error})") from None


def write_outputs(
    prefix: Path,
    before: Sequence[Minute],
    after: Sequence[Minute],
    fixed: int,
    slo: tuple[float, float] | None = None,
    lean: Sequence[serverless.Minute] | None = None,
) -> list[Path]:
    """The JSON, the CSV and the PNG; `slo` (p99 ms, error budget) is drawn on the PNG; the
    serverless minutes (`lean`) go in the JSON only."""
    paths = [prefix.with_suffix(suffix) for suffix in (".json", ".csv", ".png")]
    document = {
        "kind": "byom.simulation",
        "version": 1,
        "fixed_instances": fixed,
        "before": [asdict(m) for m in before],
        "after": [asdict(m) for m in after],
    }
    if lean is not None:
        document["serverless"] = [asdict(m) for m in lean]
    paths[0].write_text(json.dumps(document, indent=1) + "\n")
    with paths[1].open("w", newline="") as handle:
        writer = csv.writer(handle)
        names = list(asdict(before[0])) if before else []
        writer.writerow(["fleet", *names])
        for label, minutes in (("before", before), ("after", after)):
            writer.writerows([label, *asdict(m).values()] for m in minutes)
    title = f"byom simulate: BEFORE ({fixed} fixed) vs AFTER (autoscaling)"
    p99_ms, budget = slo if slo is not None else (None, None)
    plots.write_simulation_png(paths[2], before, after, title, slo_p99_ms=p99_ms, error_budget=budget)
    return paths


def print_table(
    before: Sequence[Minute],
    after: Sequence[Minute],
    every: int,
    lean: Sequence[serverless.Minute] | None = None,
) -> None:
    extra = f" | {'SRVLESS conc':>12} {'thr':>6} {'cost $':>8}" if lean is not None else ""
    print(
        f"{'min':>4} {'req/s':>7} | {'BEFORE inst':>11} {'p99 ms':>9} {'err':>6} | "
        f"{'AFTER inst':>10} {'p99 ms':>9} {'err':>6} {'util':>5} {'cost $':>8}{extra}"
    )
    for b, a in zip(before, after, strict=True):
        if b.minute % every == 0 or b.minute == len(before) - 1:
            s = lean[b.minute] if lean is not None else None
            more = (
                f" | {s.peak_concurrency:12.1f} {s.throttle_rate:6.1%} {s.cost:8.2f}" if s is not None else ""
            )
            print(
                f"{b.minute:4d} {b.offered_rps:7.0f} | {b.instances:11.1f} {b.p99_ms:9.1f} {b.error_rate:6.1%} | "
                f"{a.instances:10.1f} {a.p99_ms:9.1f} {a.error_rate:6.1%} {a.utilisation:5.0%} {a.cost:8.2f}{more}"
            )


def print_totals(
    before: Sequence[Minute], after: Sequence[Minute], fixed: int, breach: int | None, rates: Any
) -> None:
    for label, minutes in ((f"BEFORE ({fixed} fixed)", before), ("AFTER (autoscaling)", after)):
        failed = sum(m.error_rate * m.offered_rps * 60 for m in minutes)
        worst = max((m.p99_ms for m in minutes), default=0.0)
        cost = minutes[-1].cost if minutes else 0.0
        print(
            f"{label}: cost ${cost:.2f}, failed requests {failed:,.0f}, worst p99 {worst:,.1f} ms, "
            f"instances {min(m.instances for m in minutes):g}..{max(m.instances for m in minutes):g}"
        )
    if breach is None:
        print("BEFORE stays within the SLO throughout")
    else:
        print(
            f"BEFORE leaves the SLO at second {breach} (minute {breach // 60}), offered {rates[breach]:.0f} req/s"
        )


def print_serverless_totals(billing: serverless.Rates, lean: Sequence[serverless.Minute]) -> None:
    shape = billing.shape
    throttled = sum(m.throttle_rate * m.offered_rps * 60 for m in lean)
    peak = max((m.peak_concurrency for m in lean), default=0.0)
    print(
        f"SERVERLESS ({shape.memory_mb} MB, max concurrency {shape.max_concurrency}, provisioned "
        f"{shape.provisioned or 'none'}): cost ${lean[-1].cost if lean else 0.0:.2f}, throttled requests "
        f"{throttled:,.0f}, peak concurrency {peak:,.1f}, each request billed {billing.billed_ms} ms "
        "(cold starts not modelled)"
    )
