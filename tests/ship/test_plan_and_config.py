"""The scaling-plan file and the configuration: what they accept, and one-line refusals."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from byom.errors import CommandError
from byom.shared import config
from byom.ship import scaling_plan

STEPS = [{"lower": 0, "upper": 20000, "adjustment": 1}, {"lower": 20000, "adjustment": 2}]


def autoscaling(**fields: Any) -> dict[str, Any]:
    return {"min_capacity": 2, "max_capacity": 6, **fields}


def plan_text(**fields: Any) -> str:
    return json.dumps({"kind": "byom.plan", "version": 1, "autoscaling": autoscaling(**fields)})


def read_plan_text(tmp_path: Path, text: str) -> scaling_plan.Plan:
    path = tmp_path / "plan.json"
    path.write_text(text)
    return scaling_plan.from_plan_file(path)


def test_a_full_plan_is_read(tmp_path: Path) -> None:
    read = read_plan_text(
        tmp_path,
        plan_text(
            target_tracking=[{"name": "cpu", "metric": "CPUUtilization", "target_value": 150}],
            step_scaling={"name": "latency", "threshold_microseconds": 20000, "steps": STEPS, "period": 30},
            scheduled_actions=[{"name": "nights", "schedule": "cron(0 22 * * ? *)", "max_capacity": 2}],
        ),
    )
    assert read.target_tracking == (scaling_plan.TargetTracking("cpu", "CPUUtilization", 150.0, 300, 60),)
    assert read.step_scaling is not None and read.step_scaling.steps[1] == scaling_plan.Step(20000.0, None, 2)
    assert read.scheduled_actions == (scaling_plan.ScheduledAction("nights", "cron(0 22 * * ? *)", None, 2),)
    assert read.policy_names == ("cpu", "latency")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "cannot read the plan"),
        (
            json.dumps({"kind": "byom.plan", "version": 2, "autoscaling": autoscaling()}),
            "plan version 2 is not supported",
        ),
        (
            json.dumps(autoscaling()),
            'it looks like a bare scaling policy: put it in a plan file, {"kind": "byom.plan"',
        ),
        (
            json.dumps({"kind": "byom.loadtest", "version": 1}),
            "is not a byom plan (its `kind` is not 'byom.plan')",
        ),
        (json.dumps({"kind": "byom.plan", "version": 1}), 'the plan has no "autoscaling" member'),
        (plan_text(min_capacity=0), "min capacity must be at least 1"),
        (plan_text(max_capacity=1), "min capacity 2 is greater than max capacity 1"),
        (plan_text(max_capacity="6"), "max_capacity must be an integer"),
        (plan_text(policies=[]), "unknown key(s) policies"),
        (
            plan_text(target_tracking=[{"name": "x", "metric": "Latency", "target_value": 1}]),
            "metric 'Latency' is not one of",
        ),
        (
            plan_text(target_tracking=[{"name": "x", "metric": "CPUUtilization", "target_value": 0}]),
            "target_value must be positive",
        ),
        (
            plan_text(
                target_tracking=[
                    {"name": "x", "metric": "CPUUtilization", "target_value": 50, "scale_in_cooldown": -1}
                ]
            ),
            "scale_in_cooldown must be at least 0",
        ),
        (
            plan_text(target_tracking=[{"name": "bad name", "metric": "CPUUtilization", "target_value": 50}]),
            "name 'bad name'",
        ),
        (
            plan_text(target_tracking=[{"name": "a", "metric": "CPUUtilization", "target_value": 50}] * 2),
            "used more than once: a",
        ),
        (
            plan_text(step_scaling={"name": "s", "threshold_microseconds": 1, "steps": [STEPS[1], STEPS[0]]}),
            "ascending and contiguous",
        ),
        (
            plan_text(step_scaling={"name": "s", "threshold_microseconds": 1, "steps": STEPS[:1]}),
            "last step_scaling step must have no upper",
        ),
        (
            plan_text(step_scaling={"name": "s", "threshold_microseconds": 1, "steps": STEPS, "period": 45}),
            "period must be 10, 30 or a multiple of 60",
        ),
        (
            plan_text(
                step_scaling={
                    "name": "s",
                    "threshold_microseconds": 1,
                    "steps": [{"lower": 0, "adjustment": 0}],
                }
            ),
            "must not be 0",
        ),
        (
            plan_text(scheduled_actions=[{"name": "n", "schedule": "0 22 * * *", "min_capacity": 1}]),
            "is not cron(...), rate(...) or at(...)",
        ),
        (
            plan_text(scheduled_actions=[{"name": "n", "schedule": "rate(1 day)"}]),
            "sets neither min_capacity nor max_capacity",
        ),
    ],
)
def test_bad_plans_are_refused(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(CommandError) as raised:
        read_plan_text(tmp_path, text)
    assert message in str(raised.value)


def arguments(**flags: Any) -> argparse.Namespace:
    return argparse.Namespace(**{"config": None, **{name: None for name in config.FIELDS}, **flags})


def test_every_setting_has_a_flag_and_a_field() -> None:
    assert set(config.FIELDS) == set(config.Config.__dataclass_fields__)


def test_flags_win_over_the_project_file_which_wins_over_the_environment(tmp_path: Path) -> None:
    (tmp_path / "byom.toml").write_text('region = "eu-west-1"\ninstance_count = 3\nvariant = "Blue"\n')
    settings = config.load(arguments(variant="Green"), {"AWS_REGION": "us-east-2"}, tmp_path)
    assert (settings.region, settings.instance_count, settings.variant) == ("eu-west-1", 3, "Green")


def test_the_region_comes_from_aws_region_then_aws_default_region(tmp_path: Path) -> None:
    assert (
        config.load(
            arguments(), {"AWS_REGION": "us-east-2", "AWS_DEFAULT_REGION": "eu-west-1"}, tmp_path
        ).region
        == "us-east-2"
    )
    assert config.load(arguments(), {"AWS_DEFAULT_REGION": "eu-west-1"}, tmp_path).region == "eu-west-1"
    assert config.load(arguments(), {}, tmp_path).region is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("instance_count = 'two'\n", "setting instance_count must be an integer"),
        ("instance_count = true\n", "setting instance_count must be an integer"),
        ("role = 'admin'\n", "is not an IAM role ARN"),
        ("region = \n", "is not valid TOML"),
    ],
)
def test_bad_project_files_are_refused(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "byom.toml").write_text(content)
    with pytest.raises(CommandError, match=message.replace("(", r"\(")):
        config.load(arguments(), {}, tmp_path)


def test_an_explicit_project_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="does not exist"):
        config.load(arguments(config=str(tmp_path / "missing.toml")), {}, tmp_path)
