"""The ship commands as a user runs them, in-process: the fake account's names, a plan file, the
output of a run and of a dry run."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from byom import cli

ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/byom:0.1.0-abc1234"
MODEL_DATA = "s3://byom-test-models/byom/models/0123456789ab/model.tar.gz"


@dataclass
class Result:
    code: int
    out: str
    err: str


def byom(*argv: str, stdin: str = "") -> Result:
    """Run the CLI in-process and capture what it prints."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli.main(list(argv))
    return Result(code, out.getvalue(), err.getvalue())


def dry_run_calls(result: Result, stream: str = "out") -> list[str]:
    """The `service Operation` of each change a --dry-run said it will call (its `will read` lines
    and progress lines left out); `stream` is "err" for push and package."""
    prefix = "(dry run) will call "
    lines = getattr(result, stream).splitlines()
    return [line.removeprefix(prefix).split(" {")[0] for line in lines if line.startswith(prefix)]


def write_plan(path: Path, **overrides: Any) -> Path:
    plan: dict[str, Any] = {
        "min_capacity": 2,
        "max_capacity": 6,
        "target_tracking": [
            {
                "name": "invocations",
                "metric": "SageMakerVariantInvocationsPerInstance",
                "target_value": 700.0,
                "scale_in_cooldown": 300,
                "scale_out_cooldown": 60,
            },
            {"name": "cpu", "metric": "CPUUtilization", "target_value": 150.0},
        ],
        "step_scaling": {
            "name": "overhead-latency",
            "threshold_microseconds": 20000,
            "cooldown": 120,
            "steps": [{"lower": 0, "upper": 20000, "adjustment": 1}, {"lower": 20000, "adjustment": 2}],
        },
        "scheduled_actions": [
            {"name": "weekday-mornings", "schedule": "cron(0 7 ? * MON-FRI *)", "min_capacity": 4}
        ],
    }
    plan.update(overrides)
    path.write_text(json.dumps({"kind": "byom.plan", "version": 1, "autoscaling": plan}))
    return path


DEPLOY_FLAGS = ("--endpoint", "iris", "--image", IMAGE, "--model-data", MODEL_DATA, "--role", ROLE)


def lint(template: Path) -> subprocess.CompletedProcess[str]:
    """cfn-lint on a template, offline with its bundled resource specifications."""
    return subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--regions", "us-east-1", "--", str(template)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_refused(result: Result, message: str) -> None:
    """A refusal as the commands make them: exit 2 and `message` in one line on stderr."""
    assert result.code == 2, result.out
    assert message in result.err and result.err.count("\n") == 1, result.err
