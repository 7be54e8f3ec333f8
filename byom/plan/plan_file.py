"""The plan file `byom plan` writes and `byom simulate` (and issue 7's `byom deploy`) read.

The plan JSON (kind "byom.plan", version 1):
  slo:       {p99_ms, error_budget, window_s}     window_s: as judged, whole periods for an artillery report
  capacity:  {max_rps, saturation_rps, p99_ms_at_max, error_rate_at_max,
              resolution_s: what one judged row spans: 1 (a loadtest second), 10 (an artillery period),
              latency_curve: [[offered rps, p99 ms], ...],            one instance, as measured
              load_exceeded_slo: false when the test never went past MAX_RPS (a lower bound)}
  instance:  {type, vcpus, usd_per_hour, price_region, price_as_of}
  scaling:   {metric: "invocations"|"cpu", target_value, safety_factor,
              invocations_per_instance_per_minute, target_rps_per_instance, min_instances,
              max_instances, peak_rps, scale_in_cooldown_s, scale_out_cooldown_s,
              overhead_latency_us, scheduled_actions: [{name, schedule, min_instances, max_instances}]}
  cost:      {min_fleet_usd_per_hour, max_fleet_usd_per_hour, usd_per_million_at_target,
              usd_per_million_at_max_rps}
  serverless: serverless inference priced over a traffic profile against the fleet (byom.plan.compare):
             {compared: true, memory_mb, memory_choice: "the smallest"|"--serverless-memory",
              max_concurrency, provisioned_concurrency, latency_ms, latency_basis: "p99 at MAX_RPS",
              billed_ms_per_request (rounded up to the ms), prices: {usd_per_gb_second,
              provisioned_usd_per_gb_second, provisioned_compute_usd_per_gb_second,
              usd_per_million_requests, as_of}, usd_per_million_on_demand,
              profile: {label, duration_s, requests, peak_rps}, peak_concurrency (Little's law),
              throttled_requests, serverless_usd: {compute, requests, provisioned, total},
              fleet_usd, fleet_instance_hours (the fleet tracking its target, no lag),
              breakeven_rps (steady rate below which serverless costs less than the minimum fleet;
              null: any), cheaper: "serverless"|"instances", arithmetic: [the printed lines],
              not_measured}
             or {compared: false, reason} for a price table without serverless prices
  endpoint:  {name, variant}
  policy:    the boto3 keyword arguments, by call: register_scalable_target, put_scaling_policy
             (list), put_metric_alarm (list), put_scheduled_action (list)  (see byom.plan.proposal)
  autoscaling: the same policy in the shape `byom deploy --plan` applies (byom/ship/scaling_plan.py): deploy
             reads a plan file through this member, so `byom plan` output deploys as it is
  source:    {method: "loadtest"|"step-search"|"artillery", result: path, target (null for artillery,
             whose report does not name it); artillery adds period_s and periods}
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from byom.errors import CommandError
from byom.plan import capacity, compare, prices, proposal, sizing
from byom.plan.capacity import Row, Slo, Sustained
from byom.shared.documents import PLAN_KIND, PLAN_VERSION


@dataclass(frozen=True)
class Measured:
    """What a plan is made from: the rows judged, MAX_RPS's window, where they came from, and the
    SLO as applied to them (its window in rows, each `resolution_s` long)."""

    rows: Sequence[Row]
    found: Sustained | None
    source: dict[str, Any]
    slo: Slo
    resolution_s: float = 1

    @property
    def window_s(self) -> float:
        return self.slo.window * self.resolution_s


def build_plan(arguments: argparse.Namespace, measured: Measured) -> dict[str, Any]:
    rows, found, slo = measured.rows, measured.found, measured.slo
    if found is None:
        raise CommandError(
            f"no {measured.window_s:g} s window met p99 <= {slo.p99_ms} ms with errors <= {slo.error_budget:.0%}"
        )
    saturation = max(capacity.saturation_rps(rows, slo.window), found.rps)
    per_bin = 3 if measured.resolution_s <= 1 else 1
    table = prices.load(arguments.prices)
    instance = table.get(arguments.instance_type)
    sized = sizing.size_fleet(found.rps, arguments.safety_factor, arguments.min_instances, arguments.peak_rps)
    the_policy = make_policy(arguments, sized, instance)
    return {
        "kind": PLAN_KIND,
        "version": PLAN_VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "slo": {"p99_ms": slo.p99_ms, "error_budget": slo.error_budget, "window_s": measured.window_s},
        "capacity": {
            "max_rps": round(found.rps, 2),
            "saturation_rps": round(saturation, 2),
            "p99_ms_at_max": found.p99_ms,
            "error_rate_at_max": round(found.error_rate, 5),
            "resolution_s": measured.resolution_s,
            "latency_curve": capacity.latency_curve(rows, saturation, per_bin=per_bin),
            "load_exceeded_slo": any(
                not capacity.second_passes(row, slo) for row in rows if row.offered > found.rps
            ),
        },
        "instance": {
            "type": instance.name,
            "vcpus": instance.vcpus,
            "usd_per_hour": instance.usd_per_hour,
            "price_region": table.region,
            "price_as_of": table.as_of,
        },
        "scaling": scaling_section(arguments, sized, the_policy),
        "cost": asdict(sizing.cost(sized, found.rps, instance)),
        "serverless": compare.section(arguments, found.p99_ms, sized, instance, table),
        "endpoint": {"name": arguments.endpoint, "variant": arguments.variant},
        "policy": proposal.payloads(the_policy),
        "autoscaling": proposal.autoscaling_document(the_policy),
        "source": measured.source,
    }


def make_policy(
    arguments: argparse.Namespace, sized: sizing.Sizing, instance: prices.InstanceType
) -> proposal.Policy:
    if arguments.metric == "cpu":
        target = sizing.cpu_target(arguments.cpu_target, instance)
    else:
        target = sized.invocations_per_instance_per_minute
    overhead = arguments.overhead_latency_ms
    if overhead is not None and not overhead > 0:
        raise CommandError("--overhead-latency-ms must be above 0")
    if min(arguments.scale_in_cooldown, arguments.scale_out_cooldown) < 0:
        raise CommandError("cooldowns must be >= 0 seconds")
    return proposal.Policy(
        arguments.endpoint,
        arguments.variant,
        arguments.metric,
        target,
        sized.min_instances,
        sized.max_instances,
        arguments.scale_in_cooldown,
        arguments.scale_out_cooldown,
        None if overhead is None else round(overhead * 1000),
        [proposal.ScheduledAction.parse(text) for text in arguments.schedule or []],
    )


def scaling_section(
    arguments: argparse.Namespace, sized: sizing.Sizing, the_policy: proposal.Policy
) -> dict[str, Any]:
    return {
        "metric": the_policy.metric,
        "target_value": round(the_policy.target_value, 2),
        "safety_factor": arguments.safety_factor,
        "invocations_per_instance_per_minute": round(sized.invocations_per_instance_per_minute, 2),
        "target_rps_per_instance": round(sized.target_rps_per_instance, 2),
        "min_instances": sized.min_instances,
        "max_instances": sized.max_instances,
        "peak_rps": arguments.peak_rps,
        "scale_in_cooldown_s": the_policy.scale_in_cooldown,
        "scale_out_cooldown_s": the_policy.scale_out_cooldown,
        "overhead_latency_us": the_policy.overhead_latency_us,
        "scheduled_actions": [asdict(action) for action in the_policy.scheduled],
    }


def write_plan(prefix: Path, document: dict[str, Any]) -> list[Path]:
    paths = [
        prefix.with_suffix(".json"),
        prefix.with_name(prefix.name + "-boto3.py"),
        prefix.with_name(prefix.name + "-cloudformation.yaml"),
    ]
    paths[0].write_text(json.dumps(document, indent=1) + "\n")
    paths[1].write_text(proposal.boto3_script(document["policy"]))
    paths[2].write_text(proposal.cloudformation(document["policy"]))
    return paths
