"""Following a rollout to its end: a scripted DescribeEndpoint (botocore's Stubber) walks it through
a new fleet coming up, a canary shift, baking, an alarm tripping in moto's CloudWatch and
RollingBack; `byom status` shows one in progress and the last one; `byom destroy` removes the
rollback alarms deploy put."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from byom.errors import CommandError, RolloutFailed
from byom.shared import config
from byom.shared.aws import Aws
from byom.ship import deploy, endpoint_config, following, resources, rollback_alarms, status
from tests.helpers.rollout import endpoint_answer, pending, put_user_alarm, stub_update_until_the_call
from tests.helpers.ship import DEPLOY_FLAGS, IMAGE, MODEL_DATA, ROLE, byom

NEW = "iris-newconfig"
LIMITS = rollback_alarms.Thresholds(15.0, 0.05, "test")
ALARMS = [f"iris-rollback-AllTraffic-{kind}" for kind in ("5xx", "latency")]

CANARY_WALK = [
    endpoint_answer("Updating", "iris-old", pending=pending(NEW, "Creating", 0, 0.0)),
    endpoint_answer("Updating", "iris-old", pending=pending(NEW, "ActivatingTraffic", 1, 0.25)),
    endpoint_answer("Updating", "iris-old", pending=pending(NEW, "Baking", 1, 0.25, "Baking for 600 s")),
]


class Clock:
    """Time that moves only when the follower sleeps; `on_sleep[n]` runs at the n-th sleep."""

    def __init__(self, on_sleep: dict[int, Callable[[], None]] | None = None) -> None:
        self.now, self.sleeps, self.on_sleep = 0.0, 0, on_sleep or {}

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.sleeps += 1
        self.on_sleep.get(self.sleeps, lambda: None)()

    def __call__(self) -> float:
        return self.now


def put_alarms(aws: Aws) -> list[str]:
    return rollback_alarms.put(aws, rollback_alarms.requests("iris", ["AllTraffic"], NEW, LIMITS), LIMITS)


def walk(aws: Aws, answers: list[dict[str, Any]], clock: Clock, timeout: float = 3600) -> None:
    with Stubber(aws.client("sagemaker")) as stub:
        for answer in answers:
            stub.add_response("describe_endpoint", answer, {"EndpointName": "iris"})
        following.follow(aws, "iris", NEW, ALARMS, timeout, sleep=clock.sleep, clock=clock)
        stub.assert_no_pending_responses()


def test_a_tripped_alarm_and_a_rollback_end_in_exit_3_with_the_reason(
    client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    aws = Aws(boto3.Session(region_name="us-east-1"))
    put_alarms(aws)
    trip = lambda: client("cloudwatch").set_alarm_state(  # noqa: E731
        AlarmName=ALARMS[0], StateValue="ALARM", StateReason="5xx above 5%"
    )
    rolled_back = endpoint_answer(
        "InService", "iris-old", FailureReason="Rolled back: alarm iris-rollback-AllTraffic-5xx in ALARM"
    )
    answers = [
        *CANARY_WALK,
        endpoint_answer("RollingBack", "iris-old", pending=pending(NEW, "Deleting", 1, 0.0)),
        rolled_back,
    ]
    with pytest.raises(RolloutFailed) as failed:
        walk(aws, answers, Clock(on_sleep={3: trip}))
    assert str(failed.value) == (
        f"the update to {NEW} was rolled back (Rolled back: alarm iris-rollback-AllTraffic-5xx in ALARM; "
        "alarm(s) in ALARM: iris-rollback-AllTraffic-5xx); endpoint iris serves iris-old again"
    )
    assert failed.value.exit_code == 3
    lines = capsys.readouterr().out.splitlines()[-5:]
    assert lines == [
        "endpoint iris: Updating; new fleet AllTraffic: Creating, 0/4 instances, traffic 0%; "
        "alarms iris-rollback-AllTraffic-5xx OK, iris-rollback-AllTraffic-latency OK (0 s)",
        "endpoint iris: Updating; new fleet AllTraffic: shifting traffic, 1/4 instances, traffic 25%; "
        "alarms iris-rollback-AllTraffic-5xx OK, iris-rollback-AllTraffic-latency OK (15 s)",
        "endpoint iris: Updating; new fleet AllTraffic: Baking, 1/4 instances, traffic 25% (Baking for 600 s); "
        "alarms iris-rollback-AllTraffic-5xx OK, iris-rollback-AllTraffic-latency OK (30 s)",
        "endpoint iris: RollingBack; new fleet AllTraffic: Deleting, 1/4 instances, traffic 0%; "
        "alarms iris-rollback-AllTraffic-5xx ALARM, iris-rollback-AllTraffic-latency OK (45 s)",
        "endpoint iris: InService; alarms iris-rollback-AllTraffic-5xx ALARM, iris-rollback-AllTraffic-latency OK (60 s)",
    ]


def test_a_rollout_that_reaches_the_new_config_succeeds(
    client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    aws = Aws(boto3.Session(region_name="us-east-1"))
    put_alarms(aws)
    clock = Clock()
    walk(aws, [*CANARY_WALK, CANARY_WALK[2], endpoint_answer("InService", NEW)], clock)
    assert clock.sleeps == 4
    out = capsys.readouterr().out
    assert out.count("Baking, 1/4 instances") == 1  # an unchanged state is not printed again within a minute


@pytest.mark.parametrize("status_value", ["Failed", "UpdateRollbackFailed"])
def test_a_failed_update_is_exit_3_with_sagemakers_reason(aws_env: str, status_value: str) -> None:
    aws = Aws(boto3.Session(region_name="us-east-1"))
    broken = endpoint_answer(status_value, "iris-old", FailureReason="image could not be pulled")
    with pytest.raises(RolloutFailed, match=f"^endpoint iris is {status_value}: image could not be pulled$"):
        walk(aws, [CANARY_WALK[0], broken], Clock())


def test_running_past_the_limit_points_at_status(aws_env: str) -> None:
    aws = Aws(boto3.Session(region_name="us-east-1"))
    with pytest.raises(CommandError, match="still Updating after 15 s; `byom status` follows it") as raised:
        walk(aws, [CANARY_WALK[0], CANARY_WALK[1]], Clock(), timeout=15)
    assert not isinstance(raised.value, RolloutFailed)


def test_byom_deploy_follows_a_rollback_to_exit_3(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole command: flags, alarms put in moto, UpdateEndpoint and the walk on SageMaker's
    Stubber (through the Aws that `connect` makes), then one line on stderr and exit code 3."""
    aws = Aws(boto3.Session(region_name="us-east-1"))

    def connect(settings: config.Config, dry_run: bool) -> Aws:
        aws.out = sys.stdout  # the command's output, as `byom` captures it
        return aws

    monkeypatch.setattr(deploy, "connect", connect)
    monkeypatch.setattr(following, "POLL_SECONDS", 0)
    settings = config.Config(endpoint="iris", image=IMAGE, model_data=MODEL_DATA, role=ROLE)
    model = resources.model_request(settings)
    new_config = endpoint_config.endpoint_config_request(settings, model["ModelName"], 4)
    name = new_config["EndpointConfigName"]
    with Stubber(aws.client("sagemaker")) as stub:
        stub_update_until_the_call(stub, model, new_config)
        stub.add_response(
            "update_endpoint", {"EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/iris"}
        )
        for answer in [
            endpoint_answer("Updating", "iris-old", pending=pending(name, "Baking", 1, 0.25)),
            endpoint_answer("RollingBack", "iris-old"),
            endpoint_answer("InService", "iris-old", FailureReason="alarm tripped"),
        ]:
            stub.add_response("describe_endpoint", answer, {"EndpointName": "iris"})
        result = byom("deploy", *DEPLOY_FLAGS, "--strategy", "blue-green", "--traffic", "canary")
        stub.assert_no_pending_responses()
    assert result.code == 3, result.err
    assert result.err == (
        f"byom deploy: the update to {name} was rolled back (alarm tripped); endpoint iris serves iris-old again\n"
    )
    assert "endpoint iris: RollingBack; alarms iris-rollback-AllTraffic-5xx" in result.out
    assert len(client("cloudwatch").describe_alarms()["MetricAlarms"]) == 2


def test_status_shows_the_rollout_in_progress_the_last_one_and_the_alarms(client: Any) -> None:
    aws = Aws(boto3.Session(region_name="us-east-1"))
    put_alarms(aws)
    client("cloudwatch").set_alarm_state(AlarmName=ALARMS[1], StateValue="ALARM", StateReason="slow")
    last = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "CANARY",
                "WaitIntervalInSeconds": 600,
                "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 25},
            }
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": name} for name in ALARMS]},
    }
    described = endpoint_answer(
        "Updating", "iris-old", pending=pending(NEW, "Baking", 1, 0.25), LastDeploymentConfig=last
    )
    lines = status.report(aws, described, 5)
    tail = lines[lines.index(f"rollout in progress to config {NEW}:") :]
    assert tail == [
        f"rollout in progress to config {NEW}:",
        "  new fleet AllTraffic: Baking, 1/4 instances, traffic 25%",
        "last rollout: BlueGreenUpdatePolicy {TrafficRoutingConfiguration {Type CANARY, WaitIntervalInSeconds 600, "
        "CanarySize {Type CAPACITY_PERCENT, Value 25}}}; rollback on iris-rollback-AllTraffic-5xx, "
        "iris-rollback-AllTraffic-latency",
        "  rollback alarm iris-rollback-AllTraffic-5xx: OK",
        "  rollback alarm iris-rollback-AllTraffic-latency: ALARM",
    ]
    quiet = status.report(aws, endpoint_answer("InService", "iris-old"), 5)
    assert "last rollout: none (updated at once)" in quiet and not any(
        "in progress" in line for line in quiet
    )


def test_destroy_removes_the_rollback_alarms_and_no_other(client: Any, tmp_path: Path) -> None:
    assert byom("deploy", *DEPLOY_FLAGS).code == 0
    put_alarms(Aws(boto3.Session(region_name="us-east-1")))
    put_user_alarm(client("cloudwatch"), "iris-team-alarm")
    dry = byom("destroy", "--endpoint", "iris", "--dry-run")
    assert f'will call cloudwatch DeleteAlarms {{"AlarmNames": ["{ALARMS[0]}", "{ALARMS[1]}"]}}' in dry.out
    result = byom("destroy", "--endpoint", "iris", "--yes")
    assert result.code == 0, result.err
    remaining = [alarm["AlarmName"] for alarm in client("cloudwatch").describe_alarms()["MetricAlarms"]]
    assert remaining == ["iris-team-alarm"]
