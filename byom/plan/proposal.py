"""The autoscaling policy `byom plan` proposes: its deployable form, API payloads and renderings.

`autoscaling_document` turns the plan's choices into the scaling plan `byom deploy --plan` applies
(byom/ship/scaling_plan.py), and `payloads` builds the exact keyword arguments of the boto3 calls
(register_scalable_target, put_scaling_policy, put_metric_alarm, put_scheduled_action) from it
through deploy's own request builders (byom/ship/resources.py): what the plan prints is what deploy
sends.
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

from byom.errors import CommandError
from byom.ship import resources, scaling_plan

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


def autoscaling_document(policy: Policy) -> dict[str, Any]:
    """The policy in the shape `byom deploy --plan` applies, checked by deploy's own reader."""
    document: dict[str, Any] = {
        "min_capacity": policy.min_instances,
        "max_capacity": policy.max_instances,
        "target_tracking": [
            {
                "name": f"{policy.metric}-target-tracking",
                "metric": "CPUUtilization"
                if policy.metric == "cpu"
                else "SageMakerVariantInvocationsPerInstance",
                "target_value": round(policy.target_value, 2),
                "scale_in_cooldown": policy.scale_in_cooldown,
                "scale_out_cooldown": policy.scale_out_cooldown,
            }
        ],
        "scheduled_actions": [
            {
                "name": a.name,
                "schedule": a.schedule,
                "min_capacity": a.min_instances,
                "max_capacity": a.max_instances,
            }
            for a in policy.scheduled
        ],
    }
    threshold = policy.overhead_latency_us
    if (
        threshold is not None
    ):  # bounds relative to the alarm threshold: +1 instance above it, +2 past twice it
        document["step_scaling"] = {
            "name": "overhead-latency",
            "threshold_microseconds": threshold,
            "cooldown": policy.scale_out_cooldown,
            "steps": [
                {"lower": 0, "upper": threshold, "adjustment": 1},
                {"lower": threshold, "adjustment": 2},
            ],
        }
    scaling_plan.Plan.from_document(document)  # a name or value deploy would refuse fails here
    return document


def payloads(policy: Policy) -> dict[str, Any]:
    plan = scaling_plan.Plan.from_document(autoscaling_document(policy))
    endpoint, variant = policy.endpoint, policy.variant
    step = plan.step_scaling
    return {
        "register_scalable_target": resources.scalable_target_request(endpoint, variant, plan),
        "put_scaling_policy": resources.policy_requests(endpoint, variant, plan),
        "put_metric_alarm": [resources.alarm_request(endpoint, variant, step, ARN_PLACEHOLDER)]
        if step
        else [],
        "put_scheduled_action": resources.scheduled_action_requests(endpoint, variant, plan),
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
