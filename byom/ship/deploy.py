"""`byom deploy`: model, endpoint config and endpoint, then the scaling plan; safe to run again.

Owns the order of a deployment and what "already there" means. The model and the endpoint
config are named after their content (byom/ship/resources.py), so an unchanged input finds them in
place. An existing endpoint is updated only when its config serves something else, through a new
config that keeps the variant's current instance count (autoscaling may have moved it). SageMaker
refuses to change the instance type of a variant registered with autoscaling, so the target is
deregistered first in that case; `--plan` registers it again. A dry run does not wait; without
credentials it finds nothing, so it previews the create path.
"""

from __future__ import annotations

import argparse
from typing import Any

from byom.errors import CommandError
from byom.shared import config
from byom.shared.aws import Aws, connect
from byom.shared.config import Config, required
from byom.ship import autoscaling, resources, scaling_plan, waiting
from byom.ship.scaling_plan import Plan

BUSY = ("Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting", "UpdateRollbackFailed")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("deploy", help="create or update a SageMaker endpoint and its autoscaling")
    config.add_flags(parser, *resources.SETTINGS, "wait")
    config.add_dry_run(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = config.load(args)
    plan = scaling_plan.from_plan_file(settings.plan) if settings.plan else None
    model = resources.model_request(settings)  # validates every required setting before any call
    aws = connect(settings, dry_run=args.dry_run)
    deploy(aws, settings, model, plan)
    return 0


def deploy(aws: Aws, settings: Config, model: dict[str, Any], plan: Plan | None) -> None:
    endpoint = required(settings.endpoint, "endpoint")
    ensure_model(aws, model)
    current = aws.find("sagemaker", "describe_endpoint", EndpointName=endpoint)
    if current is None:
        count = initial_count(aws, settings, plan)
        create_endpoint(aws, settings, resources.endpoint_config_request(settings, model["ModelName"], count))
    else:
        update_endpoint(aws, settings, current, model["ModelName"])
    if plan is not None:
        autoscaling.apply(aws, endpoint, settings.variant, plan)
    aws.done(f"endpoint {endpoint}", "deployed")


def ensure_model(aws: Aws, request: dict[str, Any]) -> None:
    ensure(aws, "model", request, f"image {request['PrimaryContainer']['Image']}")


def ensure_endpoint_config(aws: Aws, request: dict[str, Any]) -> None:
    variant = request["ProductionVariants"][0]
    ensure(aws, "endpoint_config", request, f"{variant['InitialInstanceCount']} x {variant['InstanceType']}")


def ensure(aws: Aws, kind: str, request: dict[str, Any], summary: str) -> None:
    """Create a content-named SageMaker resource (model, endpoint config) unless it exists."""
    key = "ModelName" if kind == "model" else "EndpointConfigName"
    label = kind.replace("_", " ")
    if aws.find("sagemaker", f"describe_{kind}", **{key: request[key]}):
        aws.say(f"{label} {request[key]}: exists")
        return
    aws.change("sagemaker", f"create_{kind}", **request)
    aws.done(f"{label} {request[key]}", "created", summary)


def initial_count(aws: Aws, settings: Config, plan: Plan | None) -> int:
    count = resources.initial_count(settings, plan)
    if count < 2:
        aws.say("warning: one instance has no redundancy; SageMaker recommends at least two for availability")
    return count


def create_endpoint(aws: Aws, settings: Config, endpoint_config: dict[str, Any]) -> None:
    ensure_endpoint_config(aws, endpoint_config)
    apply_config(aws, settings, "create_endpoint", endpoint_config["EndpointConfigName"])


def update_endpoint(aws: Aws, settings: Config, current: dict[str, Any], model_name: str) -> None:
    endpoint = required(settings.endpoint, "endpoint")
    status = current.get("EndpointStatus")
    if status in BUSY or status == "Failed":
        hint = (
            "delete it with `byom destroy` and deploy again" if status == "Failed" else "wait for InService"
        )
        raise CommandError(f"endpoint {endpoint} is {status}; {hint}")
    variant = current_variant(current, settings.variant)
    desired = resources.endpoint_config_request(settings, model_name, variant_count(variant, settings))
    described = aws.read(
        "sagemaker", "describe_endpoint_config", EndpointConfigName=current["EndpointConfigName"]
    )
    if resources.config_matches(described, desired):
        aws.say(f"endpoint {endpoint}: unchanged (config {current['EndpointConfigName']})")
        return
    if instance_type_of(described, settings.variant) != settings.instance_type:
        aws.say("the instance type changes: SageMaker requires deregistering autoscaling first")
        autoscaling.remove(aws, endpoint, settings.variant)
    ensure_endpoint_config(aws, desired)
    apply_config(aws, settings, "update_endpoint", desired["EndpointConfigName"])


def apply_config(aws: Aws, settings: Config, operation: str, config_name: str) -> None:
    """Create the endpoint or move it to another config, then wait until it serves."""
    endpoint = required(settings.endpoint, "endpoint")
    aws.change("sagemaker", operation, EndpointName=endpoint, EndpointConfigName=config_name)
    verb = "created" if operation == "create_endpoint" else "updated"
    aws.done(f"endpoint {endpoint}", f"{verb} with config {config_name}")
    if not aws.dry_run:
        waiting.wait_in_service(aws, endpoint, settings.wait)


def current_variant(endpoint: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((v for v in endpoint.get("ProductionVariants", []) if v.get("VariantName") == name), None)


def variant_count(variant: dict[str, Any] | None, settings: Config) -> int:
    """The instance count to keep: what the variant runs now, else the configured count."""
    if variant is None:
        return settings.instance_count
    return int(
        variant.get("CurrentInstanceCount") or variant.get("DesiredInstanceCount") or settings.instance_count
    )


def instance_type_of(endpoint_config: dict[str, Any], variant: str) -> str | None:
    found = current_variant(endpoint_config, variant)
    return str(found.get("InstanceType")) if found else None
