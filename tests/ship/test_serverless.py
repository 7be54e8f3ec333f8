"""Serverless endpoints: the settings (flags or byom.toml) checked before any call, the endpoint
config deploy creates in moto, and the `byom cfn` template for the same shape, which cfn-lint
accepts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.ship import DEPLOY_FLAGS, byom, lint, write_plan

SERVERLESS = ("--serverless-memory", "2048", "--max-concurrency", "10", "--provisioned-concurrency", "2")
WANTED = {"MemorySizeInMB": 2048, "MaxConcurrency": 10, "ProvisionedConcurrency": 2}


def test_deploy_creates_a_serverless_variant(client: Any) -> None:
    result = byom("deploy", *DEPLOY_FLAGS, *SERVERLESS)
    assert result.code == 0, result.err
    assert "(serverless, 2048 MB, up to 10 concurrent)" in result.out
    name = client("sagemaker").describe_endpoint(EndpointName="iris")["EndpointConfigName"]
    [variant] = client("sagemaker").describe_endpoint_config(EndpointConfigName=name)["ProductionVariants"]
    assert variant["ServerlessConfig"] == WANTED
    assert "InstanceType" not in variant


def test_the_project_file_expresses_the_shape(client: Any, tmp_path: Path) -> None:
    (tmp_path / "byom.toml").write_text("serverless_memory = 3072\nmax_concurrency = 5\n")
    result = byom("deploy", *DEPLOY_FLAGS, "--dry-run")
    assert result.code == 0, result.err
    assert '"ServerlessConfig": {"MemorySizeInMB": 3072, "MaxConcurrency": 5}' in result.out


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ("--serverless-memory", "1000"),
            "serverless memory must be 1024, 2048, 3072, 4096, 5120 or 6144 MB",
        ),
        (
            ("--serverless-memory", "1024", "--max-concurrency", "201"),
            "max concurrency must be between 1 and 200",
        ),
        (
            ("--serverless-memory", "1024", "--max-concurrency", "4", "--provisioned-concurrency", "5"),
            "provisioned concurrency 5 is above max concurrency 4",
        ),
        (
            (
                "--provisioned-concurrency",
                "2",
            ),
            "provisioned concurrency needs serverless_memory",
        ),
        (
            ("--serverless-memory", "1024", "--strategy", "blue-green"),
            "rollout strategies do not apply to serverless",
        ),
    ],
)
def test_bad_serverless_settings_are_one_line_before_any_call(
    aws_env: str, monkeypatch: pytest.MonkeyPatch, flags: tuple[str, ...], message: str
) -> None:
    monkeypatch.delenv("AWS_REGION")  # a call attempted would fail on the region instead
    result = byom("deploy", *DEPLOY_FLAGS, *flags)
    assert result.code == 2
    assert message in result.err and result.err.count("\n") == 1, result.err


def test_a_plan_is_refused_for_serverless(aws_env: str, tmp_path: Path) -> None:
    plan = str(write_plan(tmp_path / "plan.json"))
    for command in ("deploy", "cfn"):
        result = byom(command, *DEPLOY_FLAGS, "--serverless-memory", "1024", "--plan", plan)
        assert result.code == 2 and "a serverless endpoint scales itself" in result.err, result.err


def test_cfn_makes_the_same_serverless_config_and_cfn_lint_accepts_it(tmp_path: Path) -> None:
    template = tmp_path / "serverless.json"
    assert byom("cfn", *DEPLOY_FLAGS, *SERVERLESS, "--output", str(template)).code == 0
    linted = lint(template)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    properties = json.loads(template.read_text())["Resources"]["EndpointConfig"]["Properties"]
    [variant] = properties["ProductionVariants"]
    assert variant["ServerlessConfig"] == WANTED and "InstanceType" not in variant
