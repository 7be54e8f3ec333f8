"""`byom push`: its ECR calls against moto with the Docker commands watched, and a real push
through the local Docker engine into a real registry (Debian's docker-registry) on 127.0.0.1.
moto serves no registry protocol, so the real push gets its repository URI from a Stubber."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from byom.errors import CommandError
from byom.shared.aws import Aws
from byom.ship import push
from tests.helpers.ship import byom, dry_run_calls

REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com"


class FakeDocker(push.Docker):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[tuple[str, ...], str | None]] = []

    def __call__(self, *args: str, stdin: str | None = None) -> str:
        self.calls.append((args, stdin))
        return ""


def test_push_creates_the_repository_logs_in_tags_and_pushes(client: Any) -> None:
    docker = FakeDocker()
    aws = Aws(boto3.Session(region_name="us-east-1"), out=io.StringIO())
    uri = push.push(aws, docker, "byom:latest", "byom", ["0.1.0", "0.1.0-0123456789ab"])
    assert uri == f"{REGISTRY}/byom:0.1.0-0123456789ab"
    [repository] = client("ecr").describe_repositories()["repositories"]
    assert (repository["repositoryName"], repository["imageScanningConfiguration"]) == (
        "byom",
        {"scanOnPush": True},
    )
    token = client("ecr").get_authorization_token()["authorizationData"][0]["authorizationToken"]
    password = base64.b64decode(token).decode().partition(":")[2]
    assert docker.calls == [
        (("image", "inspect", "--format", "{{.Id}}", "byom:latest"), None),
        (("login", "--username", "AWS", "--password-stdin", REGISTRY), password),
        (("tag", "byom:latest", f"{REGISTRY}/byom:0.1.0"), None),
        (("push", f"{REGISTRY}/byom:0.1.0"), None),
        (("tag", "byom:latest", f"{REGISTRY}/byom:0.1.0-0123456789ab"), None),
        (("push", f"{REGISTRY}/byom:0.1.0-0123456789ab"), None),
    ]
    push.push(aws, FakeDocker(), "byom:latest", "byom", ["0.1.0"])  # the repository now exists
    assert len(client("ecr").describe_repositories()["repositories"]) == 1


def test_push_dry_run_creates_no_repository(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    commands: list[list[str]] = []

    def fake_run(command: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        commands.append(command)
        answers = {"rev-parse": "0123456789ab\n", "status": "", "inspect": "sha256:0\n"}
        return subprocess.CompletedProcess(
            command, 0, answers[command[1] if command[0].endswith("git") else command[2]], ""
        )

    monkeypatch.setattr(push.subprocess, "run", fake_run)
    result = byom("push", "byom:latest", "--tag", "1.2.3", "--dry-run")
    assert result.code == 0, result.err
    assert dry_run_calls(result, "err") == ["ecr CreateRepository"]
    assert f"(dry run) will run docker push {REGISTRY}/byom:1.2.3-0123456789ab" in result.err
    assert f"(dry run) the image URI will be {REGISTRY}/byom:1.2.3-0123456789ab" in result.err
    assert result.out == ""  # IMAGE=$(byom push --dry-run) captures nothing rather than a preview
    assert [c[1:3] for c in commands if c[0].endswith("docker")] == [["image", "inspect"]]
    assert client("ecr").describe_repositories()["repositories"] == []


def test_push_names_a_missing_local_image(aws_env: str) -> None:
    docker = push.Docker()
    if shutil.which("docker") is None:
        pytest.skip("no docker CLI")
    aws = Aws(boto3.Session(region_name="us-east-1"), out=io.StringIO())
    with pytest.raises(CommandError, match="no local image byom-no-such-image:issue7; build it first"):
        push.push(aws, docker, "byom-no-such-image:issue7", "byom", ["0.1.0"])


def test_image_tags_carry_version_and_revision(tmp_path: Path) -> None:
    assert push.image_tags("0.1.0", "0123456789ab-dirty") == ["0.1.0", "0.1.0-0123456789ab-dirty"]
    assert push.git_revision(tmp_path) is None
    with pytest.raises(CommandError, match="is not a valid image tag"):
        push.image_tags("1.0 beta", None)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "2.0.1"\n')
    assert push.project_version(tmp_path) == "2.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[str]:
    if (
        shutil.which("docker-registry") is None
        or subprocess.run(["docker", "info"], capture_output=True).returncode
    ):
        reason = "needs Docker and Debian's docker-registry (source .ci/docker-env installs both)"
        if os.environ.get("BYOM_REQUIRE_DOCKER") == "1":
            pytest.fail(f"BYOM_REQUIRE_DOCKER=1 but the real push test {reason}")
        pytest.skip(reason)
    address = f"127.0.0.1:{free_port()}"
    (tmp_path / "registry.yml").write_text(
        json.dumps(
            {  # YAML is a superset of JSON
                "version": 0.1,
                "storage": {"filesystem": {"rootdirectory": str(tmp_path / "blobs")}},
                "http": {"addr": address},
            }
        )
    )
    server = subprocess.Popen(
        ["docker-registry", "serve", str(tmp_path / "registry.yml")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://{address}/v2/", timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    yield address
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture
def tiny_image(tmp_path: Path) -> Iterator[str]:
    name = "byom-push-test:issue7"
    layer = tmp_path / "layer.tar"
    with tarfile.open(layer, "w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = 6
        tar.addfile(info, io.BytesIO(b"hello\n"))
    subprocess.run(["docker", "import", str(layer), name], check=True, capture_output=True)
    yield name
    subprocess.run(["docker", "image", "rm", "-f", name], capture_output=True)


@pytest.mark.container
def test_a_real_push_through_docker(registry: str, tiny_image: str) -> None:
    aws = Aws(
        boto3.Session(region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"),
        out=io.StringIO(),
    )
    token = base64.b64encode(b"AWS:not-checked-by-this-registry").decode()
    with Stubber(aws.client("ecr")) as stub:
        stub.add_response(
            "describe_repositories",
            {"repositories": [{"repositoryName": "byom", "repositoryUri": f"{registry}/byom"}]},
            {"repositoryNames": ["byom"]},
        )
        stub.add_response(
            "get_authorization_token",
            {"authorizationData": [{"authorizationToken": token, "proxyEndpoint": f"https://{registry}"}]},
            {},
        )
        uri = push.push(aws, push.Docker(), tiny_image, "byom", ["0.1.0", "0.1.0-0123456789ab"])
    assert uri == f"{registry}/byom:0.1.0-0123456789ab"
    with urllib.request.urlopen(f"http://{registry}/v2/byom/tags/list", timeout=5) as answer:
        assert sorted(json.load(answer)["tags"]) == ["0.1.0", "0.1.0-0123456789ab"]
    for tag in ("0.1.0", "0.1.0-0123456789ab"):
        subprocess.run(["docker", "image", "rm", f"{registry}/byom:{tag}"], capture_output=True)
