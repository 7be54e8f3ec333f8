"""`byom status`: an endpoint, its variants, their autoscaling, and recent CloudWatch figures.

Owns what is shown and how: read-only calls, one block per variant (production variants with
their current and desired weight and instance counts, then the shadow variant, then the
asynchronous-inference output and topics of the config), then the rollout in progress
(PendingDeploymentSummary, the new fleet as byom/ship/following.py words it), the last rollout's
strategy (LastDeploymentConfig) and the rollback alarms byom made, with their states. The figures are the last
--minutes (default 60) aggregated into one number each: request and error counts summed,
latencies and utilisation averaged (SageMaker reports latencies in microseconds; shown in ms).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from typing import Any

from byom.errors import CommandError
from byom.shared import config
from byom.shared.aws import Aws, connect
from byom.shared.config import required
from byom.ship import autoscaling, following, resources, rollback_alarms

# (namespace, metric, statistic, unit shown, divisor from SageMaker's unit)
FIGURES = (
    (resources.INVOCATION_METRICS_NAMESPACE, "Invocations", "Sum", "", 1.0),
    (resources.INVOCATION_METRICS_NAMESPACE, "Invocation4XXErrors", "Sum", "", 1.0),
    (resources.INVOCATION_METRICS_NAMESPACE, "Invocation5XXErrors", "Sum", "", 1.0),
    (resources.INVOCATION_METRICS_NAMESPACE, "ModelLatency", "Average", " ms", 1000.0),
    (resources.INVOCATION_METRICS_NAMESPACE, "OverheadLatency", "Average", " ms", 1000.0),
    (resources.ENDPOINT_METRICS_NAMESPACE, "CPUUtilization", "Average", " %", 1.0),
    (resources.ENDPOINT_METRICS_NAMESPACE, "MemoryUtilization", "Average", " %", 1.0),
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("status", help="show an endpoint, its autoscaling and recent metrics")
    config.add_flags(parser, "endpoint")
    parser.add_argument("--minutes", type=int, default=60, help="metrics window (default 60)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = config.load(args)
    endpoint = required(settings.endpoint, "endpoint")
    if args.minutes < 1:
        raise CommandError("--minutes must be at least 1")
    aws = connect(settings)
    described = aws.find("sagemaker", "describe_endpoint", EndpointName=endpoint)
    if described is None:
        raise CommandError(f"endpoint {endpoint} does not exist")
    print("\n".join(report(aws, described, args.minutes)))
    return 0


def report(aws: Aws, endpoint: dict[str, Any], minutes: int) -> list[str]:
    name = endpoint["EndpointName"]
    lines = [f"endpoint {name}: {endpoint['EndpointStatus']}", f"  config: {endpoint['EndpointConfigName']}"]
    if endpoint.get("FailureReason"):
        lines.append(f"  failure: {endpoint['FailureReason']}")
    described = aws.find(
        "sagemaker", "describe_endpoint_config", EndpointConfigName=endpoint["EndpointConfigName"]
    )
    types = instance_types(described or {})
    for kind, key in (("variant", "ProductionVariants"), ("shadow variant", "ShadowProductionVariants")):
        for variant in endpoint.get(key, []):
            found = types.get(variant["VariantName"], "?")
            lines += variant_lines(aws, name, variant, found, minutes, kind)
    return lines + async_lines(described or {}) + rollout_lines(aws, endpoint)


def async_lines(endpoint_config: dict[str, Any]) -> list[str]:
    found = endpoint_config.get("AsyncInferenceConfig")
    if not found:
        return []
    output = found.get("OutputConfig", {})
    lines = [f"asynchronous: answers to {output.get('S3OutputPath', '?')}"]
    for key, topic in output.get("NotificationConfig", {}).items():
        lines.append(f"  {key}: {topic}")
    per_instance = found.get("ClientConfig", {}).get("MaxConcurrentInvocationsPerInstance")
    if per_instance:
        lines.append(f"  at most {per_instance} concurrent invocations per instance")
    return lines


def rollout_lines(aws: Aws, endpoint: dict[str, Any]) -> list[str]:
    lines = []
    pending = endpoint.get("PendingDeploymentSummary")
    if pending:
        lines.append(f"rollout in progress to config {pending.get('EndpointConfigName')}:")
        lines += [f"  {following.fleet_part(variant)}" for variant in pending.get("ProductionVariants", [])]
    last = endpoint.get("LastDeploymentConfig")
    lines.append(f"last rollout: {deployment_summary(last) if last else 'none (updated at once)'}")
    alarms = rollback_alarms.current(aws, endpoint["EndpointName"])
    lines += [f"  rollback alarm {alarm['AlarmName']}: {alarm.get('StateValue', '?')}" for alarm in alarms]
    return lines


def deployment_summary(config: dict[str, Any]) -> str:
    """A DeploymentConfig in one line: its policy's settings and the alarms it watches."""
    parts = []
    for policy, settings in config.items():
        if policy == "AutoRollbackConfiguration":
            names = [alarm["AlarmName"] for alarm in settings.get("Alarms", [])]
            parts.append(f"rollback on {', '.join(names) or 'no alarm'}")
        else:
            parts.append(f"{policy} {compact(settings)}")
    return "; ".join(parts)


def compact(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key} {compact(item)}" for key, item in value.items()) + "}"
    return str(value)


def instance_types(described: dict[str, Any]) -> dict[str, str]:
    every = [*described.get("ProductionVariants", []), *described.get("ShadowProductionVariants", [])]
    return {
        v["VariantName"]: v.get("InstanceType", "serverless" if "ServerlessConfig" in v else "?")
        for v in every
    }


def variant_lines(
    aws: Aws, endpoint: str, variant: dict[str, Any], instance_type: str, minutes: int, kind: str = "variant"
) -> list[str]:
    name = variant["VariantName"]
    lines = [
        f"{kind} {name}: {variant.get('CurrentInstanceCount', '?')} x {instance_type} "
        f"(desired {variant.get('DesiredInstanceCount', '?')}), "
        f"weight {variant.get('CurrentWeight', '?')}{desired_weight(variant)}"
    ]
    lines += scaling_lines(aws, endpoint, name)
    lines.append(f"  last {minutes} min:")
    lines += [f"    {line}" for line in figure_lines(aws, endpoint, name, minutes)]
    return lines


def desired_weight(variant: dict[str, Any]) -> str:
    desired = variant.get("DesiredWeight")
    return "" if desired is None else f" (desired {desired})"


def scaling_lines(aws: Aws, endpoint: str, variant: str) -> list[str]:
    target = autoscaling.current_target(aws, endpoint, variant)
    if target is None:
        return ["  autoscaling: none"]
    lines = [f"  autoscaling: {target['MinCapacity']}-{target['MaxCapacity']} instances"]
    for policy in autoscaling.current_policies(aws, endpoint, variant).values():
        lines.append(f"    policy {policy['PolicyName']}: {policy_summary(policy)}")
    for action in autoscaling.current_schedule(aws, endpoint, variant).values():
        capacity = action.get("ScalableTargetAction", {})
        lines.append(f"    scheduled {action['ScheduledActionName']}: {action['Schedule']} {capacity}")
    return lines


def policy_summary(policy: dict[str, Any]) -> str:
    tracking = policy.get("TargetTrackingScalingPolicyConfiguration")
    if tracking:
        metric = tracking.get("PredefinedMetricSpecification", {}).get(
            "PredefinedMetricType"
        ) or tracking.get("CustomizedMetricSpecification", {}).get("MetricName")
        return f"target tracking {metric} at {tracking['TargetValue']:g}"
    steps = policy.get("StepScalingPolicyConfiguration", {}).get("StepAdjustments", [])
    return f"step scaling, {len(steps)} step(s)"


def figure_lines(aws: Aws, endpoint: str, variant: str, minutes: int) -> list[str]:
    end = datetime.now(UTC)
    lines = []
    for namespace, metric, statistic, unit, divisor in FIGURES:
        answer = aws.read(
            "cloudwatch",
            "get_metric_statistics",
            Namespace=namespace,
            MetricName=metric,
            Dimensions=resources.variant_dimensions(endpoint, variant),
            StartTime=end - timedelta(minutes=minutes),
            EndTime=end,
            Period=minutes * 60,
            Statistics=[statistic],
        )
        values = [point[statistic] for point in answer.get("Datapoints", [])]
        shown = "no data" if not values else f"{aggregate(values, statistic) / divisor:.4g}{unit}"
        lines.append(f"{metric} ({statistic.lower()}): {shown}")
    return lines


def aggregate(values: list[float], statistic: str) -> float:
    return sum(values) if statistic == "Sum" else sum(values) / len(values)
