"""`byom scale`: set a variant's instance count and/or traffic weight now.

Owns the checks before UpdateEndpointWeightsAndCapacities: the endpoint and variant exist, and
a count inside the variant's autoscaling range (outside it, autoscaling would undo the change at
its next evaluation; widen the range with `byom deploy --plan` instead). A dry run without
credentials prints the reads these checks make but cannot make the checks.
"""

from __future__ import annotations

import argparse
from typing import Any

from byom.errors import CommandError
from byom.shared import config, validate
from byom.shared.aws import Aws, connect
from byom.shared.config import required
from byom.ship import autoscaling, waiting


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("scale", help="set a variant's instance count or weight")
    config.add_flags(parser, "endpoint", "variant", "wait")
    parser.add_argument("--count", type=int, help="desired instance count")
    parser.add_argument(
        "--weight", type=float, help="desired traffic weight (relative to the other variants)"
    )
    config.add_dry_run(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = config.load(args)
    endpoint = required(settings.endpoint, "endpoint")
    desired = desired_variant(settings.variant, args.count, args.weight)
    aws = connect(settings, dry_run=args.dry_run)
    check_variant(aws, endpoint, settings.variant, args.count)
    aws.change(
        "sagemaker",
        "update_endpoint_weights_and_capacities",
        EndpointName=endpoint,
        DesiredWeightsAndCapacities=[desired],
    )
    aws.done(f"endpoint {endpoint}, variant {settings.variant}", f"set to {describe(desired)}")
    if not aws.dry_run:
        waiting.wait_in_service(aws, endpoint, settings.wait)
    return 0


def desired_variant(variant: str, count: int | None, weight: float | None) -> dict[str, Any]:
    if count is None and weight is None:
        raise CommandError("nothing to change: pass --count and/or --weight")
    desired: dict[str, Any] = {"VariantName": variant}
    if count is not None:
        desired["DesiredInstanceCount"] = validate.at_least(count, 1, "count")
    if weight is not None:
        desired["DesiredWeight"] = validate.within(weight, 0, 1000, "weight")
    return desired


def check_variant(aws: Aws, endpoint: str, variant: str, count: int | None) -> None:
    described = aws.find("sagemaker", "describe_endpoint", EndpointName=endpoint)
    if aws.offline:
        autoscaling.current_target(aws, endpoint, variant)
        aws.say(
            f"not checked without credentials: that endpoint {endpoint} has variant {variant}"
            + ("" if count is None else f" and that {count} is inside its autoscaling range")
        )
        return
    if described is None:
        raise CommandError(f"endpoint {endpoint} does not exist")
    every = [*described.get("ProductionVariants", []), *described.get("ShadowProductionVariants", [])]
    names = [v.get("VariantName") for v in every]
    if variant not in names:
        raise CommandError(
            f"endpoint {endpoint} has no variant {variant!r} (it has: {', '.join(map(str, names))})"
        )
    target = autoscaling.current_target(aws, endpoint, variant)
    if count is not None and target and not target["MinCapacity"] <= count <= target["MaxCapacity"]:
        raise CommandError(
            f"count {count} is outside the autoscaling range {target['MinCapacity']}-{target['MaxCapacity']} "
            f"of {endpoint}/{variant}; autoscaling would undo it (widen the range with `byom deploy --plan`)"
        )


def describe(desired: dict[str, Any]) -> str:
    parts = []
    if "DesiredInstanceCount" in desired:
        parts.append(f"{desired['DesiredInstanceCount']} instance(s)")
    if "DesiredWeight" in desired:
        parts.append(f"weight {desired['DesiredWeight']:g}")
    return ", ".join(parts)
