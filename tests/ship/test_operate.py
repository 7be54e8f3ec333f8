"""scale, status, invoke and destroy against moto, after a real `byom deploy`."""

from __future__ import annotations

import io
import json
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from byom.shared.aws import Aws
from byom.ship import invoke
from tests.helpers.ship import DEPLOY_FLAGS, byom, dry_run_calls, write_plan

TARGET = {
    "ServiceNamespace": "sagemaker",
    "ResourceId": "endpoint/iris/variant/AllTraffic",
    "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
}


@pytest.fixture
def deployed(client: Any, tmp_path: Path) -> Any:
    result = byom("deploy", *DEPLOY_FLAGS, "--plan", str(write_plan(tmp_path / "plan.json")))
    assert result.code == 0, result.err
    return client


def variant_count(client: Any) -> int:
    [variant] = client("sagemaker").describe_endpoint(EndpointName="iris")["ProductionVariants"]
    return int(variant["DesiredInstanceCount"])


def test_scale_sets_the_instance_count(deployed: Any) -> None:
    result = byom("scale", "--endpoint", "iris", "--count", "4")
    assert result.code == 0, result.err
    assert variant_count(deployed) == 4


def test_scale_dry_run_changes_nothing(deployed: Any) -> None:
    result = byom("scale", "--endpoint", "iris", "--count", "4", "--weight", "0.5", "--dry-run")
    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        '(dry run) will call sagemaker UpdateEndpointWeightsAndCapacities {"EndpointName": "iris", '
        '"DesiredWeightsAndCapacities": [{"VariantName": "AllTraffic", "DesiredInstanceCount": 4, '
        '"DesiredWeight": 0.5}]}',
        "(dry run) endpoint iris, variant AllTraffic: will be set to 4 instance(s), weight 0.5",
    ]
    assert variant_count(deployed) == 2


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--count", "9"), "count 9 is outside the autoscaling range 2-6"),
        (("--count", "0"), "count must be at least 1"),
        ((), "nothing to change"),
        (("--count", "3", "--variant", "Canary"), "has no variant 'Canary'"),
        (("--count", "3", "--endpoint", "nope"), "endpoint nope does not exist"),
    ],
)
def test_scale_refuses(deployed: Any, flags: tuple[str, ...], message: str) -> None:
    result = byom("scale", "--endpoint", "iris", *flags)
    assert result.code == 2 and message in result.err, result.err
    assert variant_count(deployed) == 2


def test_status_shows_variants_autoscaling_and_metrics(deployed: Any) -> None:
    dimensions = [{"Name": "EndpointName", "Value": "iris"}, {"Name": "VariantName", "Value": "AllTraffic"}]
    now = datetime.now(UTC) - timedelta(minutes=1)  # well inside the window status reads
    deployed("cloudwatch").put_metric_data(
        Namespace="AWS/SageMaker",
        MetricData=[
            {"MetricName": "Invocations", "Dimensions": dimensions, "Timestamp": now, "Value": 120.0},
            {"MetricName": "ModelLatency", "Dimensions": dimensions, "Timestamp": now, "Value": 2500.0},
        ],
    )
    result = byom("status", "--endpoint", "iris")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == "endpoint iris: InService"
    assert "variant AllTraffic: 2 x ml.m5.xlarge (desired 2), weight 1.0 (desired 1.0)" in lines
    assert "  autoscaling: 2-6 instances" in lines
    assert "    policy invocations: target tracking SageMakerVariantInvocationsPerInstance at 700" in lines
    assert "    policy overhead-latency: step scaling, 2 step(s)" in lines
    assert "    Invocations (sum): 120" in lines
    assert "    ModelLatency (average): 2.5 ms" in lines
    assert "    Invocation5XXErrors (sum): no data" in lines


def test_status_of_a_missing_endpoint(aws_env: str) -> None:
    result = byom("status", "--endpoint", "nope")
    assert (result.code, result.err) == (2, "byom status: endpoint nope does not exist\n")


def test_invoke_prints_the_answer(deployed: Any, aws_env: str, tmp_path: Path) -> None:
    results = {"results": [{"Body": "setosa\n", "ContentType": "text/csv"}]}
    request = urllib.request.Request(
        f"{aws_env}/moto-api/static/sagemaker/endpoint-results",
        data=json.dumps(results).encode(),
        method="POST",
    )
    urllib.request.urlopen(request).close()
    (tmp_path / "rows.csv").write_text("5.1,3.5,1.4,0.2\n")
    result = byom("invoke", "--endpoint", "iris", str(tmp_path / "rows.csv"))
    assert (result.code, result.out) == (0, "setosa\n"), result.err


@pytest.mark.parametrize(
    ("name", "body", "message"),
    [
        ("big.csv", b"1" * (6 * 1024 * 1024 + 1), "SageMaker accepts at most 6291456"),
        ("rows.txt", b"1,2", "pass --content-type"),
        ("absent.csv", None, "cannot read"),
    ],
)
def test_invoke_refuses(aws_env: str, tmp_path: Path, name: str, body: bytes | None, message: str) -> None:
    if body is not None:
        (tmp_path / name).write_bytes(body)
    result = byom("invoke", "--endpoint", "iris", str(tmp_path / name))
    assert result.code == 2 and message in result.err, result.err


def test_destroy_removes_what_deploy_made(deployed: Any) -> None:
    sagemaker = deployed("sagemaker")
    container = {
        "Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/byom:old",
        "ModelDataUrl": "s3://b-b/m.tar.gz",
    }
    for name in ("iris-deadbeef", "iris-prod-12345678"):  # an earlier deploy's model; another endpoint's
        sagemaker.create_model(
            ModelName=name, ExecutionRoleArn="arn:aws:iam::123456789012:role/R", PrimaryContainer=container
        )
    result = byom("destroy", "--endpoint", "iris", "--yes")
    assert result.code == 0, result.err
    assert sagemaker.list_endpoints()["Endpoints"] == []
    assert sagemaker.list_endpoint_configs()["EndpointConfigs"] == []
    assert [m["ModelName"] for m in sagemaker.list_models()["Models"]] == ["iris-prod-12345678"]
    scaling = deployed("application-autoscaling")
    assert scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"] == []
    assert scaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"] == []
    assert deployed("cloudwatch").describe_alarms()["MetricAlarms"] == []
    assert byom("destroy", "--endpoint", "iris").out == "endpoint iris: nothing to delete\n"


def test_destroy_asks_first(deployed: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    result = byom("destroy", "--endpoint", "iris")
    assert result.code == 2 and "not confirmed; nothing deleted" in result.err
    assert "This deletes endpoint iris" in result.out
    assert len(deployed("sagemaker").list_endpoints()["Endpoints"]) == 1


def test_destroy_dry_run_lists_the_calls_in_order(deployed: Any) -> None:
    result = byom("destroy", "--endpoint", "iris", "--dry-run")
    calls = dry_run_calls(result)
    assert calls == [
        "application-autoscaling DeleteScheduledAction",
        "application-autoscaling DeleteScalingPolicy",
        "application-autoscaling DeleteScalingPolicy",
        "application-autoscaling DeleteScalingPolicy",
        "cloudwatch DeleteAlarms",
        "application-autoscaling DeregisterScalableTarget",
        "sagemaker DeleteEndpoint",
        "sagemaker DeleteEndpointConfig",
        "sagemaker DeleteModel",
    ]
    assert len(deployed("sagemaker").list_endpoints()["Endpoints"]) == 1


def test_invoke_variant_targets_one_variant(
    aws_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto ignores TargetVariant: the request itself, on botocore's Stubber."""
    aws = Aws(boto3.Session(region_name="us-east-1"))
    monkeypatch.setattr(invoke, "connect", lambda settings: aws)
    (tmp_path / "rows.csv").write_text("5.1,3.5,1.4,0.2\n")
    expected = {
        "EndpointName": "iris",
        "Body": b"5.1,3.5,1.4,0.2\n",
        "ContentType": "text/csv",
        "TargetVariant": "Challenger",
    }
    for flag in ("--variant", "--target-variant"):
        with Stubber(aws.client("sagemaker-runtime")) as stub:
            stub.add_response("invoke_endpoint", {"Body": StreamingBody(io.BytesIO(b"0\n"), 2)}, expected)
            result = byom("invoke", "--endpoint", "iris", flag, "Challenger", str(tmp_path / "rows.csv"))
            stub.assert_no_pending_responses()
        assert (result.code, result.out) == (0, "0\n"), result.err
