"""Fixtures for the ship commands: moto as a real HTTP server on 127.0.0.1, reached through
AWS_ENDPOINT_URL exactly as a user would point boto3 at an emulator.

One server per session (it starts in about a second); each test resets its state and gets a
fresh environment: fake credentials, us-east-1, no profile or project file, one attempt per call.
"""

from __future__ import annotations

import io
import json
import logging
import urllib.request
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from byom import cli

ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/byom:0.1.0-abc1234"
MODEL_DATA = "s3://byom-test-models/byom/models/0123456789ab/model.tar.gz"


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(moto_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST")).close()
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.chdir(tmp_path)
    return moto_url


@pytest.fixture
def client(aws_env: str) -> Any:
    """boto3 clients on the emulator, for arranging and checking resources."""
    return lambda service: boto3.client(service, region_name="us-east-1")


def byom(*argv: str, stdin: str = "") -> Result:
    """Run the CLI in-process and capture what it prints."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli.main(list(argv))
    return Result(code, out.getvalue(), err.getvalue())


def dry_run_calls(result: Result) -> list[str]:
    """The `service Operation` of each call a --dry-run printed (progress lines left out)."""
    return [line.split(" {")[0] for line in result.out.splitlines() if not line.startswith("(dry run)")]


def write_plan(path: Path, **overrides: Any) -> Path:
    plan: dict[str, Any] = {
        "format_version": 1,
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
    path.write_text(json.dumps(plan))
    return path


DEPLOY_FLAGS = ("--endpoint", "iris", "--image", IMAGE, "--model-data", MODEL_DATA, "--role", ROLE)
