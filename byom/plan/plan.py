"""`byom plan`: MAX_RPS from a load test (or a step search it runs), then the scaling policy and cost.

The load test is a `byom loadtest` result, judged second by second, or artillery's own JSON report
(recognised by its shape: byom.measure.artillery_report), judged period by period; the plan says
which resolution it planned from.

It prices serverless inference over a traffic profile beside the fleet (byom.plan.compare).
Writes PREFIX.json (the plan, which `byom simulate` and `byom deploy` read),
PREFIX-boto3.py and PREFIX-cloudformation.yaml; a step search also writes PREFIX-search.{json,csv,png}.

The plan file's shape is documented in byom.plan.plan_file.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from byom.errors import CommandError
from byom.measure import artillery_report, timeline
from byom.measure.loadspec import LoadSpec
from byom.measure.loadtest import add_request_arguments, add_target_arguments, requests_from_flags
from byom.measure.timeline import Second
from byom.plan import capacity, compare, plan_file
from byom.plan.capacity import Slo
from byom.plan.plan_file import Measured
from byom.plan.step_search import RunStep, Search, http_step_runner
from byom.shared import plots


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("plan", help="MAX_RPS, autoscaling policy and cost from a load test")
    parser.add_argument(
        "result",
        nargs="?",
        type=Path,
        help="a `byom loadtest` JSON result, or artillery's `--output` JSON report (else: --target)",
    )
    add_target_arguments(parser)
    add_request_arguments(parser)
    search = parser.add_argument_group("step search (with --target or --sagemaker)")
    search.add_argument("--start-rps", type=float, default=50.0, help="first step's rate (50)")
    search.add_argument("--step-seconds", type=int, default=5, help="seconds per step (5)")
    search.add_argument(
        "--growth", type=float, default=1.5, help="rate factor between steps until one fails (1.5)"
    )
    search.add_argument("--refine", type=int, default=3, help="bisections after the first failing step (3)")
    slo = parser.add_argument_group("SLO")
    slo.add_argument("--slo-p99-ms", type=float, default=15.0, help="p99 latency bound (15 ms)")
    slo.add_argument("--error-budget", type=float, default=0.05, help="error rate bound (0.05)")
    slo.add_argument(
        "--window",
        type=int,
        default=5,
        help="seconds the rate must be sustained (5; whole 10 s periods for an artillery report)",
    )
    add_policy_arguments(parser.add_argument_group("policy"))
    compare.add_arguments(parser.add_argument_group("serverless comparison (over a traffic profile)"))
    parser.add_argument("--out", type=Path, default=Path("plan"), help="output prefix (default ./plan)")
    parser.add_argument("--quiet", action="store_true", help="no step-by-step progress")
    parser.set_defaults(run=run)


def add_policy_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--safety-factor", type=float, default=0.5, help="0 < f <= 1 (0.5, AWS's advice)")
    group.add_argument("--min-instances", type=int, default=2, help="at least 2 (2)")
    group.add_argument("--peak-rps", type=float, help="the peak to size the maximum for (else max = 2 x min)")
    group.add_argument(
        "--instance-type", default="ml.m5.large", help="a type in the price table (ml.m5.large)"
    )
    group.add_argument(
        "--prices", type=Path, help="your own price table (JSON, same shape as byom/data/prices.json)"
    )
    group.add_argument(
        "--metric", choices=("invocations", "cpu"), default="invocations", help="target tracking metric"
    )
    group.add_argument(
        "--cpu-target", type=float, default=70.0, help="with --metric cpu: percent per core (70)"
    )
    group.add_argument(
        "--overhead-latency-ms", type=float, help="add step scaling when OverheadLatency passes this"
    )
    group.add_argument(
        "--schedule", action="append", metavar="'NAME;cron(...);MIN;MAX'", help="a scheduled action"
    )
    group.add_argument("--scale-in-cooldown", type=int, default=300, help="seconds (300)")
    group.add_argument("--scale-out-cooldown", type=int, default=300, help="seconds (300)")
    group.add_argument("--endpoint", default="my-endpoint", help="endpoint name for the policy (my-endpoint)")
    group.add_argument("--variant", default="AllTraffic", help="production variant (AllTraffic)")


def run(arguments: argparse.Namespace) -> int:
    slo = read_slo(arguments)
    measured = measure(arguments, slo)
    document = plan_file.build_plan(arguments, measured)
    prefix: Path = arguments.out
    prefix.parent.mkdir(parents=True, exist_ok=True)
    written = plan_file.write_plan(prefix, document)
    print_plan(document, written)
    return 0


def read_slo(arguments: argparse.Namespace) -> Slo:
    if not arguments.slo_p99_ms > 0 or not 0 <= arguments.error_budget < 1 or arguments.window < 1:
        raise CommandError("the SLO needs --slo-p99-ms > 0, 0 <= --error-budget < 1 and --window >= 1")
    return Slo(arguments.slo_p99_ms, arguments.error_budget, arguments.window)


def measure(arguments: argparse.Namespace, slo: Slo) -> Measured:
    """The rows to plan from and MAX_RPS: a loadtest result's seconds, an artillery report's periods,
    or a step search's steady seconds and best step."""
    if arguments.result is not None:
        if arguments.target or arguments.sagemaker:
            raise CommandError("give a loadtest result or a target to search, not both")
        if artillery_report.looks_like_report(arguments.result):
            return from_artillery(arguments.result, slo)
        document, rows = timeline.read_result(arguments.result)
        source = {"method": "loadtest", "result": str(arguments.result), "target": document.get("target")}
        steady = rows[1:]  # the first second opens connections: its latency is the client's warm-up
        return Measured(steady, capacity.max_sustained(steady, slo), source, slo)
    target = arguments.sagemaker or arguments.target
    if not target:
        raise CommandError(
            "nothing to plan from: pass a loadtest result, or --target URL (or --sagemaker) to search"
        )
    if (
        arguments.step_seconds < 2
        or not arguments.start_rps > 0
        or not arguments.growth > 1
        or arguments.refine < 0
    ):
        raise CommandError(
            "the step search needs --step-seconds >= 2, --start-rps > 0, --growth > 1, --refine >= 0"
        )
    spec = LoadSpec(target, [], requests_from_flags(arguments, []))
    search = Search(slo, arguments.step_seconds, arguments.growth, arguments.refine)
    run_step = _reporting(http_step_runner(arguments, spec, arguments.step_seconds), arguments, search)
    found = search.run(arguments.start_rps, run_step)
    path = write_search(arguments.out, search, target)
    source = {"method": "step-search", "result": str(path), "target": target}
    return Measured(search.steady_rows, found, source, slo)


def from_artillery(path: Path, slo: Slo) -> Measured:
    """An artillery report's periods, the SLO's window rounded up to whole periods."""
    report = artillery_report.read(path)
    for row in report.left_out:
        print(
            f"byom plan: left out the period at +{row.second} s: {row.seconds:.1f} s of it in the run, "
            f"under half of a {report.period_s:g} s period",
            file=sys.stderr,
        )
    if not report.periods:
        raise CommandError(f"{path}: no period of the artillery report lasted half of {report.period_s:g} s")
    judged = replace(slo, window=max(1, math.ceil(slo.window / report.period_s - 1e-9)))
    source = {
        "method": "artillery",
        "result": str(path),
        "target": None,
        "period_s": report.period_s,
        "periods": len(report.periods),
    }
    found = capacity.max_sustained(report.periods, judged)
    return Measured(report.periods, found, source, judged, report.period_s)


def _reporting(run_step: RunStep, arguments: argparse.Namespace, search: Search) -> RunStep:
    def step(rate: float) -> list[Second]:
        rows = run_step(rate)
        if not arguments.quiet:
            steady = rows[1:]
            p99 = capacity.window_p99_ms(steady, len(steady))
            print(
                f"step {len(search.steps) + 1}: {rate:8.1f} req/s  p99 {p99[0] if p99 else 0.0:9.2f} ms",
                file=sys.stderr,
            )
        return rows

    return step


def write_search(prefix: Path, search: Search, target: str) -> Path:
    base = prefix.with_name(prefix.name + "-search")
    base.parent.mkdir(parents=True, exist_ok=True)
    steps = [{"offered_rps": rate, "passed": found is not None} for rate, found in search.steps]
    document = {"kind": timeline.RESULT_KIND, "version": 1, "target": target, "steps": steps}
    timeline.write_json(base.with_suffix(".json"), document, search.rows)
    timeline.write_csv(base.with_suffix(".csv"), search.rows)
    plots.write_loadtest_png(
        base.with_suffix(".png"),
        search.rows,
        f"byom plan step search: {target}",
        slo_p99_ms=search.slo.p99_ms,
        error_budget=search.slo.error_budget,
    )
    return base.with_suffix(".json")


def print_plan(document: dict[str, Any], written: list[Path]) -> None:
    found, sizing, cost = document["capacity"], document["scaling"], document["cost"]
    slo = document["slo"]
    print(resolution_line(document))
    print(
        f"MAX_RPS {found['max_rps']} req/s per instance (p99 {found['p99_ms_at_max']} ms <= {slo['p99_ms']} ms, "
        f"errors {found['error_rate_at_max']:.2%} <= {slo['error_budget']:.0%}); saturation {found['saturation_rps']} req/s"
    )
    print(
        f"target tracking on {sizing['metric']}: TargetValue {sizing['target_value']} "
        f"(= {found['max_rps']} x {sizing['safety_factor']} x 60 invocations/min per instance when on invocations)"
    )
    print(
        f"instances {sizing['min_instances']}..{sizing['max_instances']} {document['instance']['type']}: "
        f"${cost['min_fleet_usd_per_hour']}-${cost['max_fleet_usd_per_hour']}/hour, "
        f"${cost['usd_per_million_at_target']} per million inferences at the target load"
    )
    print_serverless(document["serverless"])
    if not found["load_exceeded_slo"]:
        print(
            "note: no second offered above MAX_RPS missed the SLO, so MAX_RPS and saturation are lower bounds: test higher"
        )
    print("wrote " + ", ".join(str(path) for path in written))


def print_serverless(section: dict[str, Any]) -> None:
    if not section["compared"]:
        print(f"serverless: not compared ({section['reason']})")
        return
    for line in section["arithmetic"]:
        print(line)


def resolution_line(document: dict[str, Any]) -> str:
    resolution, window = document["capacity"]["resolution_s"], document["slo"]["window_s"]
    if document["source"]["method"] == "artillery":
        periods = round(window / resolution)
        return (
            f"resolution {resolution:g} s: artillery's reporting periods, each judged by the p99 artillery "
            f"measured for it; window {window:g} s = {periods} period{'' if periods == 1 else 's'}"
        )
    return f"resolution {resolution:g} s: a load test's seconds; window {window:g} s"
