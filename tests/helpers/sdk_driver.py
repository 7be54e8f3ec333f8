"""Running a SageMaker SDK driver script (tests/helpers/sdk_local_*.py) in .venv-sdk: its
environment without AWS credentials, its process group killed past a deadline, and the cleanup of
what local mode leaves behind (containers by label, compose's `sagemaker-local` network)."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.helpers.harness import REPO

SDK_PYTHON = REPO / ".venv-sdk" / "bin" / "python"


def require_sdk() -> None:
    if not SDK_PYTHON.exists():
        if os.environ.get("BYOM_REQUIRE_DOCKER") == "1":
            pytest.fail("BYOM_REQUIRE_DOCKER=1 but .venv-sdk is missing (make .venv-sdk)")
        pytest.skip("no .venv-sdk with the SageMaker SDK; `make .venv-sdk` makes it")


def sdk_environment() -> dict[str, str]:
    """No AWS account: a region, no credentials, no instance metadata service to ask for them."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AWS_") and key not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    env |= {"AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
    env |= {"SAGEMAKER_SUPPRESS_V2_WARNING": "1"}  # "v2 is on the path of deprecation", at each call
    return env


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60).stdout


def run_in_own_group(
    command: list[str], env: dict[str, str], cwd: Path, timeout: float
) -> subprocess.CompletedProcess[str]:
    """Runs the driver; past the timeout, kills it and its docker-compose child together."""
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=cwd,
        start_new_session=True,
    ) as process:
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
            output += f"\n(killed after {timeout} s)"
    return subprocess.CompletedProcess(command, process.returncode, output, "")


@contextmanager
def removing_what_local_mode_leaves(label: str) -> Iterator[list[str]]:
    """Yields a list that holds, afterwards, the labelled containers still running at the end."""
    network_existed = bool(docker("network", "ls", "-q", "--filter", "name=^sagemaker-local$").strip())
    running: list[str] = []
    try:
        yield running
    finally:
        running += docker("ps", "-q", "--filter", f"label=byom.test={label}").split()
        left = docker("ps", "-aq", "--filter", f"label=byom.test={label}").split()
        if left:
            docker("rm", "-f", *left)
        if not network_existed:
            docker("network", "rm", "sagemaker-local")
