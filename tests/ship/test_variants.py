"""Several variants and a shadow: the `[[variants]]` table of byom.toml, the exact
CreateEndpointConfig request (botocore's Stubber: moto drops ShadowProductionVariants), what moto
keeps of a two-variant endpoint (status, scale by variant, per-variant autoscaling), an update
keeping each variant's count, and the `byom cfn` template, which cfn-lint accepts."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from byom.shared import config
from byom.shared.aws import Aws
from byom.ship import deploy, endpoint_config, following, resources, status
from tests.helpers.rollout import ARN, WHEN, config_answer, stub_config_created
from tests.helpers.ship import (
    DEPLOY_FLAGS,
    IMAGE,
    MODEL_DATA,
    ROLE,
    assert_refused,
    byom,
    dry_run_calls,
    lint,
    write_plan,
)

BLUE = "s3://byom-test-models/blue/model.tar.gz"
GREEN = "s3://byom-test-models/green/model.tar.gz"
NEXT = "s3://byom-test-models/next/model.tar.gz"
TABLE = f"""
[[variants]]
name = "Blue"
model_data = "{BLUE}"
weight = 3

[[variants]]
name = "Green"
model_data = "{GREEN}"
instance_type = "ml.c5.large"
instance_count = 1
weight = 1
"""
SHADOW = f"""
[[variants]]
name = "Next"
model_data = "{NEXT}"
shadow = true
weight = 0.5
"""
FLAGS = ("--endpoint", "iris", "--image", IMAGE, "--role", ROLE)


def settings_from(tmp_path: Path, text: str) -> config.Config:
    (tmp_path / "byom.toml").write_text(f'endpoint = "iris"\nimage = "{IMAGE}"\nrole = "{ROLE}"\n{text}')
    return config.load(config_arguments(), {"AWS_REGION": "us-east-1"}, tmp_path)


def config_arguments() -> argparse.Namespace:
    return argparse.Namespace(config=None, **dict.fromkeys(config.FIELDS))


def test_the_table_gives_production_variants_with_weights_and_a_shadow(tmp_path: Path) -> None:
    settings = settings_from(tmp_path, SHADOW + TABLE)  # the shadow first: it still comes last
    models = {name: model["ModelName"] for name, model in resources.model_requests(settings).items()}
    request = endpoint_config.endpoint_config_request(settings, models, {"Blue": 2, "Green": 1, "Next": 2})
    assert [
        (
            v["VariantName"],
            v["ModelName"],
            v["InstanceType"],
            v["InitialInstanceCount"],
            v["InitialVariantWeight"],
        )
        for v in request["ProductionVariants"]
    ] == [
        ("Blue", models["Blue"], "ml.m5.xlarge", 2, 3.0),
        ("Green", models["Green"], "ml.c5.large", 1, 1.0),
    ]
    [shadow] = request["ShadowProductionVariants"]
    assert (shadow["VariantName"], shadow["ModelName"], shadow["InitialVariantWeight"]) == (
        "Next",
        models["Next"],
        0.5,
    )
    assert len(set(models.values())) == 3


def test_create_asks_for_the_exact_endpoint_config(aws_env: str, tmp_path: Path) -> None:
    """Stubber checks each request against botocore's model of the API, field for field."""
    settings = settings_from(tmp_path, TABLE + SHADOW)
    models = resources.model_requests(settings)
    wanted = endpoint_config.endpoint_config_request(
        settings, {name: m["ModelName"] for name, m in models.items()}, {"Blue": 2, "Green": 1, "Next": 2}
    )
    aws = Aws(boto3.Session(region_name="us-east-1"))
    with Stubber(aws.client("sagemaker")) as stub:
        stub.add_client_error(
            "describe_endpoint",
            "ValidationException",
            "Could not find endpoint",
            expected_params={"EndpointName": "iris"},
        )
        for model in models.values():
            stub.add_client_error(
                "describe_model",
                "ValidationException",
                "Could not find model",
                expected_params={"ModelName": model["ModelName"]},
            )
            stub.add_response("create_model", {"ModelArn": f"{ARN}:model/x"}, model)
        stub_config_created(stub, wanted)
        stub.add_response(
            "create_endpoint",
            {"EndpointArn": f"{ARN}:endpoint/iris"},
            {"EndpointName": "iris", "EndpointConfigName": wanted["EndpointConfigName"]},
        )
        deploy.deploy(aws, settings, None, deploy.Options(wait=False))
        stub.assert_no_pending_responses()
    assert wanted["ShadowProductionVariants"][0]["VariantName"] == "Next"


def test_an_update_keeps_each_variants_count(
    aws_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(following, "POLL_SECONDS", 0)
    settings = settings_from(tmp_path, TABLE)
    models = resources.model_requests(settings)
    wanted = endpoint_config.endpoint_config_request(
        settings, {name: m["ModelName"] for name, m in models.items()}, {"Blue": 5, "Green": 1}
    )
    running = {
        "EndpointName": "iris",
        "EndpointArn": f"{ARN}:endpoint/iris",
        "EndpointConfigName": "iris-old",
        "EndpointStatus": "InService",
        "CreationTime": WHEN,
        "LastModifiedTime": WHEN,
        "ProductionVariants": [{"VariantName": "Blue", "CurrentInstanceCount": 5, "DesiredInstanceCount": 5}],
    }
    aws = Aws(boto3.Session(region_name="us-east-1"))
    with Stubber(aws.client("sagemaker")) as stub:
        stub.add_response("describe_endpoint", running, {"EndpointName": "iris"})
        for model in models.values():
            stub.add_response(
                "describe_model",
                {"ModelName": model["ModelName"], "ModelArn": f"{ARN}:model/x", "CreationTime": WHEN},
                {"ModelName": model["ModelName"]},
            )
        old = config_answer("iris-old")
        old["ProductionVariants"][0] |= {"VariantName": "Blue", "InstanceType": "ml.m5.xlarge"}
        stub.add_response("describe_endpoint_config", old, {"EndpointConfigName": "iris-old"})
        stub_config_created(stub, wanted)
        stub.add_response(
            "update_endpoint",
            {"EndpointArn": f"{ARN}:endpoint/iris"},
            {"EndpointName": "iris", "EndpointConfigName": wanted["EndpointConfigName"]},
        )
        stub.add_response(
            "describe_endpoint",
            running | {"EndpointConfigName": wanted["EndpointConfigName"]},
            {"EndpointName": "iris"},
        )
        deploy.deploy(aws, settings)
        stub.assert_no_pending_responses()
    # Blue keeps the 5 it runs now; Green, new, gets its configured 1.
    assert [v["InitialInstanceCount"] for v in wanted["ProductionVariants"]] == [5, 1]


def test_two_variants_in_moto_status_scale_and_autoscaling_per_variant(client: Any, tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "plan.json", step_scaling=None, scheduled_actions=[])
    # the plan named once at the top applies to both variants
    (tmp_path / "byom.toml").write_text(f'plan = "{plan}"\n' + TABLE)
    result = byom("deploy", *FLAGS)
    assert result.code == 0, result.err
    sagemaker = client("sagemaker")
    described = sagemaker.describe_endpoint(EndpointName="iris")
    assert [v["VariantName"] for v in described["ProductionVariants"]] == ["Blue", "Green"]
    targets = client("application-autoscaling").describe_scalable_targets(ServiceNamespace="sagemaker")
    assert sorted(t["ResourceId"] for t in targets["ScalableTargets"]) == [
        "endpoint/iris/variant/Blue",
        "endpoint/iris/variant/Green",
    ]
    status = byom("status", "--endpoint", "iris")
    assert status.code == 0, status.err
    assert "variant Blue: 2 x ml.m5.xlarge" in status.out
    assert "variant Green: 2 x ml.c5.large" in status.out  # the plan's minimum of 2 wins over 1
    scaled = byom("scale", "--endpoint", "iris", "--variant", "Green", "--weight", "2")
    assert scaled.code == 0, scaled.err
    weights = {
        v["VariantName"]: v.get("DesiredWeight")
        for v in sagemaker.describe_endpoint(EndpointName="iris")["ProductionVariants"]
    }
    assert weights["Green"] == 2.0
    missing = byom("scale", "--endpoint", "iris", "--variant", "Red", "--weight", "1")
    assert missing.code == 2 and "has no variant 'Red' (it has: Blue, Green)" in missing.err


def test_a_deploy_run_again_changes_nothing(client: Any, tmp_path: Path) -> None:
    (tmp_path / "byom.toml").write_text(TABLE)
    assert byom("deploy", *FLAGS).code == 0
    again = byom("deploy", *FLAGS)
    assert again.code == 0, again.err
    assert "endpoint iris: unchanged" in again.out and "created" not in again.out


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("[[variants]]\nweight = 1\n", "[[variants]] entry 1 has no name"),
        ('[[variants]]\nname = "A"\ncolour = "blue"\n', "[[variants]] entry 1: unknown key(s) colour"),
        ('[[variants]]\nname = "A B"\n', "variant 'A B' is not a valid SageMaker name"),
        ('[[variants]]\nname = "A"\nweight = "half"\n', "[[variants]] entry 1: weight must be int or float"),
        ('[[variants]]\nname = "A"\nweight = -1\n', "weight must be between 0 and 1000"),
        ('[[variants]]\nname = "A"\nshadow = "yes"\n', "shadow must be bool"),
        ('[[variants]]\nname = "A"\ninstance_count = true\n', "instance_count must be int"),
        (
            '[[variants]]\nname = "A"\ninstance_type = "m5.large"\n',
            "is not a SageMaker hosting instance type",
        ),
        ('[[variants]]\nname = "A"\n[[variants]]\nname = "A"\n', "variant name(s) used more than once: A"),
        (
            '[[variants]]\nname = "A"\n[[variants]]\nname = "S"\nshadow = true\n[[variants]]\nname = "T"\nshadow = true\n',
            "2 shadow variants (S, T); SageMaker takes at most one",
        ),
        ('[[variants]]\nname = "S"\nshadow = true\n', "[[variants]] has no production variant"),
        ('[[variants]]\nname = "A"\nweight = 0\n', "every production variant has weight 0"),
        (
            '[[variants]]\nname = "A"\n[[variants]]\nname = "S"\nshadow = true\nweight = 0\n',
            "shadow variant S has weight 0",
        ),
        (
            "".join(f'[[variants]]\nname = "V{i}"\n' for i in range(11)),
            "11 production variants; SageMaker takes at most 10",
        ),
        ('variants = "Blue"\n', "setting variants must be an array of tables"),
        ('variants = ["Blue"]\n', "[[variants]] entry 1 must be a table"),
        (
            f'serverless_memory = 2048\nmodel_data = "{BLUE}"\n[[variants]]\nname = "A"\n',
            "a serverless endpoint serves one variant",
        ),
        ('[[variants]]\nname = "A"\n', "variant A has no model_data: set it in its [[variants]] entry"),
    ],
)
def test_bad_tables_are_one_line_before_any_call(
    aws_env: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, table: str, message: str
) -> None:
    monkeypatch.delenv("AWS_REGION")  # a call attempted would fail on the region instead
    (tmp_path / "byom.toml").write_text(table)
    for command in ("deploy", "cfn"):
        assert_refused(byom(command, *FLAGS), message)


def test_cfn_makes_a_model_per_variant_a_shadow_and_autoscaling_per_variant(tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "plan.json")
    (tmp_path / "byom.toml").write_text(
        TABLE.replace("weight = 1\n", f'weight = 1\nplan = "{plan}"\n') + SHADOW.replace(NEXT, BLUE)
    )
    template = tmp_path / "ab.json"
    result = byom("cfn", *FLAGS, "--config", str(tmp_path / "byom.toml"), "--output", str(template))
    assert result.code == 0, result.err
    linted = lint(template)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    found = json.loads(template.read_text())["Resources"]
    assert {name: r["Type"] for name, r in found.items() if "SageMaker" in r["Type"]} == {
        "BlueModel": "AWS::SageMaker::Model",  # the shadow has Blue's model data: it shares the model
        "GreenModel": "AWS::SageMaker::Model",
        "EndpointConfig": "AWS::SageMaker::EndpointConfig",
        "Endpoint": "AWS::SageMaker::Endpoint",
    }
    properties = found["EndpointConfig"]["Properties"]
    assert [v["ModelName"] for v in properties["ProductionVariants"]] == [
        {"Fn::GetAtt": ["BlueModel", "ModelName"]},
        {"Fn::GetAtt": ["GreenModel", "ModelName"]},
    ]
    [shadow] = properties["ShadowProductionVariants"]
    assert (shadow["VariantName"], shadow["ModelName"]) == (
        "Next",
        {"Fn::GetAtt": ["BlueModel", "ModelName"]},
    )
    # Only Green names a plan: its autoscaling, with ids of its own.
    assert found["GreenScalableTarget"]["Properties"]["ResourceId"]["Fn::Join"][1][-1] == "/variant/Green"
    assert found["GreenInvocationsPolicy"]["Properties"]["ScalingTargetId"] == {"Ref": "GreenScalableTarget"}
    assert found["GreenOverheadLatencyAlarm"]["Properties"]["AlarmActions"] == [
        {"Ref": "GreenOverheadLatencyPolicy"}
    ]
    assert not any(name.startswith("Blue") and "Scal" in name for name in found)


def test_one_variant_keeps_its_shape(tmp_path: Path) -> None:
    """Without [[variants]]: the one AllTraffic variant of weight 1, as before."""
    settings = config.Config(endpoint="iris", image=IMAGE, model_data=MODEL_DATA, role=ROLE)
    [variant] = endpoint_config.endpoint_config_request(settings, "m", 2)["ProductionVariants"]
    assert variant == {
        "VariantName": "AllTraffic",
        "ModelName": "m",
        "InstanceType": "ml.m5.xlarge",
        "InitialInstanceCount": 2,
        "InitialVariantWeight": 1.0,
    }
    assert byom("cfn", *DEPLOY_FLAGS).code == 0


def test_destroy_removes_every_variants_model_and_autoscaling(client: Any, tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "plan.json", step_scaling=None, scheduled_actions=[])
    (tmp_path / "byom.toml").write_text(f'plan = "{plan}"\n' + TABLE)
    assert byom("deploy", *FLAGS).code == 0
    result = byom("destroy", "--endpoint", "iris", "--yes")
    assert result.code == 0, result.err
    assert client("sagemaker").list_models()["Models"] == []
    assert client("sagemaker").list_endpoint_configs()["EndpointConfigs"] == []
    targets = client("application-autoscaling").describe_scalable_targets(ServiceNamespace="sagemaker")
    assert targets["ScalableTargets"] == []


def test_status_shows_the_shadow_variant(client: Any) -> None:
    """moto drops shadow variants: SageMaker's answers for the endpoint config, stubbed."""
    aws = Aws(boto3.Session(region_name="us-east-1"))
    shadow = {
        "VariantName": "Next",
        "CurrentInstanceCount": 1,
        "DesiredInstanceCount": 1,
        "CurrentWeight": 0.5,
    }
    endpoint = {
        "EndpointName": "iris",
        "EndpointConfigName": "iris-ab",
        "EndpointStatus": "InService",
        "ProductionVariants": [
            {
                "VariantName": "Blue",
                "CurrentInstanceCount": 2,
                "DesiredInstanceCount": 2,
                "CurrentWeight": 3.0,
            }
        ],
        "ShadowProductionVariants": [shadow],
    }
    described = config_answer("iris-ab")
    described["ProductionVariants"][0]["VariantName"] = "Blue"
    described["ShadowProductionVariants"] = [
        {"VariantName": "Next", "ModelName": "m", "InstanceType": "ml.c5.large", "InitialInstanceCount": 1}
    ]
    with Stubber(aws.client("sagemaker")) as stub:
        stub.add_response("describe_endpoint_config", described, {"EndpointConfigName": "iris-ab"})
        lines = status.report(aws, endpoint, 5)
        stub.assert_no_pending_responses()
    assert "variant Blue: 2 x ml.m5.xlarge (desired 2), weight 3.0" in lines
    assert "shadow variant Next: 1 x ml.c5.large (desired 1), weight 0.5" in lines


def test_a_rollout_over_two_variants_watches_both(client: Any, tmp_path: Path) -> None:
    (tmp_path / "byom.toml").write_text(TABLE)
    assert byom("deploy", *FLAGS).code == 0
    new_image = ("--image", IMAGE.replace("abc1234", "def5678"))
    result = byom("deploy", *FLAGS, *new_image, "--strategy", "blue-green", "--dry-run")
    assert result.code == 0, result.err
    [update] = [line for line in result.out.splitlines() if "will call sagemaker UpdateEndpoint" in line]
    alarms = json.loads(update[update.index("{") :])["DeploymentConfig"]["AutoRollbackConfiguration"][
        "Alarms"
    ]
    assert [alarm["AlarmName"] for alarm in alarms] == [
        "iris-rollback-Blue-5xx",
        "iris-rollback-Blue-latency",
        "iris-rollback-Green-5xx",
        "iris-rollback-Green-latency",
    ]
    created = [line for line in result.out.splitlines() if "will call sagemaker CreateEndpointConfig" in line]
    request = json.loads(created[0][created[0].index("{") :])
    # each variant keeps the count it runs (moto: the configured 2 and 1)
    assert [v["InitialInstanceCount"] for v in request["ProductionVariants"]] == [2, 1]


def test_a_variant_that_goes_is_deregistered_before_the_update(client: Any, tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "plan.json", step_scaling=None, scheduled_actions=[])
    (tmp_path / "byom.toml").write_text(f'plan = "{plan}"\n' + TABLE)
    assert byom("deploy", *FLAGS).code == 0
    (tmp_path / "byom.toml").write_text(
        f'plan = "{plan}"\n' + TABLE[: TABLE.index('[[variants]]\nname = "Green"')]
    )
    result = byom("deploy", *FLAGS, "--dry-run")
    assert result.code == 0, result.err
    assert "variant Green goes: SageMaker requires deregistering its autoscaling first" in result.out
    assert dry_run_calls(result) == [
        "application-autoscaling DeleteScalingPolicy",
        "application-autoscaling DeleteScalingPolicy",
        "application-autoscaling DeregisterScalableTarget",
        "sagemaker CreateEndpointConfig",
        "sagemaker UpdateEndpoint",
    ]
    [deregister] = [
        line for line in result.out.splitlines() if "will call application-autoscaling Deregister" in line
    ]
    assert '"ResourceId": "endpoint/iris/variant/Green"' in deregister
