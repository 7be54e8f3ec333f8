"""byom.plan.proposal: the payloads, the boto3 script (run against recording fake clients), CloudFormation."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest
import yaml

from byom.errors import CommandError
from byom.plan import proposal
from byom.plan.proposal import Policy, ScheduledAction


def full_policy(metric: str = "invocations", target: float = 12360.0) -> Policy:
    morning = ScheduledAction.parse("morning;cron(0 8 * * ? *);4;10")
    return Policy("iris", "AllTraffic", metric, target, 2, 6, 600, 120, 50_000, [morning])


def test_target_tracking_on_invocations_per_instance() -> None:
    calls = proposal.payloads(Policy("iris", "AllTraffic", "invocations", 12360.0, 2, 4))
    target = calls["register_scalable_target"]
    assert target == {
        "ServiceNamespace": "sagemaker",
        "ResourceId": "endpoint/iris/variant/AllTraffic",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
        "MinCapacity": 2,
        "MaxCapacity": 4,
    }
    (tracking,) = calls["put_scaling_policy"]
    configuration = tracking["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["PolicyType"] == "TargetTrackingScaling"
    assert configuration["TargetValue"] == 12360.0
    assert configuration["PredefinedMetricSpecification"] == {
        "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
    }
    assert (configuration["ScaleInCooldown"], configuration["ScaleOutCooldown"]) == (300, 300)
    assert calls["put_metric_alarm"] == [] and calls["put_scheduled_action"] == []


def test_target_tracking_on_cpu_uses_the_endpoint_namespace() -> None:
    calls = proposal.payloads(full_policy("cpu", 280.0))
    configuration = calls["put_scaling_policy"][0]["TargetTrackingScalingPolicyConfiguration"]
    metric = configuration["CustomizedMetricSpecification"]
    assert (metric["Namespace"], metric["MetricName"]) == ("/aws/sagemaker/Endpoints", "CPUUtilization")
    assert {"Name": "EndpointName", "Value": "iris"} in metric["Dimensions"]
    assert configuration["TargetValue"] == 280.0


def test_overhead_latency_step_scaling_is_in_microseconds() -> None:
    calls = proposal.payloads(full_policy())
    step = calls["put_scaling_policy"][1]
    (alarm,) = calls["put_metric_alarm"]
    assert step["PolicyType"] == "StepScaling"
    assert [s["ScalingAdjustment"] for s in step["StepScalingPolicyConfiguration"]["StepAdjustments"]] == [
        1,
        2,
    ]
    assert (alarm["MetricName"], alarm["Unit"], alarm["Threshold"]) == (
        "OverheadLatency",
        "Microseconds",
        50_000,
    )
    assert (alarm["Period"], alarm["EvaluationPeriods"]) == (60, 3)


def test_the_boto3_script_makes_exactly_the_payload_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = proposal.payloads(full_policy())
    recorded: list[tuple[str, str, dict[str, Any]]] = []

    class FakeClient:
        def __init__(self, service: str) -> None:
            self.service = service

        def __getattr__(self, operation: str) -> Any:
            def call(**kwargs: Any) -> dict[str, str]:
                recorded.append((self.service, operation, kwargs))
                return {"PolicyARN": "arn:aws:autoscaling:step"}

            return call

    fake_boto3 = types.ModuleType("boto3")
    fake_boto3.client = FakeClient  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "boto3", fake_boto3)
    exec(compile(proposal.boto3_script(calls), "plan-boto3.py", "exec"), {})
    operations = [(service, operation) for service, operation, _ in recorded]
    assert operations == [
        ("application-autoscaling", "register_scalable_target"),
        ("application-autoscaling", "put_scaling_policy"),
        ("application-autoscaling", "put_scaling_policy"),
        ("cloudwatch", "put_metric_alarm"),
        ("application-autoscaling", "put_scheduled_action"),
    ]
    assert recorded[0][2] == calls["register_scalable_target"]
    assert recorded[2][2] == calls["put_scaling_policy"][1]
    assert recorded[3][2]["AlarmActions"] == ["arn:aws:autoscaling:step"]
    assert recorded[4][2]["Schedule"] == "cron(0 8 * * ? *)"


def test_the_cloudformation_snippet_holds_the_same_resources() -> None:
    calls = proposal.payloads(full_policy())
    resources = yaml.safe_load(proposal.cloudformation(calls))["Resources"]
    target = resources["ScalableTarget"]["Properties"]
    assert resources["ScalableTarget"]["Type"] == "AWS::ApplicationAutoScaling::ScalableTarget"
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 6)
    assert target["ScheduledActions"][0]["ScalableTargetAction"] == {"MinCapacity": 4, "MaxCapacity": 10}
    tracking = resources["TargetTrackingPolicy"]["Properties"]
    assert tracking["ScalingTargetId"] == {"Ref": "ScalableTarget"}
    assert tracking["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 12360.0
    assert "ResourceId" not in tracking
    alarm = resources["OverheadLatencyAlarm"]["Properties"]
    assert alarm["AlarmActions"] == [{"Fn::GetAtt": ["StepScalingPolicy", "Arn"]}]


@pytest.mark.parametrize(
    "text",
    ["morning;cron(0 8 * * ? *);4", "m;every day;1;2", "m;cron(0 8 * * ? *);5;2", "m;rate(1 hour);a;2"],
)
def test_a_bad_schedule_is_refused(text: str) -> None:
    with pytest.raises(CommandError, match="--schedule"):
        ScheduledAction.parse(text)
