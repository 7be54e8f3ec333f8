"""`byom deploy` against moto: resources created, a second run changes nothing, --dry-run makes
no change, and the update path (which moto lacks) through botocore's Stubber."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from byom.errors import CommandError
from byom.shared import config
from byom.shared.aws import Aws
from byom.ship import deploy, endpoint_config, following, resources
from tests.helpers.rollout import endpoint_answer, stub_new_config
from tests.helpers.ship import DEPLOY_FLAGS, IMAGE, MODEL_DATA, ROLE, byom, dry_run_calls, write_plan

TARGET = {
    "ServiceNamespace": "sagemaker",
    "ResourceId": "endpoint/iris/variant/AllTraffic",
    "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
}


def test_deploy_creates_the_endpoint_and_its_autoscaling(client: Any, tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "plan.json")
    result = byom("deploy", *DEPLOY_FLAGS, "--workers", "3", "--timeout", "30", "--plan", str(plan))
    assert result.code == 0, result.err
    sagemaker = client("sagemaker")
    endpoint = sagemaker.describe_endpoint(EndpointName="iris")
    assert endpoint["EndpointStatus"] == "InService"
    described = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    [variant] = described["ProductionVariants"]
    assert (variant["InstanceType"], variant["InitialInstanceCount"]) == ("ml.m5.xlarge", 2)
    model = sagemaker.describe_model(ModelName=variant["ModelName"])
    assert model["ExecutionRoleArn"] == ROLE
    assert model["PrimaryContainer"]["Image"] == IMAGE
    assert model["PrimaryContainer"]["ModelDataUrl"] == MODEL_DATA
    assert model["PrimaryContainer"]["Environment"] == {
        "SAGEMAKER_MODEL_SERVER_WORKERS": "3",
        "SAGEMAKER_MODEL_SERVER_TIMEOUT": "30",
    }
    scaling = client("application-autoscaling")
    [target] = scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert (target["ResourceId"], target["MinCapacity"], target["MaxCapacity"]) == (
        TARGET["ResourceId"],
        2,
        6,
    )
    policies = {p["PolicyName"]: p for p in scaling.describe_scaling_policies(**TARGET)["ScalingPolicies"]}
    assert sorted(policies) == ["cpu", "invocations", "overhead-latency"]
    tracking = policies["invocations"]["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["TargetValue"] == 700.0
    assert (
        tracking["PredefinedMetricSpecification"]["PredefinedMetricType"]
        == "SageMakerVariantInvocationsPerInstance"
    )
    cpu = policies["cpu"]["TargetTrackingScalingPolicyConfiguration"]["CustomizedMetricSpecification"]
    assert (cpu["MetricName"], cpu["Namespace"]) == ("CPUUtilization", "/aws/sagemaker/Endpoints")
    [alarm] = client("cloudwatch").describe_alarms(AlarmNames=["iris-AllTraffic-overhead-latency"])[
        "MetricAlarms"
    ]
    assert alarm["MetricName"] == "OverheadLatency" and alarm["Threshold"] == 20000
    assert alarm["AlarmActions"] == [policies["overhead-latency"]["PolicyARN"]]
    [action] = scaling.describe_scheduled_actions(**TARGET)["ScheduledActions"]
    assert (action["Schedule"], action["ScalableTargetAction"]) == (
        "cron(0 7 ? * MON-FRI *)",
        {"MinCapacity": 4},
    )


def test_a_second_deploy_changes_nothing(client: Any, tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "plan.json")
    assert byom("deploy", *DEPLOY_FLAGS, "--plan", str(plan)).code == 0
    again = byom("deploy", *DEPLOY_FLAGS, "--plan", str(plan), "--dry-run")
    assert again.code == 0, again.err
    changes = dry_run_calls(again)
    assert changes == [], again.out  # nothing would be called that changes anything
    assert "will read" not in again.out and "(dry run) scaling policy cpu: unchanged" in again.out  # read
    assert byom("deploy", *DEPLOY_FLAGS, "--plan", str(plan)).code == 0
    assert len(client("sagemaker").list_models()["Models"]) == 1
    assert len(client("sagemaker").list_endpoint_configs()["EndpointConfigs"]) == 1


def test_a_changed_plan_changes_only_what_differs(client: Any, tmp_path: Path) -> None:
    assert byom("deploy", *DEPLOY_FLAGS, "--plan", str(write_plan(tmp_path / "a.json"))).code == 0
    changed = write_plan(tmp_path / "b.json", max_capacity=10, step_scaling=None, scheduled_actions=[])
    result = byom("deploy", *DEPLOY_FLAGS, "--plan", str(changed), "--dry-run")
    calls = dry_run_calls(result)
    assert calls == [
        "application-autoscaling RegisterScalableTarget",
        "application-autoscaling DeleteScalingPolicy",
        "cloudwatch DeleteAlarms",
        "application-autoscaling DeleteScheduledAction",
    ]
    assert byom("deploy", *DEPLOY_FLAGS, "--plan", str(changed)).code == 0
    scaling = client("application-autoscaling")
    assert [p["PolicyName"] for p in scaling.describe_scaling_policies(**TARGET)["ScalingPolicies"]] == [
        "invocations",
        "cpu",
    ]
    assert (
        scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"][0]["MaxCapacity"]
        == 10
    )


def test_dry_run_prints_the_calls_and_makes_none(client: Any, tmp_path: Path) -> None:
    result = byom("deploy", *DEPLOY_FLAGS, "--plan", str(write_plan(tmp_path / "plan.json")), "--dry-run")
    assert result.code == 0, result.err
    operations = dry_run_calls(result)
    assert operations == [
        "sagemaker CreateModel",
        "sagemaker CreateEndpointConfig",
        "sagemaker CreateEndpoint",
        "application-autoscaling RegisterScalableTarget",
        "application-autoscaling PutScalingPolicy",
        "application-autoscaling PutScalingPolicy",
        "application-autoscaling PutScalingPolicy",
        "cloudwatch PutMetricAlarm",
        "application-autoscaling PutScheduledAction",
    ]
    assert '"InitialInstanceCount": 2' in result.out and '"InstanceType": "ml.m5.xlarge"' in result.out
    assert client("sagemaker").list_models()["Models"] == []
    assert client("sagemaker").list_endpoints()["Endpoints"] == []


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--endpoint", "iris", "--image", IMAGE, "--model-data", MODEL_DATA), "missing --role"),
        (("--role", "SageMakerRole"), "is not an IAM role ARN"),
        (("--instance-type", "m5.xlarge"), "hosting types start with 'ml.'"),
        (("--instance-type", "ml.m5.huge"), "not a SageMaker hosting instance type"),
        (("--instance-count", "0"), "instance count must be at least 1"),
        (("--endpoint", "iris_prod"), "is not a valid SageMaker name"),
        (("--endpoint", "e" * 64), "is not a valid SageMaker name"),
        (("--model-data", "/tmp/model.tar.gz"), "is not an s3://bucket/key URL"),
        (("--image", "byom"), "is not a registry image reference"),
        (("--plan", "missing.json"), "cannot read the plan missing.json"),
    ],
)
def test_bad_settings_are_refused_before_any_call(aws_env: str, flags: tuple[str, ...], message: str) -> None:
    base = DEPLOY_FLAGS if flags[0] != "--endpoint" else ()
    result = byom("deploy", *base, *flags)
    assert result.code == 2
    assert message in result.err and result.err.count("\n") == 1, result.err


def test_min_above_max_in_the_plan_is_refused(aws_env: str, tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "plan.json", min_capacity=5, max_capacity=3)
    result = byom("deploy", *DEPLOY_FLAGS, "--plan", str(plan))
    assert (result.code, result.err.strip()) == (
        2,
        f"byom deploy: {plan}: min capacity 5 is greater than max capacity 3",
    )


def test_the_project_file_supplies_settings_and_flags_win(client: Any, tmp_path: Path) -> None:
    (tmp_path / "byom.toml").write_text(
        f'endpoint = "iris"\nimage = "{IMAGE}"\nmodel_data = "{MODEL_DATA}"\nrole = "{ROLE}"\n'
        'instance_type = "ml.c5.large"\ninstance_count = 3\n'
    )
    assert byom("deploy", "--instance-count", "4").code == 0
    name = client("sagemaker").describe_endpoint(EndpointName="iris")["EndpointConfigName"]
    [variant] = client("sagemaker").describe_endpoint_config(EndpointConfigName=name)["ProductionVariants"]
    assert (variant["InstanceType"], variant["InitialInstanceCount"]) == ("ml.c5.large", 4)


def test_a_typo_in_the_project_file_is_an_error(aws_env: str, tmp_path: Path) -> None:
    (tmp_path / "byom.toml").write_text('endpont = "iris"\n')
    result = byom("deploy")
    assert result.code == 2 and "unknown setting(s) endpont" in result.err


def test_an_update_keeps_the_instance_count_in_a_new_config(
    aws_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto has no UpdateEndpoint: the whole SageMaker conversation of an update, stubbed."""
    monkeypatch.setattr(following, "POLL_SECONDS", 0)
    settings = config.Config(
        endpoint="iris", image=IMAGE.replace("abc1234", "def5678"), model_data=MODEL_DATA, role=ROLE
    )
    model = resources.model_request(settings)
    new_config = endpoint_config.endpoint_config_request(settings, model["ModelName"], 5)
    aws = Aws(boto3.Session(region_name="us-east-1"))
    with Stubber(aws.client("sagemaker")) as stub:
        stub.add_response(
            "describe_endpoint", endpoint_answer("InService", "iris-old", 5), {"EndpointName": "iris"}
        )
        stub.add_client_error(
            "describe_model",
            "ValidationException",
            "Could not find model",
            expected_params={"ModelName": model["ModelName"]},
        )
        stub.add_response(
            "create_model", {"ModelArn": "arn:aws:sagemaker:us-east-1:123456789012:model/x"}, model
        )
        stub_new_config(stub, new_config)
        stub.add_response(
            "update_endpoint",
            {"EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/iris"},
            {"EndpointName": "iris", "EndpointConfigName": new_config["EndpointConfigName"]},
        )
        stub.add_response(
            "describe_endpoint", endpoint_answer("Updating", "iris-old", 5), {"EndpointName": "iris"}
        )
        stub.add_response(
            "describe_endpoint",
            endpoint_answer("InService", new_config["EndpointConfigName"], 5),
            {"EndpointName": "iris"},
        )
        deploy.deploy(aws, settings)
        stub.assert_no_pending_responses()
    assert new_config["ProductionVariants"][0]["InitialInstanceCount"] == 5


def test_data_capture_is_configured_and_stays_idempotent(client: Any) -> None:
    capture = ("--data-capture", "s3://byom-capture/iris/", "--capture-percent", "20")
    assert byom("deploy", *DEPLOY_FLAGS, *capture).code == 0
    name = client("sagemaker").describe_endpoint(EndpointName="iris")["EndpointConfigName"]
    described = client("sagemaker").describe_endpoint_config(EndpointConfigName=name)["DataCaptureConfig"]
    assert (described["EnableCapture"], described["InitialSamplingPercentage"]) == (True, 20)
    assert described["DestinationS3Uri"] == "s3://byom-capture/iris/"
    again = byom("deploy", *DEPLOY_FLAGS, *capture, "--dry-run")
    assert dry_run_calls(again) == [], again.out
    without_capture = byom("deploy", *DEPLOY_FLAGS, "--dry-run")
    assert "sagemaker UpdateEndpoint" in without_capture.out  # turning capture off is a change


def test_errors_are_one_line_when_run_as_a_module(aws_env: str) -> None:
    """`python -m byom.cli` (how the README runs it) reports CommandErrors, not tracebacks."""
    done = subprocess.run(
        [sys.executable, "-m", "byom.cli", "deploy", *DEPLOY_FLAGS, "--instance-type", "ml.m5.huge"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        timeout=60,
    )
    assert done.returncode == 2
    assert (
        done.stderr
        == "byom deploy: instance type 'ml.m5.huge' is not a SageMaker hosting instance type (e.g. ml.m5.xlarge)\n"
    )


def test_a_new_instance_type_deregisters_autoscaling_before_the_update(client: Any, tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "plan.json", step_scaling=None, scheduled_actions=[])
    assert byom("deploy", *DEPLOY_FLAGS, "--plan", str(plan)).code == 0
    result = byom(
        "deploy", *DEPLOY_FLAGS, "--plan", str(plan), "--instance-type", "ml.c5.xlarge", "--dry-run"
    )
    calls = dry_run_calls(result)
    assert calls == [
        "application-autoscaling DeleteScalingPolicy",
        "application-autoscaling DeleteScalingPolicy",
        "application-autoscaling DeregisterScalableTarget",
        "sagemaker CreateEndpointConfig",
        "sagemaker UpdateEndpoint",
    ]
    assert '"InstanceType": "ml.c5.xlarge", "InitialInstanceCount": 2' in result.out


def test_an_unconfigured_profile_is_named_with_where_it_came_from(
    aws_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "ml")
    result = byom("status", "--endpoint", "iris")
    assert result.code == 2
    assert "AWS profile 'ml', from AWS_PROFILE, is not configured (~/.aws/config)" in result.err
    flagged = byom("status", "--endpoint", "iris", "--profile", "prod")
    assert "AWS profile 'prod', from --profile (or byom.toml), is not configured" in flagged.err


def test_an_aws_refusal_names_the_profile_and_region(aws_env: str) -> None:
    aws = Aws(boto3.Session(region_name="us-east-1"))
    with pytest.raises(
        CommandError, match=r"sagemaker DescribeEndpoint: .* \(profile 'default', region us-east-1\)$"
    ):
        aws.read("sagemaker", "describe_endpoint", EndpointName="nowhere")
