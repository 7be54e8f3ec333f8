"""The autoscaling policy as Application Auto Scaling / CloudWatch API payloads, and its renderings.

`payloads` builds the exact keyword arguments of the boto3 calls (register_scalable_target,
put_scaling_policy, put_metric_alarm, put_scheduled_action): that dict is the policy's JSON form.
`boto3_script` prints them as a runnable Python snippet and `cloudformation` as a template
fragment (AWS::ApplicationAutoScaling::ScalableTarget and ::ScalingPolicy, AWS::CloudWatch::Alarm).
Target tracking runs on SageMakerVariantInvocationsPerInstance or on CPUUtilization (a customised
metric in /aws/sagemaker/Endpoints); the optional step policy watches OverheadLatency, which
SageMaker reports in microseconds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from byom.cli import CommandError

NAMESPACE = "sagemaker"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"
ARN_PLACEHOLDER = "<ARN of the step scaling policy>"


@dataclass(frozen=True)
class ScheduledAction:
    name: str
    schedule: str
    min_instances: int
    max_instances: int

    @classmethod
    def parse(cls, text: str) -> ScheduledAction:
        parts = text.split(";")
        if len(parts) != 4 or not re.fullmatch(r"(cron|rate|at)\(.+\)", parts[1].strip()):
            raise CommandError(f"--schedule {text!r}: expected 'NAME;cron(...)|rate(...)|at(...);MIN;MAX'")
        try:
            low, high = int(parts[2]), int(parts[3])
        except ValueError:
            raise CommandError(f"--schedule {text!r}: MIN and MAX must be whole numbers") from None
        if not 0 <= low <= high:
            raise CommandError(f"--schedule {text!r}: needs 0 <= MIN <= MAX")
        return cls(parts[0].strip(), parts[1].strip(), low, high)


@dataclass(frozen=True)
class Policy:
    endpoint: str
    variant: str
    metric: str  # "invocations" or "cpu"
    target_value: float
    min_instances: int
    max_instances: int
    scale_in_cooldown: int = 300
    scale_out_cooldown: int = 300
    overhead_latency_us: int | None = None
    scheduled: Sequence[ScheduledAction] = field(default_factory=tuple)

    @property
    def resource_id(self) -> str:
        return f"endpoint/{self.endpoint}/variant/{self.variant}"


def payloads(policy: Policy) -> dict[str, Any]:
    target = {"ServiceNamespace": NAMESPACE, "ResourceId": policy.resource_id, "ScalableDimension": DIMENSION}
    scaling = [_target_tracking(policy, target)]
    alarms = []
    if policy.overhead_latency_us is not None:
        scaling.append(_overhead_step_policy(policy, target))
        alarms.append(_overhead_alarm(policy))
    return {
        "register_scalable_target": {
            **target,
            "MinCapacity": policy.min_instances,
            "MaxCapacity": policy.max_instances,
        },
        "put_scaling_policy": scaling,
        "put_metric_alarm": alarms,
        "put_scheduled_action": [_scheduled(action, target) for action in policy.scheduled],
    }


def _target_tracking(policy: Policy, target: dict[str, str]) -> dict[str, Any]:
    configuration: dict[str, Any] = {
        "TargetValue": round(policy.target_value, 2),
        "ScaleInCooldown": policy.scale_in_cooldown,
        "ScaleOutCooldown": policy.scale_out_cooldown,
    }
    if policy.metric == "cpu":
        configuration["CustomizedMetricSpecification"] = {
            "MetricName": "CPUUtilization",
            "Namespace": "/aws/sagemaker/Endpoints",
            "Dimensions": _dimensions(policy),
            "Statistic": "Average",
            "Unit": "Percent",
        }
    else:
        configuration["PredefinedMetricSpecification"] = {
            "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
        }
    name = f"{policy.endpoint}-{policy.metric}-target-tracking"
    return {
        "PolicyName": name,
        **target,
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": configuration,
    }


def _overhead_step_policy(policy: Policy, target: dict[str, str]) -> dict[str, Any]:
    threshold = policy.overhead_latency_us or 0
    steps = [  # bounds are relative to the alarm threshold: +1 instance above it, +2 past twice it
        {"MetricIntervalLowerBound": 0, "MetricIntervalUpperBound": threshold, "ScalingAdjustment": 1},
        {"MetricIntervalLowerBound": threshold, "ScalingAdjustment": 2},
    ]
    configuration = {
        "AdjustmentType": "ChangeInCapacity",
        "StepAdjustments": steps,
        "Cooldown": policy.scale_out_cooldown,
        "MetricAggregationType": "Average",
    }
    return {
        "PolicyName": f"{policy.endpoint}-overhead-latency-step",
        **target,
        "PolicyType": "StepScaling",
        "StepScalingPolicyConfiguration": configuration,
    }


def _overhead_alarm(policy: Policy) -> dict[str, Any]:
    return {
        "AlarmName": f"{policy.endpoint}-{policy.variant}-overhead-latency-high",
        "Namespace": "AWS/SageMaker",
        "MetricName": "OverheadLatency",
        "Dimensions": _dimensions(policy),
        "Statistic": "Average",
        "Unit": "Microseconds",
        "Period": 60,
        "EvaluationPeriods": 3,
        "DatapointsToAlarm": 3,
        "Threshold": policy.overhead_latency_us,
        "ComparisonOperator": "GreaterThanThreshold",
        "AlarmActions": [ARN_PLACEHOLDER],
    }


def _dimensions(policy: Policy) -> list[dict[str, str]]:
    return [
        {"Name": "EndpointName", "Value": policy.endpoint},
        {"Name": "VariantName", "Value": policy.variant},
    ]


def _scheduled(action: ScheduledAction, target: dict[str, str]) -> dict[str, Any]:
    capacity = {"MinCapacity": action.min_instances, "MaxCapacity": action.max_instances}
    return {
        "ScheduledActionName": action.name,
        **target,
        "Schedule": action.schedule,
        "ScalableTargetAction": capacity,
    }


def boto3_script(calls: dict[str, Any]) -> str:
    """The policy as the boto3 calls that apply it."""
    lines = [
        "import boto3",
        "",
        'autoscaling = boto3.client("application-autoscaling")',
        'cloudwatch = boto3.client("cloudwatch")',
        "",
    ]
    lines.append(f"autoscaling.register_scalable_target(**{_py(calls['register_scalable_target'])})")
    for policy in calls["put_scaling_policy"]:
        assign = "step = " if policy["PolicyType"] == "StepScaling" else ""
        lines.append(f"{assign}autoscaling.put_scaling_policy(**{_py(policy)})")
    for alarm in calls["put_metric_alarm"]:
        text = _py(alarm).replace(json.dumps(ARN_PLACEHOLDER), 'step["PolicyARN"]')
        lines.append(f"cloudwatch.put_metric_alarm(**{text})")
    lines += [
        f"autoscaling.put_scheduled_action(**{_py(action)})" for action in calls["put_scheduled_action"]
    ]
    return "\n".join(lines) + "\n"


def _py(value: Any) -> str:
    """A Python literal for JSON-shaped data (JSON's null/true/false spelled the Python way)."""
    return (
        json.dumps(value, indent=4)
        .replace(": null", ": None")
        .replace(": true", ": True")
        .replace(": false", ": False")
    )


def cloudformation(calls: dict[str, Any]) -> str:
    """A CloudFormation template fragment (YAML) with the same resources."""
    target = dict(calls["register_scalable_target"])
    if calls["put_scheduled_action"]:
        target["ScheduledActions"] = [
            {
                k: v
                for k, v in action.items()
                if k in ("ScheduledActionName", "Schedule", "ScalableTargetAction")
            }
            for action in calls["put_scheduled_action"]
        ]
    resources: dict[str, Any] = {
        "ScalableTarget": {"Type": "AWS::ApplicationAutoScaling::ScalableTarget", "Properties": target}
    }
    for policy in calls["put_scaling_policy"]:
        name = "StepScalingPolicy" if policy["PolicyType"] == "StepScaling" else "TargetTrackingPolicy"
        properties = {
            k: v
            for k, v in policy.items()
            if k not in ("ServiceNamespace", "ResourceId", "ScalableDimension")
        }
        properties["ScalingTargetId"] = {"Ref": "ScalableTarget"}
        resources[name] = {"Type": "AWS::ApplicationAutoScaling::ScalingPolicy", "Properties": properties}
    for alarm in calls["put_metric_alarm"]:
        properties = {**alarm, "AlarmActions": [{"Fn::GetAtt": ["StepScalingPolicy", "Arn"]}]}
        resources["OverheadLatencyAlarm"] = {"Type": "AWS::CloudWatch::Alarm", "Properties": properties}
    return yaml.safe_dump({"Resources": resources}, sort_keys=False, width=110)
