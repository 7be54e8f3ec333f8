"""What a deployment is, as AWS request parameters: one source for `deploy` and `cfn`.

Owns: the model, scalable-target, scaling-policy, alarm and scheduled-action requests built
from a Config and a Plan (one model per variant, byom/ship/variants.py; the endpoint config is
byom/ship/endpoint_config.py's), the content-derived names that make `deploy` idempotent
(`<endpoint>-<8 hex of the request>`: the same inputs give the same name, so a second run finds
everything in place), and `matches`, which compares a described resource with a request.
Pure functions: no AWS calls, no printing.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from byom.shared.config import Config, required
from byom.ship import variants
from byom.ship.scaling_plan import Plan, ScheduledAction, StepScaling, TargetTracking
from byom.ship.variants import Variant

Request = dict[str, Any]

SERVICE_NAMESPACE = "sagemaker"
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
ENDPOINT_METRICS_NAMESPACE = "/aws/sagemaker/Endpoints"  # CPUUtilization, MemoryUtilization
INVOCATION_METRICS_NAMESPACE = "AWS/SageMaker"  # Invocations, ModelLatency, OverheadLatency
NAME_LIMIT = 63
# The settings (byom/shared/config.py) a deployment is made of: deploy's and cfn's flags.
SETTINGS = (
    "endpoint",
    "image",
    "model_data",
    "role",
    "instance_type",
    "instance_count",
    "variant",
    "workers",
    "timeout",
    "data_capture",
    "capture_percent",
    "plan",
    "serverless_memory",
    "max_concurrency",
    "provisioned_concurrency",
    "async_output",
    "async_success_topic",
    "async_error_topic",
    "async_max_concurrency",
)


def derived_name(endpoint: str, content: Any) -> str:
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:8]
    return f"{name_prefix(endpoint)}-{digest}"


def name_prefix(endpoint: str) -> str:
    """The part of a derived name before the hyphen and digest (63 characters in all)."""
    return endpoint[: NAME_LIMIT - 9]


def is_derived_name(name: str, endpoint: str) -> bool:
    return re.fullmatch(re.escape(name_prefix(endpoint)) + "-[0-9a-f]{8}", name) is not None


def environment(config: Config) -> dict[str, str]:
    settings = {
        "SAGEMAKER_MODEL_SERVER_WORKERS": config.workers,
        "SAGEMAKER_MODEL_SERVER_TIMEOUT": config.timeout,
    }
    return {key: str(value) for key, value in settings.items() if value is not None}


def model_request(config: Config, variant: Variant | None = None) -> Request:
    """The model of one variant (default: the first), named after its content."""
    endpoint = required(config.endpoint, "endpoint")
    chosen = variant or variants.of(config)[0]
    content = {
        "ExecutionRoleArn": required(config.role, "role"),
        "PrimaryContainer": {
            "Image": source(chosen, chosen.image, "image"),
            "ModelDataUrl": source(chosen, chosen.model_data, "model_data"),
            "Environment": environment(config),
        },
    }
    return {"ModelName": derived_name(endpoint, content), **content}


def source(variant: Variant, value: str | None, setting: str) -> str:
    if value is None and variant.declared:
        raise variants.missing(variant, setting)
    return required(value, setting)


def model_requests(config: Config) -> dict[str, Request]:
    """Each variant's model, by variant name (variants with the same content share one name)."""
    return {variant.name: model_request(config, variant) for variant in variants.of(config)}


def resource_id(endpoint: str, variant: str) -> str:
    return f"endpoint/{endpoint}/variant/{variant}"


def target_keys(endpoint: str, variant: str) -> Request:
    """The three parameters naming a variant's scalable target in every autoscaling call."""
    return {
        "ServiceNamespace": SERVICE_NAMESPACE,
        "ResourceId": resource_id(endpoint, variant),
        "ScalableDimension": SCALABLE_DIMENSION,
    }


def scalable_target_request(endpoint: str, variant: str, plan: Plan) -> Request:
    return {
        **target_keys(endpoint, variant),
        "MinCapacity": plan.min_capacity,
        "MaxCapacity": plan.max_capacity,
    }


def policy_requests(endpoint: str, variant: str, plan: Plan) -> list[Request]:
    keys = target_keys(endpoint, variant)
    requests = [
        {
            **keys,
            "PolicyName": policy.name,
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": target_tracking(endpoint, variant, policy),
        }
        for policy in plan.target_tracking
    ]
    if plan.step_scaling:
        step = plan.step_scaling
        requests.append(
            {
                **keys,
                "PolicyName": step.name,
                "PolicyType": "StepScaling",
                "StepScalingPolicyConfiguration": step_scaling(step),
            }
        )
    return requests


def target_tracking(endpoint: str, variant: str, policy: TargetTracking) -> Request:
    configuration: Request = {
        "TargetValue": policy.target_value,
        "ScaleInCooldown": policy.scale_in_cooldown,
        "ScaleOutCooldown": policy.scale_out_cooldown,
    }
    if policy.metric == "SageMakerVariantInvocationsPerInstance":
        configuration["PredefinedMetricSpecification"] = {"PredefinedMetricType": policy.metric}
    else:
        configuration["CustomizedMetricSpecification"] = {
            "MetricName": policy.metric,
            "Namespace": ENDPOINT_METRICS_NAMESPACE,
            "Dimensions": variant_dimensions(endpoint, variant),
            "Statistic": "Average",
            "Unit": "Percent",
        }
    return configuration


def step_scaling(step: StepScaling) -> Request:
    adjustments = []
    for item in step.steps:
        adjustment: Request = {"MetricIntervalLowerBound": item.lower, "ScalingAdjustment": item.adjustment}
        if item.upper is not None:
            adjustment["MetricIntervalUpperBound"] = item.upper
        adjustments.append(adjustment)
    return {
        "AdjustmentType": "ChangeInCapacity",
        "StepAdjustments": adjustments,
        "Cooldown": step.cooldown,
        "MetricAggregationType": "Average",
    }


def alarm_name(endpoint: str, variant: str, policy_name: str) -> str:
    return f"{endpoint}-{variant}-{policy_name}"


def alarm_request(endpoint: str, variant: str, step: StepScaling, policy_arn: str) -> Request:
    """The CloudWatch alarm that triggers the step policy: OverheadLatency above the threshold."""
    return {
        "AlarmName": alarm_name(endpoint, variant, step.name),
        "AlarmDescription": f"byom: scale {endpoint}/{variant} out on overhead latency",
        "Namespace": INVOCATION_METRICS_NAMESPACE,
        "MetricName": "OverheadLatency",
        "Dimensions": variant_dimensions(endpoint, variant),
        "Statistic": "Average",
        "Unit": "Microseconds",
        "Period": step.period,
        "EvaluationPeriods": step.evaluation_periods,
        "Threshold": step.threshold_microseconds,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "notBreaching",
        "AlarmActions": [policy_arn],
    }


def scheduled_action_requests(endpoint: str, variant: str, plan: Plan) -> list[Request]:
    return [scheduled_action(endpoint, variant, action) for action in plan.scheduled_actions]


def scheduled_action(endpoint: str, variant: str, action: ScheduledAction) -> Request:
    capacity = {"MinCapacity": action.min_capacity, "MaxCapacity": action.max_capacity}
    return {
        **target_keys(endpoint, variant),
        "ScheduledActionName": action.name,
        "Schedule": action.schedule,
        "ScalableTargetAction": {key: value for key, value in capacity.items() if value is not None},
    }


def variant_dimensions(endpoint: str, variant: str) -> list[Request]:
    return [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]


def matches(described: Any, desired: Any) -> bool:
    """Whether `described` (an AWS answer) carries every value of `desired` (a request)."""
    if isinstance(desired, dict):
        return isinstance(described, dict) and all(
            matches(described.get(key), value) for key, value in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(described, list)
            and len(described) == len(desired)
            and all(matches(got, want) for got, want in zip(described, desired, strict=True))
        )
    if isinstance(desired, int | float) and not isinstance(desired, bool):
        return isinstance(described, int | float) and float(described) == float(desired)
    return bool(described == desired)
