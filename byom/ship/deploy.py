"""`byom deploy`: models, endpoint config and endpoint, then the scaling plans; safe to run again.

Owns the order of a deployment and what "already there" means. The models (one per distinct
variant, byom/ship/variants.py) and the endpoint config are named after their content
(byom/ship/resources.py), so an unchanged input finds them in place. An existing endpoint is
updated only when its config serves something else, through a new config that keeps each
variant's current instance count (autoscaling may have moved it). SageMaker refuses to change the
instance type of a variant registered with autoscaling, so the target is deregistered first in
that case; its plan registers it again. Each variant with a plan (its own or the top-level one)
gets its autoscaling. A dry run does not wait; without
credentials it finds nothing, so it previews the create path.

An update follows to its end (byom/ship/following.py): exit 0 when the endpoint serves the new
config, 3 when SageMaker rolled it back or it failed; --no-wait returns once it is asked for. With
--strategy (byom/ship/rollout.py) the update carries a DeploymentConfig whose automatic rollback
watches the user's --rollback-alarm names, else the alarms byom puts for it
(byom/ship/rollback_alarms.py). The rollout flags are checked before any call, instance-count
sizes against the fleet once the endpoint is read and before any change.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from byom.errors import CommandError
from byom.shared import config
from byom.shared.aws import Aws, connect
from byom.shared.config import Config, required
from byom.ship import (
    autoscaling,
    endpoint_config,
    following,
    resources,
    rollback_alarms,
    rollout,
    variants,
    waiting,
)
from byom.ship.rollback_alarms import Thresholds
from byom.ship.rollout import Rollout
from byom.ship.scaling_plan import Plan

Plans = dict[str, Plan]

BUSY = ("Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting", "UpdateRollbackFailed")


@dataclass(frozen=True)
class Options:
    """How an update rolls out: the strategy, whose alarms, and whether deploy follows it."""

    rollout: Rollout | None = None
    alarms: tuple[str, ...] = ()
    limits: Thresholds | None = None
    wait: bool = True


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("deploy", help="create or update a SageMaker endpoint and its autoscaling")
    config.add_flags(parser, *resources.SETTINGS, "wait")
    parser.add_argument("--no-wait", action="store_true", help="return once the change is asked for")
    rollout.add_flags(parser)
    guard = parser.add_argument_group("automatic rollback (with --strategy)")
    guard.add_argument(
        "--rollback-alarm", action="append", metavar="NAME", help="your CloudWatch alarm (repeat, up to 10)"
    )
    guard.add_argument(
        "--rollback-p99-ms", metavar="MS", help="byom's latency alarm (default: the plan's SLO)"
    )
    guard.add_argument("--rollback-error-rate", metavar="RATE", help="byom's 5xx alarm (default: the plan's)")
    config.add_dry_run(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = config.load(args)
    plans = variants.plans(settings)
    models = resources.model_requests(settings)  # validates every required setting before any call
    options = options_from(args, settings, plans)
    endpoint_config.check_shape(settings, plans, options.rollout is not None)
    names = {name: model["ModelName"] for name, model in models.items()}
    endpoint_config.endpoint_config_request(settings, names, 1)  # its checks, before any call
    aws = connect(settings, dry_run=args.dry_run)
    deploy(aws, settings, plans, options)
    return 0


def options_from(args: argparse.Namespace, settings: Config, plans: Plans) -> Options:
    chosen = rollout.from_config(settings)
    alarms = tuple(args.rollback_alarm or ())
    limits_given = args.rollback_p99_ms is not None or args.rollback_error_rate is not None
    if chosen is None and (alarms or limits_given):
        raise CommandError("--rollback-alarm, --rollback-p99-ms and --rollback-error-rate need --strategy")
    if alarms and limits_given:
        raise CommandError(
            "--rollback-p99-ms and --rollback-error-rate set byom's alarms; not with --rollback-alarm"
        )
    if len(alarms) > rollback_alarms.MAX_ALARMS:
        raise CommandError(
            f"{len(alarms)} --rollback-alarm given; a rollout takes at most {rollback_alarms.MAX_ALARMS}"
        )
    if args.no_wait and plans:
        raise CommandError("--no-wait cannot apply --plan: autoscaling needs the endpoint InService")
    limits = None
    if chosen is not None and not alarms:
        p99 = number(args.rollback_p99_ms, "--rollback-p99-ms")
        rate = number(args.rollback_error_rate, "--rollback-error-rate")
        limits = rollback_alarms.thresholds(settings.plan, p99, rate)
    return Options(chosen, alarms, limits, wait=not args.no_wait)


def number(text: str | None, flag: str) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        raise CommandError(f"{flag} must be a number, got {text!r}") from None


def deploy(aws: Aws, settings: Config, plans: Plans | None = None, options: Options | None = None) -> None:
    options, plans = options or Options(), plans or {}
    endpoint = required(settings.endpoint, "endpoint")
    current = aws.find("sagemaker", "describe_endpoint", EndpointName=endpoint)
    if current is not None:
        check_updatable(endpoint, current, settings, options.rollout)
        rollback_alarms.check_named(aws, list(options.alarms))
    models = resources.model_requests(settings)
    for model in unique(models.values()):
        ensure_model(aws, model)
    names = {name: model["ModelName"] for name, model in models.items()}
    if current is None:
        if options.rollout is not None:
            aws.say(f"endpoint {endpoint} is new: it is created at once (--strategy applies to updates)")
        counts = initial_counts(aws, settings, plans)
        create_endpoint(
            aws, settings, endpoint_config.endpoint_config_request(settings, names, counts), options
        )
    else:
        update_endpoint(aws, settings, current, names, options)
    for variant, plan in plans.items():
        autoscaling.apply(aws, endpoint, variant, plan)
    aws.done(f"endpoint {endpoint}", "deployed" if options.wait else "asked for")


def unique(models: Any) -> list[dict[str, Any]]:
    """The distinct models (variants with the same image and model data share one)."""
    return list({model["ModelName"]: model for model in models}.values())


def check_updatable(endpoint: str, current: dict[str, Any], settings: Config, chosen: Rollout | None) -> None:
    """Before any change: the endpoint can take an update, and instance-count sizes fit its fleet."""
    status = current.get("EndpointStatus")
    if status in BUSY or status == "Failed":
        hint = (
            "delete it with `byom destroy` and deploy again" if status == "Failed" else "wait for InService"
        )
        raise CommandError(f"endpoint {endpoint} is {status}; {hint}")
    if chosen is not None:
        for variant in current.get("ProductionVariants", []):
            chosen.check_fleet(variant["VariantName"], variant_count(variant, settings.instance_count))


def ensure_model(aws: Aws, request: dict[str, Any]) -> None:
    ensure(aws, "model", request, f"image {request['PrimaryContainer']['Image']}")


def ensure_endpoint_config(aws: Aws, request: dict[str, Any]) -> None:
    ensure(aws, "endpoint_config", request, endpoint_config.summary(request))


def ensure(aws: Aws, kind: str, request: dict[str, Any], summary: str) -> None:
    """Create a content-named SageMaker resource (model, endpoint config) unless it exists."""
    key = "ModelName" if kind == "model" else "EndpointConfigName"
    label = kind.replace("_", " ")
    if aws.find("sagemaker", f"describe_{kind}", **{key: request[key]}):
        aws.say(f"{label} {request[key]}: exists")
        return
    aws.change("sagemaker", f"create_{kind}", **request)
    aws.done(f"{label} {request[key]}", "created", summary)


def initial_counts(aws: Aws, settings: Config, plans: Plans) -> dict[str, int]:
    counts = endpoint_config.initial_counts(settings, plans)
    single = sorted(name for name, count in counts.items() if count < 2)
    if single and settings.serverless_memory is None:
        named = "" if not settings.variants else f" (variant {', '.join(single)})"
        aws.say(
            f"warning: one instance has no redundancy{named}; SageMaker recommends at least two for availability"
        )
    return counts


def create_endpoint(aws: Aws, settings: Config, request: dict[str, Any], options: Options) -> None:
    endpoint = required(settings.endpoint, "endpoint")
    ensure_endpoint_config(aws, request)
    name = request["EndpointConfigName"]
    aws.change("sagemaker", "create_endpoint", EndpointName=endpoint, EndpointConfigName=name)
    aws.done(f"endpoint {endpoint}", f"created with config {name}")
    if not aws.dry_run and options.wait:
        waiting.wait_in_service(aws, endpoint, settings.wait)


def update_endpoint(
    aws: Aws, settings: Config, current: dict[str, Any], models: dict[str, str], options: Options
) -> None:
    endpoint = required(settings.endpoint, "endpoint")
    fleet = variants.of(settings)
    counts = {v.name: variant_count(current_variant(current, v.name), v.instance_count) for v in fleet}
    desired = endpoint_config.endpoint_config_request(settings, models, counts)
    serving = current["EndpointConfigName"]
    described = aws.read("sagemaker", "describe_endpoint_config", EndpointConfigName=serving)
    if serving == desired["EndpointConfigName"] or endpoint_config.config_matches(described, desired):
        aws.say(f"endpoint {endpoint}: unchanged (config {serving})")
        return
    deregister_before_update(aws, settings, described)
    ensure_endpoint_config(aws, desired)
    switch_config(aws, settings, desired, options)


def deregister_before_update(aws: Aws, settings: Config, described: dict[str, Any]) -> None:
    """SageMaker refuses to change the instance type of, or to remove, a variant registered with
    autoscaling: deregister those first (their plans register the ones that stay again)."""
    endpoint = required(settings.endpoint, "endpoint")
    wanted = {variant.name: variant.instance_type for variant in variants.of(settings)}
    for name in variant_names(described):
        if name not in wanted:
            aws.say(f"variant {name} goes: SageMaker requires deregistering its autoscaling first")
            autoscaling.remove(aws, endpoint, name)
        elif settings.serverless_memory is None and instance_type_of(described, name) != wanted[name]:
            aws.say(
                f"the instance type of {name} changes: SageMaker requires deregistering autoscaling first"
            )
            autoscaling.remove(aws, endpoint, name)


def variant_names(described: dict[str, Any]) -> list[str]:
    every = [*described.get("ProductionVariants", []), *described.get("ShadowProductionVariants", [])]
    return [str(variant["VariantName"]) for variant in every]


def switch_config(aws: Aws, settings: Config, desired: dict[str, Any], options: Options) -> None:
    """UpdateEndpoint to the new config (with the rollout's DeploymentConfig), then follow it."""
    endpoint, name = required(settings.endpoint, "endpoint"), desired["EndpointConfigName"]
    extra, alarms = {}, list(options.alarms)
    if options.rollout is not None:
        alarms = rollout_alarms(aws, endpoint, desired, options)
        extra["DeploymentConfig"] = options.rollout.deployment_config(alarms)
    aws.change("sagemaker", "update_endpoint", EndpointName=endpoint, EndpointConfigName=name, **extra)
    aws.done(
        f"endpoint {endpoint}",
        f"asked to serve config {name}",
        options.rollout.summary() if options.rollout else "",
    )
    if aws.dry_run or not options.wait:
        return
    timeout = (
        max(settings.wait, options.rollout.longest_seconds() + 600) if options.rollout else settings.wait
    )
    following.follow(aws, endpoint, name, alarms, timeout)
    aws.done(f"endpoint {endpoint}", f"serves config {name}")


def rollout_alarms(aws: Aws, endpoint: str, desired: dict[str, Any], options: Options) -> list[str]:
    """The alarms the rollback watches: the user's (checked to exist before), else byom's, put now."""
    if options.alarms:
        return list(options.alarms)
    assert options.limits is not None
    variants = [variant["VariantName"] for variant in desired["ProductionVariants"]]
    requests = rollback_alarms.requests(endpoint, variants, desired["EndpointConfigName"], options.limits)
    return rollback_alarms.put(aws, requests, options.limits)


def current_variant(endpoint: dict[str, Any], name: str) -> dict[str, Any] | None:
    """A production or shadow variant of a described endpoint or endpoint config, by name."""
    every = [*endpoint.get("ProductionVariants", []), *endpoint.get("ShadowProductionVariants", [])]
    return next((v for v in every if v.get("VariantName") == name), None)


def variant_count(variant: dict[str, Any] | None, configured: int) -> int:
    """The instance count to keep: what the variant runs now, else the configured count."""
    if variant is None:
        return configured
    return int(variant.get("CurrentInstanceCount") or variant.get("DesiredInstanceCount") or configured)


def instance_type_of(described: dict[str, Any], variant: str) -> str | None:
    found = current_variant(described, variant)
    return str(found.get("InstanceType")) if found else None
