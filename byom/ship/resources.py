"""What a deployment is, as AWS request parameters: one source for `deploy` and `cfn`.

Owns: the model, endpoint-config, scalable-target, scaling-policy, alarm and scheduled-action
requests built from a Config and a Plan (one model per variant, byom/ship/variants.py; the
endpoint config's ProductionVariants, ShadowProductionVariants, DataCaptureConfig and
AsyncInferenceConfig), the content-derived names that make `deploy` idempotent
(`<endpoint>-<8 hex of the request>`: the same inputs give the same name, so a second run finds
everything in place), and `matches`, which compares a described resource with a request.
Pure functions: no AWS calls, no printing.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from byom.errors import CommandError
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


def initial_count(config: Config, plan: Plan | None, variant: Variant | None = None) -> int:
    """Instances for a new variant: the configured count, inside the plan's range if any."""
    count = (variant or variants.of(config)[0]).instance_count
    if plan is None:
        return count
    return min(max(count, plan.min_capacity), plan.max_capacity)


def initial_counts(config: Config, plans: Mapping[str, Plan]) -> dict[str, int]:
    return {v.name: initial_count(config, plans.get(v.name), v) for v in variants.of(config)}


def endpoint_config_request(
    config: Config, models: str | Mapping[str, str], counts: int | Mapping[str, int]
) -> Request:
    """The endpoint config; `models` and `counts` by variant name (or one value for every variant)."""
    endpoint = required(config.endpoint, "endpoint")
    built = {
        variant.name: variant_request(
            config,
            variant,
            models if isinstance(models, str) else models[variant.name],
            counts if isinstance(counts, int) else counts[variant.name],
        )
        for variant in variants.of(config)
    }
    content: Request = {"ProductionVariants": [built[v.name] for v in variants.production(config)]}
    shadow = variants.shadow(config)
    if shadow is not None:
        content["ShadowProductionVariants"] = [built[shadow.name]]
    if config.data_capture:
        content["DataCaptureConfig"] = data_capture(config.data_capture, config.capture_percent)
    if config.async_output:
        content["AsyncInferenceConfig"] = async_inference(config)
    return {"EndpointConfigName": derived_name(endpoint, content), **content}


def variant_request(config: Config, variant: Variant, model_name: str, instance_count: int) -> Request:
    found: Request = {"VariantName": variant.name, "ModelName": model_name}
    if config.serverless_memory is None:
        found |= {"InstanceType": variant.instance_type, "InitialInstanceCount": instance_count}
    else:
        found["ServerlessConfig"] = serverless(config)
    found["InitialVariantWeight"] = variant.weight
    return found


def serverless(config: Config) -> Request:
    """A variant's ServerlessConfig; provisioned concurrency must not exceed the maximum."""
    provisioned = config.provisioned_concurrency
    if provisioned is not None and provisioned > config.max_concurrency:
        raise CommandError(
            f"provisioned concurrency {provisioned} is above max concurrency {config.max_concurrency}"
        )
    found: Request = {"MemorySizeInMB": config.serverless_memory, "MaxConcurrency": config.max_concurrency}
    if provisioned is not None:
        found["ProvisionedConcurrency"] = provisioned
    return found


def async_inference(config: Config) -> Request:
    """AsyncInferenceConfig: where answers go, who is told, how many run at once per instance."""
    output: Request = {"S3OutputPath": config.async_output}
    topics = {"SuccessTopic": config.async_success_topic, "ErrorTopic": config.async_error_topic}
    if any(topics.values()):
        output["NotificationConfig"] = {key: arn for key, arn in topics.items() if arn}
    found: Request = {"OutputConfig": output}
    if config.async_max_concurrency is not None:
        found["ClientConfig"] = {"MaxConcurrentInvocationsPerInstance": config.async_max_concurrency}
    return found


ASYNC_DETAILS = ("async_success_topic", "async_error_topic", "async_max_concurrency")


def check_shape(config: Config, plans: Mapping[str, Plan], rollout_asked: bool) -> None:
    """What each shape cannot take: a serverless endpoint instance autoscaling, a rollout
    strategy, several variants or asynchronous inference; async settings without an output."""
    variants.check_shape(config)
    if config.async_output is None:
        given = [name for name in ASYNC_DETAILS if getattr(config, name) is not None]
        if given:
            raise CommandError(f"{given[0]} needs async_output (the s3:// prefix answers are written to)")
    if config.serverless_memory is None:
        if config.provisioned_concurrency is not None:
            raise CommandError("provisioned concurrency needs serverless_memory (a serverless endpoint)")
        return
    if plans:
        raise CommandError(
            "a serverless endpoint scales itself: --plan (instance autoscaling) does not apply"
        )
    if rollout_asked:
        raise CommandError("SageMaker's rollout strategies do not apply to serverless endpoints")
    if config.async_output is not None:
        raise CommandError(
            "asynchronous inference needs instances: async_output does not apply to serverless"
        )


def data_capture(destination: str, percent: int) -> Request:
    return {
        "EnableCapture": True,
        "InitialSamplingPercentage": percent,
        "DestinationS3Uri": destination,
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {
            "CsvContentTypes": ["text/csv"],
            "JsonContentTypes": ["application/json"],
        },
    }


def config_matches(described: Request, desired: Request) -> bool:
    """Whether a described endpoint config serves what `desired` asks, instance counts aside."""
    for key in ("ProductionVariants", "ShadowProductionVariants"):
        wanted = [
            {k: v for k, v in variant.items() if k != "InitialInstanceCount"}
            for variant in desired.get(key, [])
        ]
        if not matches(described.get(key) or [], wanted):
            return False
    capture_wanted = "DataCaptureConfig" in desired
    capture_on = bool(described.get("DataCaptureConfig", {}).get("EnableCapture"))
    async_wanted = desired.get("AsyncInferenceConfig")
    return (
        capture_wanted == capture_on
        and (not capture_wanted or matches(described.get("DataCaptureConfig"), desired["DataCaptureConfig"]))
        and bool(async_wanted) == bool(described.get("AsyncInferenceConfig"))
        and (not async_wanted or matches(described.get("AsyncInferenceConfig"), async_wanted))
    )


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
