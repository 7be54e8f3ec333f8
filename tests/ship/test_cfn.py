"""`byom cfn`: the template describes what deploy makes, and cfn-lint (offline, with its bundled
resource specifications) finds nothing wrong with it."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers.ship import DEPLOY_FLAGS, IMAGE, ROLE, byom, lint, write_plan


def test_the_template_passes_cfn_lint(tmp_path: Path) -> None:
    template = tmp_path / "endpoint.json"
    result = byom(
        "cfn",
        *DEPLOY_FLAGS,
        "--plan",
        str(write_plan(tmp_path / "plan.json")),
        "--workers",
        "3",
        "--data-capture",
        "s3://byom-capture/iris/",
        "--output",
        str(template),
    )
    assert result.code == 0, result.err
    linted = lint(template)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    resources = json.loads(template.read_text())["Resources"]
    assert {name: r["Type"] for name, r in resources.items()} == {
        "Model": "AWS::SageMaker::Model",
        "EndpointConfig": "AWS::SageMaker::EndpointConfig",
        "Endpoint": "AWS::SageMaker::Endpoint",
        "ScalableTarget": "AWS::ApplicationAutoScaling::ScalableTarget",
        "InvocationsPolicy": "AWS::ApplicationAutoScaling::ScalingPolicy",
        "CpuPolicy": "AWS::ApplicationAutoScaling::ScalingPolicy",
        "OverheadLatencyPolicy": "AWS::ApplicationAutoScaling::ScalingPolicy",
        "OverheadLatencyAlarm": "AWS::CloudWatch::Alarm",
    }
    model = resources["Model"]["Properties"]
    assert (model["ExecutionRoleArn"], model["PrimaryContainer"]["Image"]) == (ROLE, IMAGE)
    [variant] = resources["EndpointConfig"]["Properties"]["ProductionVariants"]
    assert (variant["InstanceType"], variant["InitialInstanceCount"]) == ("ml.m5.xlarge", 2)
    target = resources["ScalableTarget"]["Properties"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 6)
    assert target["ScheduledActions"][0]["Schedule"] == "cron(0 7 ? * MON-FRI *)"
    assert resources["OverheadLatencyAlarm"]["Properties"]["AlarmActions"] == [
        {"Ref": "OverheadLatencyPolicy"}
    ]


def test_a_broken_template_fails_cfn_lint(tmp_path: Path) -> None:
    """The check can fail: the same template with an instance type CloudFormation rejects."""
    template = tmp_path / "endpoint.json"
    assert byom("cfn", *DEPLOY_FLAGS, "--output", str(template)).code == 0
    document = json.loads(template.read_text())
    document["Resources"]["EndpointConfig"]["Properties"]["ProductionVariants"][0]["InitialInstanceCount"] = (
        "two"
    )
    template.write_text(json.dumps(document))
    assert lint(template).returncode != 0


def test_cfn_validates_like_deploy(tmp_path: Path) -> None:
    result = byom("cfn", *DEPLOY_FLAGS, "--instance-type", "ml.m5.huge")
    assert result.code == 2 and "not a SageMaker hosting instance type" in result.err
