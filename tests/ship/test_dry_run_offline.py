"""Every ship command's --dry-run without an AWS account: no AWS variable, no credentials, no
connection. Each run exits 0 and prints the requests it will make in order, in the future tense,
with placeholders in upper case between angle brackets; push and package print nothing on stdout.

Every name lookup and socket connect fails (and is recorded): the only one allowed is the
credential chain's probe of the EC2 instance metadata address, which is how boto3 learns that
there are no credentials (refused here, as on a laptop)."""

from __future__ import annotations

import os
import re
import shutil
import socket
from pathlib import Path
from typing import Any

import pytest

from byom.shared.aws import OFFLINE_NOTE
from byom.ship import push
from tests.helpers.ship import DEPLOY_FLAGS, Result, byom, write_plan

DEMO_MODEL = Path(__file__).resolve().parents[2] / "model"
INSTANCE_METADATA = "169.254.169.254"
REGISTRY = "<ACCOUNT-ID>.dkr.ecr.us-east-1.amazonaws.com"
PAST = re.compile(r"(?<!will be )\b(created|updated|deleted|uploaded|pushed|deployed|registered|set)\b")
SCALING = [
    "read application-autoscaling DescribeScalableTargets",
    "call application-autoscaling RegisterScalableTarget",
    "read application-autoscaling DescribeScalingPolicies",
    "call application-autoscaling PutScalingPolicy",
    "call application-autoscaling PutScalingPolicy",
    "call application-autoscaling PutScalingPolicy",
    "read cloudwatch DescribeAlarms",
    "call cloudwatch PutMetricAlarm",
    "read application-autoscaling DescribeScheduledActions",
    "call application-autoscaling PutScheduledAction",
]


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[Any]:
    """No AWS variable, a HOME without ~/.aws, and every connection refused; the attempts made."""
    for name in [name for name in os.environ if name.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    attempts: list[Any] = []

    def unresolved(host: Any, port: Any, *_: Any, **__: Any) -> Any:
        attempts.append((host, port))
        raise socket.gaierror(f"an offline dry run looked up {host}")

    def refused(_: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise ConnectionRefusedError(f"an offline dry run connected to {address}")

    monkeypatch.setattr(socket, "getaddrinfo", unresolved)
    monkeypatch.setattr(socket.socket, "connect", refused)
    return attempts


def requests(lines: list[str]) -> list[str]:
    """`read|call service Operation` for each request a dry run said it will make, in order."""
    prefix = "(dry run) will "
    return [
        line.removeprefix(prefix).split(" {")[0]
        for line in lines
        if line.startswith((prefix + "read ", prefix + "call "))
    ]


def checked(result: Result, attempts: list[Any], stream: str = "out") -> list[str]:
    """The lines of a dry run that kept offline, after the checks every one of them passes."""
    assert result.code == 0, result.err
    assert {address[0] for address in attempts} <= {INSTANCE_METADATA}, attempts
    lines = getattr(result, stream).splitlines()
    assert lines[0] == f"(dry run) {OFFLINE_NOTE}"
    for line in lines:
        assert line.startswith("(dry run) "), line
        assert not PAST.search(line.split(" {")[0]), line  # the JSON parameters are not prose
        for placeholder in re.findall(r"<([^<>]*)>", line):
            assert re.fullmatch(r"[A-Z0-9][A-Z0-9 -]*( OF \S+)?", placeholder), line
    return lines


@pytest.fixture
def fake_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `docker` on PATH that knows every image and logs its arguments; HEAD is 0123456789ab."""
    log = tmp_path / "docker.log"
    script = tmp_path / "bin" / "docker"
    script.parent.mkdir()
    script.write_text(f'#!/bin/sh\necho "$@" >> {log}\necho sha256:0\n')
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{script.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(push, "git_revision", lambda _: "0123456789ab")
    return log


def test_push(offline: list[Any], fake_docker: Path) -> None:
    result = byom("push", "byom:latest", "--tag", "1.2.3", "--dry-run", "--region", "us-east-1")
    lines = checked(result, offline, "err")
    assert result.out == ""  # IMAGE=$(byom push --dry-run) captures nothing
    assert requests(lines) == [
        "read ecr DescribeRepositories",
        "call ecr CreateRepository",
        "read ecr GetAuthorizationToken",
    ]
    uri = f"{REGISTRY}/byom"
    assert [line for line in lines if "docker" in line] == [
        f"(dry run) will run docker login --username AWS --password-stdin {REGISTRY}",
        f"(dry run) will run docker tag byom:latest {uri}:1.2.3",
        f"(dry run) will run docker push {uri}:1.2.3",
        f"(dry run) will run docker tag byom:latest {uri}:1.2.3-0123456789ab",
        f"(dry run) will run docker push {uri}:1.2.3-0123456789ab",
    ]
    assert f"(dry run) image {uri}:1.2.3: will be pushed" in lines
    assert lines[-1] == f"(dry run) the image URI will be {uri}:1.2.3-0123456789ab"
    assert fake_docker.read_text() == "image inspect --format {{.Id}} byom:latest\n"  # still checked


def test_package(offline: list[Any], tmp_path: Path) -> None:
    model_dir = shutil.copytree(DEMO_MODEL, tmp_path / "model")
    result = byom("package", str(model_dir), "--dry-run", "--region", "us-east-1")
    lines = checked(result, offline, "err")
    assert result.out == ""  # MODEL_DATA=$(byom package --dry-run ...) captures nothing
    assert requests(lines) == [
        "read sts GetCallerIdentity",
        "read s3 HeadBucket",
        "call s3 CreateBucket",
        "read s3 HeadObject",
        "call s3 upload_file",
    ]
    url = r"s3://sagemaker-us-east-1-<ACCOUNT-ID>/byom/models/[0-9a-f]{12}/model.tar.gz"
    assert re.fullmatch(rf"\(dry run\) the model URL will be {url}", lines[-1])


@pytest.mark.parametrize("with_plan", [False, True])
def test_deploy_creates(offline: list[Any], tmp_path: Path, with_plan: bool) -> None:
    plan = ("--plan", str(write_plan(tmp_path / "plan.json"))) if with_plan else ()
    result = byom("deploy", *DEPLOY_FLAGS, *plan, "--dry-run", "--region", "us-east-1")
    lines = checked(result, offline)
    assert requests(lines) == [
        "read sagemaker DescribeEndpoint",
        "read sagemaker DescribeModel",
        "call sagemaker CreateModel",
        "read sagemaker DescribeEndpointConfig",
        "call sagemaker CreateEndpointConfig",
        "call sagemaker CreateEndpoint",
        *(SCALING if with_plan else []),
    ]
    assert lines[-1] == "(dry run) endpoint iris: will be deployed"
    assert ("<POLICY ARN OF overhead-latency>" in result.out) == with_plan


def test_scale_prints_the_reads_of_its_checks(offline: list[Any]) -> None:
    result = byom("scale", "--endpoint", "iris", "--count", "3", "--dry-run", "--region", "us-east-1")
    lines = checked(result, offline)
    assert requests(lines) == [
        "read sagemaker DescribeEndpoint",
        "read application-autoscaling DescribeScalableTargets",
        "call sagemaker UpdateEndpointWeightsAndCapacities",
    ]
    assert (
        "(dry run) not checked without credentials: that endpoint iris has variant AllTraffic" in result.out
    )
    assert lines[-1] == "(dry run) endpoint iris, variant AllTraffic: will be set to 3 instance(s)"


def test_destroy_says_what_it_will_delete(offline: list[Any]) -> None:
    result = byom("destroy", "--endpoint", "iris", "--dry-run", "--region", "us-east-1")
    lines = checked(result, offline)
    assert requests(lines) == [
        "read sagemaker DescribeEndpoint",
        "read sagemaker ListEndpointConfigs",
        "read sagemaker ListModels",
        "read cloudwatch DescribeAlarms",
    ]
    assert lines[-1].startswith("(dry run) then it will delete what those reads find: each variant's")
    assert "its rollback alarms, endpoint iris, and its endpoint configs and models" in lines[-1]
    assert "nothing to delete" not in result.out


def test_a_region_is_still_needed(offline: list[Any]) -> None:
    result = byom("destroy", "--endpoint", "iris", "--dry-run")
    assert result.code == 2 and "no AWS region" in result.err


def test_without_dry_run_credentials_are_still_needed(offline: list[Any]) -> None:
    result = byom("destroy", "--endpoint", "iris", "--yes", "--region", "us-east-1")
    assert result.code == 2 and "no AWS credentials" in result.err
