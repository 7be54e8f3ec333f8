"""`byom deploy --strategy`: the exact UpdateEndpoint request of each strategy (botocore's Stubber,
since moto has no UpdateEndpoint), the rollback alarms it puts in moto's CloudWatch, and every
bound refused in one line before any call."""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from byom.errors import CommandError
from byom.shared import config
from byom.shared.aws import Aws
from byom.ship import deploy, endpoint_config, resources, rollback_alarms, rollout
from tests.helpers.rollout import endpoint_answer, put_user_alarm, stub_update_until_the_call
from tests.helpers.ship import DEPLOY_FLAGS, IMAGE, MODEL_DATA, ROLE, assert_refused, byom, write_plan

SETTINGS = config.Config(endpoint="iris", image=IMAGE, model_data=MODEL_DATA, role=ROLE)


def strategy(*flags: str) -> rollout.Rollout:
    parser = argparse.ArgumentParser()
    rollout.add_flags(parser)
    chosen = rollout.from_args(parser.parse_args(list(flags)))
    assert chosen is not None
    return chosen


def update(aws: Aws, options: deploy.Options, deployment_config: dict[str, Any], instances: int = 4) -> None:
    """Run deploy's update and check UpdateEndpoint carried exactly `deployment_config`."""
    model = resources.model_request(SETTINGS)
    new_config = endpoint_config.endpoint_config_request(SETTINGS, model["ModelName"], instances)
    with Stubber(aws.client("sagemaker")) as stub:
        stub_update_until_the_call(stub, model, new_config, instances)
        stub.add_response(
            "update_endpoint",
            {"EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/iris"},
            {
                "EndpointName": "iris",
                "EndpointConfigName": new_config["EndpointConfigName"],
                "DeploymentConfig": deployment_config,
            },
        )
        deploy.deploy(aws, SETTINGS, None, options)
        stub.assert_no_pending_responses()


def new_config_name(instances: int = 4) -> str:
    model = resources.model_request(SETTINGS)
    return str(
        endpoint_config.endpoint_config_request(SETTINGS, model["ModelName"], instances)["EndpointConfigName"]
    )


BYOM_ALARMS = [
    {"AlarmName": "iris-rollback-AllTraffic-5xx"},
    {"AlarmName": "iris-rollback-AllTraffic-latency"},
]
LIMITS = rollback_alarms.Thresholds(20.0, 0.01, "test")


@pytest.mark.parametrize(
    ("flags", "policy"),
    [
        (
            ("--strategy", "blue-green"),
            {
                "BlueGreenUpdatePolicy": {
                    "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 300}
                }
            },
        ),
        (
            (
                "--strategy",
                "blue-green",
                "--traffic",
                "canary",
                "--canary-size",
                "25%",
                "--wait-interval",
                "600",
                "--termination-wait",
                "120",
                "--max-execution-time",
                "3600",
            ),
            {
                "BlueGreenUpdatePolicy": {
                    "TrafficRoutingConfiguration": {
                        "Type": "CANARY",
                        "WaitIntervalInSeconds": 600,
                        "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 25},
                    },
                    "TerminationWaitInSeconds": 120,
                    "MaximumExecutionTimeoutInSeconds": 3600,
                }
            },
        ),
        (
            (
                "--strategy",
                "blue-green",
                "--traffic",
                "linear",
                "--linear-step",
                "1",
                "--wait-interval",
                "60",
            ),
            {
                "BlueGreenUpdatePolicy": {
                    "TrafficRoutingConfiguration": {
                        "Type": "LINEAR",
                        "WaitIntervalInSeconds": 60,
                        "LinearStepSize": {"Type": "INSTANCE_COUNT", "Value": 1},
                    }
                }
            },
        ),
        (
            (
                "--strategy",
                "rolling",
                "--batch-size",
                "2",
                "--wait-interval",
                "0",
                "--rollback-batch-size",
                "100%",
                "--max-execution-time",
                "1800",
            ),
            {
                "RollingUpdatePolicy": {
                    "MaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": 2},
                    "WaitIntervalInSeconds": 0,
                    "MaximumExecutionTimeoutInSeconds": 1800,
                    "RollbackMaximumBatchSize": {"Type": "CAPACITY_PERCENT", "Value": 100},
                }
            },
        ),
    ],
    ids=["all-at-once", "canary", "linear", "rolling"],
)
def test_each_strategy_is_one_exact_deployment_config(
    client: Any, flags: tuple[str, ...], policy: dict[str, Any]
) -> None:
    aws = Aws(boto3.Session(region_name="us-east-1"))
    update(
        aws,
        deploy.Options(strategy(*flags), limits=LIMITS, wait=False),
        {**policy, "AutoRollbackConfiguration": {"Alarms": BYOM_ALARMS}},
    )
    alarms = {a["AlarmName"]: a for a in client("cloudwatch").describe_alarms()["MetricAlarms"]}
    assert sorted(alarms) == [a["AlarmName"] for a in BYOM_ALARMS]
    errors, latency = alarms["iris-rollback-AllTraffic-5xx"], alarms["iris-rollback-AllTraffic-latency"]
    assert (errors["MetricName"], errors["Statistic"], errors["Threshold"]) == (
        "Invocation5XXErrors",
        "Average",
        0.01,
    )
    assert {d["Name"]: d["Value"] for d in errors["Dimensions"]} == {
        "EndpointName": "iris",
        "VariantName": "AllTraffic",
    }
    assert (latency["MetricName"], latency["ExtendedStatistic"], latency["Threshold"]) == (
        "ModelLatency",
        "p99",
        20000,
    )
    assert {d["Name"]: d["Value"] for d in latency["Dimensions"]} == {
        "EndpointName": "iris",
        "VariantName": "AllTraffic",
        "EndpointConfigName": new_config_name(),
    }


def test_the_users_own_alarms_are_checked_and_used_instead(client: Any) -> None:
    put_user_alarm(client("cloudwatch"), "team-latency")
    aws = Aws(boto3.Session(region_name="us-east-1"))
    chosen = strategy("--strategy", "blue-green")
    update(
        aws,
        deploy.Options(chosen, alarms=("team-latency",), wait=False),
        {**chosen.policy(), "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "team-latency"}]}},
    )
    assert [a["AlarmName"] for a in client("cloudwatch").describe_alarms()["MetricAlarms"]] == [
        "team-latency"
    ]
    with Stubber(aws.client("sagemaker")) as stub:  # one read answered; any further call would fail
        stub.add_response(
            "describe_endpoint", endpoint_answer("InService", "iris-old"), {"EndpointName": "iris"}
        )
        options = deploy.Options(chosen, alarms=("team-latency", "nobody-made-this"), wait=False)
        with pytest.raises(
            CommandError, match=r"^rollback alarm nobody-made-this does not exist in CloudWatch"
        ):
            deploy.deploy(aws, SETTINGS, None, options)
        stub.assert_no_pending_responses()


def test_the_plans_slo_sets_the_thresholds(tmp_path: Any) -> None:
    plan = write_plan(tmp_path / "plan.json")
    document = __import__("json").loads(plan.read_text())
    document["slo"] = {"p99_ms": 40.0, "error_budget": 0.02, "window_s": 10}
    plan.write_text(__import__("json").dumps(document))
    limits = rollback_alarms.thresholds(str(plan), None, None)
    assert (limits.p99_ms, limits.error_rate) == (40.0, 0.02)
    assert rollback_alarms.thresholds(str(plan), 25.0, None).p99_ms == 25.0
    unmeasured = rollback_alarms.thresholds(str(write_plan(tmp_path / "bare.json")), None, None)
    assert (unmeasured.p99_ms, unmeasured.error_rate) == (15.0, 0.05)


def test_a_count_too_large_for_the_fleet_is_refused_before_any_change(aws_env: str) -> None:
    aws = Aws(boto3.Session(region_name="us-east-1"))
    with Stubber(aws.client("sagemaker")) as stub:  # one read answered; any further call would fail
        stub.add_response(
            "describe_endpoint", endpoint_answer("InService", "iris-old", 4), {"EndpointName": "iris"}
        )
        with pytest.raises(
            CommandError,
            match=r"canary size 3 is 75% of variant AllTraffic's 4 instance\(s\); it must be 1-50%",
        ):
            deploy.deploy(
                aws,
                SETTINGS,
                None,
                deploy.Options(
                    strategy("--strategy", "blue-green", "--traffic", "canary", "--canary-size", "3"),
                    limits=LIMITS,
                ),
            )
        stub.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--strategy", "blue-grene"), "--strategy must be blue-green or rolling, got 'blue-grene'"),
        (
            ("--strategy", "blue-green", "--traffic", "gradual"),
            "--traffic must be all-at-once, canary or linear",
        ),
        (("--traffic", "canary"), "--traffic needs --strategy blue-green or rolling"),
        (
            ("--strategy", "blue-green", "--traffic", "canary", "--canary-size", "60%"),
            "canary size must be 1-50% of the fleet, got 60%",
        ),
        (
            ("--strategy", "blue-green", "--traffic", "canary", "--canary-size", "0"),
            "canary size must be N% or a number",
        ),
        (
            ("--strategy", "blue-green", "--traffic", "canary", "--canary-size", "ten"),
            "canary size must be N% or a number",
        ),
        (
            ("--strategy", "blue-green", "--traffic", "linear", "--linear-step", "5%"),
            "linear step must be 10-50% of the fleet, got 5%",
        ),
        (
            ("--strategy", "blue-green", "--traffic", "linear", "--linear-step", "55%"),
            "linear step must be 10-50%",
        ),
        (("--strategy", "blue-green", "--canary-size", "10%"), "--canary-size needs --traffic canary"),
        (
            ("--strategy", "blue-green", "--batch-size", "10%"),
            "--batch-size does not apply to --strategy blue-green",
        ),
        (("--strategy", "rolling", "--traffic", "canary"), "--traffic does not apply to --strategy rolling"),
        (("--strategy", "rolling", "--batch-size", "4%"), "batch size must be 5-50% of the fleet, got 4%"),
        (("--strategy", "rolling", "--rollback-batch-size", "101%"), "rollback batch size must be 1-100%"),
        (("--strategy", "rolling", "--wait-interval", "3601"), "wait interval must be 0-3600 s, got 3601"),
        (
            ("--strategy", "rolling", "--wait-interval", "-1"),
            "wait interval must be a whole number of seconds",
        ),
        (("--strategy", "blue-green", "--termination-wait", "4000"), "termination wait must be 0-3600 s"),
        (
            ("--strategy", "blue-green", "--max-execution-time", "599"),
            "max execution time must be 600-28800 s, got 599",
        ),
        (
            ("--strategy", "blue-green", "--max-execution-time", "28801"),
            "max execution time must be 600-28800 s",
        ),
        (
            (
                "--strategy",
                "blue-green",
                "--wait-interval",
                "600",
                "--termination-wait",
                "300",
                "--max-execution-time",
                "900",
            ),
            "max execution time 900 s must be longer than the wait interval + termination wait (900 s)",
        ),
        (
            ("--strategy", "rolling", "--wait-interval", "700", "--max-execution-time", "650"),
            "longer than the wait interval (700 s)",
        ),
        (
            ("--rollback-alarm", "mine"),
            "--rollback-alarm, --rollback-p99-ms and --rollback-error-rate need --strategy",
        ),
        (
            ("--strategy", "rolling", "--rollback-alarm", "a", "--rollback-p99-ms", "9"),
            "not with --rollback-alarm",
        ),
        (
            ("--strategy", "rolling", "--rollback-p99-ms", "fast"),
            "--rollback-p99-ms must be a number, got 'fast'",
        ),
        (("--strategy", "rolling", "--rollback-p99-ms", "0"), "rollback p99 must be above 0 ms"),
        (
            ("--strategy", "rolling", "--rollback-error-rate", "1.5"),
            "rollback error rate must be at least 0 and below 1",
        ),
        (
            ("--strategy", "rolling", *(f"--rollback-alarm=a{i}" for i in range(11))),
            "11 --rollback-alarm given; a rollout takes at most 10",
        ),
    ],
)
def test_bad_rollout_flags_are_one_line_before_any_call(
    aws_env: str, monkeypatch: pytest.MonkeyPatch, flags: tuple[str, ...], message: str
) -> None:
    """No region: had any call been attempted, the error would be about the region instead."""
    monkeypatch.delenv("AWS_REGION")
    result = byom("deploy", *DEPLOY_FLAGS, *flags)
    assert result.code == 2, result.out
    assert message in result.err and result.err.count("\n") == 1, result.err


def test_a_rollout_dry_run_shows_the_alarms_and_the_deployment_config(client: Any) -> None:
    """moto creates the endpoint; the dry run then reads it and prints the update it would ask for."""
    assert byom("deploy", *DEPLOY_FLAGS).code == 0
    result = byom(
        "deploy",
        *DEPLOY_FLAGS,
        "--image",
        IMAGE.replace("abc1234", "def5678"),
        "--strategy",
        "blue-green",
        "--traffic",
        "linear",
        "--linear-step",
        "50%",
        "--dry-run",
    )
    assert result.code == 0, result.err
    calls = [
        line.split(" {")[0] for line in result.out.splitlines() if line.startswith("(dry run) will call")
    ]
    assert calls == [
        "(dry run) will call sagemaker CreateModel",
        "(dry run) will call sagemaker CreateEndpointConfig",
        "(dry run) will call cloudwatch PutMetricAlarm",
        "(dry run) will call cloudwatch PutMetricAlarm",
        "(dry run) will call sagemaker UpdateEndpoint",
    ]
    assert '"LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 50}' in result.out
    assert "rollback thresholds: p99 15 ms, 5xx 5.00% (byom plan's default SLO)" in result.out
    assert client("cloudwatch").describe_alarms()["MetricAlarms"] == []


def documented_rollouts() -> list[list[str]]:
    """The `byom deploy "${FLAGS[@]}" ...` commands of docs/shipping.md's rollout section."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "shipping.md").read_text()
    section = text[text.index("## Rollouts") :]
    block = section[section.index("```sh\n") + 6 :]
    block = block[: block.index("```")].replace("\\\n", " ")
    commands = []
    for line in block.splitlines():
        if line.startswith('byom deploy "${FLAGS[@]}"'):
            words = shlex.split(line.replace('"${FLAGS[@]}"', ""), comments=True)
            commands.append(words[2:])
    return commands


def test_the_documented_rollouts_are_what_deploy_takes(client: Any) -> None:
    commands = documented_rollouts()
    assert len(commands) == 5 and all("--dry-run" in command for command in commands)
    assert byom("deploy", *DEPLOY_FLAGS).code == 0
    put_user_alarm(client("cloudwatch"), "team-5xx")
    new_image = ("--image", IMAGE.replace("abc1234", "def5678"))
    for command in commands:
        result = byom("deploy", *DEPLOY_FLAGS, *new_image, *command)
        assert result.code == 0, (command, result.err)
        [update] = [line for line in result.out.splitlines() if "will call sagemaker UpdateEndpoint" in line]
        assert '"DeploymentConfig"' in update, command


ROLLOUT_TOML = 'strategy = "blue-green"\ntraffic = "canary"\ncanary_size = "10%"\nwait_interval = 600\n'


def test_the_rollout_settings_live_in_the_project_file_and_flags_win(client: Any, tmp_path: Path) -> None:
    assert byom("deploy", *DEPLOY_FLAGS).code == 0
    (tmp_path / "byom.toml").write_text(ROLLOUT_TOML + "max_execution_time = 3600\n")
    new_image = ("--image", IMAGE.replace("abc1234", "def5678"))
    result = byom("deploy", *DEPLOY_FLAGS, *new_image, "--dry-run")
    assert result.code == 0, result.err
    [line] = [line for line in result.out.splitlines() if "will call sagemaker UpdateEndpoint" in line]
    policy = json.loads(line[line.index("{") :])["DeploymentConfig"]["BlueGreenUpdatePolicy"]
    assert policy == {
        "TrafficRoutingConfiguration": {
            "Type": "CANARY",
            "WaitIntervalInSeconds": 600,
            "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
        },
        "MaximumExecutionTimeoutInSeconds": 3600,
    }
    flagged = byom(
        "deploy", *DEPLOY_FLAGS, *new_image, "--canary-size", "1", "--wait-interval", "60", "--dry-run"
    )
    assert flagged.code == 0, flagged.err
    assert '"WaitIntervalInSeconds": 60, "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1}' in flagged.out


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('strategy = "canary"\n', "--strategy must be blue-green or rolling, got 'canary'"),
        (
            "wait_interval = 4000\n" + ROLLOUT_TOML.replace("wait_interval = 600\n", ""),
            "wait interval must be 0-3600 s",
        ),
        ('traffic = "canary"\n', "--traffic needs --strategy blue-green or rolling"),
        ('strategy = "rolling"\nbatch_size = "60%"\n', "batch size must be 5-50% of the fleet, got 60%"),
        ("strategy = 'rolling'\ncanary_size = true\n", "setting canary_size must be a string"),
        ('strategy = "blue-green"\nmax_execution_time = 100\n', "max execution time must be 600-28800 s"),
    ],
)
def test_bad_rollout_settings_in_the_project_file_are_one_line(
    aws_env: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, toml: str, message: str
) -> None:
    monkeypatch.delenv("AWS_REGION")
    (tmp_path / "byom.toml").write_text(toml)
    assert_refused(byom("deploy", *DEPLOY_FLAGS), message)
