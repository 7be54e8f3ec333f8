"""Start the real thing for tests: `./serve` (gunicorn) on 127.0.0.1, or the Docker image.

Endpoints speak one small interface (`request(method, path, body, headers) -> Reply`) whether the
app runs in-process, behind gunicorn, or in a container, so the contract suite runs unchanged
against all three. Servers are waited for against a deadline, never a fixed sleep; a server that
fails to come up has its log attached to the failure; everything started is always stopped.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
DEMO_MODEL = REPO / "model"
READY_DEADLINE_SECONDS = 60.0


@dataclass
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> object:
        import json

        return json.loads(self.body)


class HttpEndpoint:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: Mapping[str, str] | None = None
    ) -> Reply:
        response = self.session.request(
            method, self.base_url + path, data=body, headers=dict(headers or {}), timeout=30
        )
        return Reply(response.status_code, response.headers, response.content)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_ready(
    url: str, alive: Callable[[], bool], describe: Callable[[], str], deadline: float = READY_DEADLINE_SECONDS
) -> None:
    give_up = time.monotonic() + deadline
    while time.monotonic() < give_up:
        if not alive():
            raise RuntimeError(f"server exited before it was ready:\n{describe()}")
        try:
            if requests.get(url + "/ping", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server not ready within {deadline} s:\n{describe()}")


@dataclass
class ServeProcess:
    """A running `./serve`; its combined stdout and stderr go to `log_path`."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    metrics_port: int = 0  # BYOM_METRICS_PORT: a free port of its own unless the test chose one

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 40) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def start_serve(model_dir: Path, log_dir: Path, env: Mapping[str, str] | None = None) -> ServeProcess:
    port = free_port()
    log_path = log_dir / f"serve-{port}.log"
    environment = {
        **os.environ,
        "SM_MODEL_DIR": str(model_dir),
        "BYOM_HOST": "127.0.0.1",
        "SAGEMAKER_BIND_TO_PORT": str(port),
        "SAGEMAKER_MODEL_SERVER_WORKERS": "2",
        "BYOM_METRICS_PORT": str(free_port()),  # servers run side by side: never the default port
        **(env or {}),
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(REPO / "serve")], env=environment, stdout=log, stderr=subprocess.STDOUT
        )
    return ServeProcess(process, port, log_path, int(environment["BYOM_METRICS_PORT"]))


def exit_code_of_a_server_that_must_stop(server: ServeProcess, timeout: float = 60) -> int:
    """Its exit code; the test fails (and the server is killed) if it is still running after `timeout`."""
    try:
        return server.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        server.stop(signal.SIGKILL)
        pytest.fail(f"server kept running instead of stopping:\n{server.log()}")


@contextmanager
def serving(model_dir: Path, log_dir: Path, env: Mapping[str, str] | None = None) -> Iterator[ServeProcess]:
    server = start_serve(model_dir, log_dir, env)
    try:
        wait_until_ready(server.url, server.alive, server.log)
        yield server
    finally:
        server.stop()


# --- Docker -------------------------------------------------------------------------------------


def docker_available() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


DEFAULT_BASE_IMAGE = "python:3.11-slim"  # the Dockerfile's


def base_image() -> str:
    return os.environ.get("BYOM_BASE_IMAGE", DEFAULT_BASE_IMAGE)


def missing_base_image(base: str) -> str | None:
    """Why the image cannot be built here (its base is neither present nor pullable), or None."""
    present = subprocess.run(["docker", "image", "inspect", base], capture_output=True, timeout=60)
    if present.returncode == 0:
        return None
    pulled = subprocess.run(["docker", "pull", "-q", base], capture_output=True, text=True, timeout=600)
    if pulled.returncode == 0:
        return None
    reason = (pulled.stderr.strip().splitlines() or ["no reason given"])[-1]
    return f"the base image {base} is not here and cannot be pulled ({reason}); `source .ci/docker-env` builds a local one"


def build_image(tag: str) -> None:
    base = base_image()
    command = ["docker", "build", "-q", "--build-arg", f"BASE_IMAGE={base}", "-t", tag, str(REPO)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        raise RuntimeError(f"docker build failed:\n{result.stdout}\n{result.stderr}")


# How a container may be run: as root (what SageMaker does), and hardened for self-hosting.
HARDENED = ("--user", "1000:1000", "--read-only", "--tmpfs", "/tmp")
RUN_MODES: dict[str, tuple[str, ...]] = {"root": (), "non-root-read-only": HARDENED}


def share_with_any_user(path: Path, writable: bool = False) -> None:
    """Let the container's non-root user read (or write) a mounted tree; pytest's are 0700."""
    extra = 0o777 if writable else 0o755
    for item in [path, *path.rglob("*")]:
        mode = extra if item.is_dir() else extra & 0o666
        item.chmod(item.stat().st_mode | mode)


@dataclass
class Container:
    name: str
    port: int
    exit_code: int | None = field(default=None)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logs(self) -> str:
        result = subprocess.run(["docker", "logs", self.name], capture_output=True, text=True, timeout=30)
        return result.stdout + result.stderr

    def running(self) -> bool:
        result = subprocess.run(
            ["docker", "inspect", "-f", "{{.State.Running}}", self.name],
            capture_output=True,
            text=True,
            timeout=30,
        )
        return result.stdout.strip() == "true"

    def stop(self, timeout: int = 30) -> int:
        subprocess.run(
            ["docker", "stop", "-t", str(timeout), self.name], capture_output=True, timeout=timeout + 30
        )
        result = subprocess.run(
            ["docker", "inspect", "-f", "{{.State.ExitCode}}", self.name],
            capture_output=True,
            text=True,
            timeout=30,
        )
        self.exit_code = int(result.stdout.strip())
        return self.exit_code

    def seconds_to_stop(self) -> float:
        """From gunicorn's master taking SIGTERM to the container's exit, by Docker's clock: the
        server's own stop, without the wait for a busy Docker daemon to deliver the signal."""
        logs = subprocess.run(["docker", "logs", "-t", self.name], capture_output=True, text=True, timeout=30)
        signalled = next(
            line.split(" ", 1)[0]
            for line in (logs.stdout + logs.stderr).splitlines()
            if "Handling signal: term" in line
        )
        finished = subprocess.run(
            ["docker", "inspect", "-f", "{{.State.FinishedAt}}", self.name],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
        return (docker_time(finished) - docker_time(signalled)).total_seconds()


def docker_time(text: str) -> datetime:
    """A Docker timestamp (RFC 3339 in UTC, to the nanosecond) to the microsecond."""
    seconds, _, fraction = text.removesuffix("Z").partition(".")
    return datetime.fromisoformat(f"{seconds}.{fraction[:6].ljust(6, '0')}+00:00")


@contextmanager
def container(
    image: str,
    model_dir: Path,
    env: Mapping[str, str] | None = None,
    container_port: int = 8080,
    wait: bool = True,
    run_as: tuple[str, ...] = (),
    mount_at: str = "/opt/ml/model",
    docker_args: tuple[str, ...] = (),
) -> Iterator[Container]:
    name = f"byom-test-{uuid.uuid4().hex[:10]}"
    port = free_port()
    if run_as:
        share_with_any_user(model_dir)
    command = ["docker", "run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:{container_port}", *run_as]
    command += ["-v", f"{model_dir}:{mount_at}:ro", *docker_args]
    for key, value in (env or {}).items():
        command += ["-e", f"{key}={value}"]
    subprocess.run([*command, image, "serve"], check=True, capture_output=True, timeout=60)
    running = Container(name, port)
    try:
        if wait:
            wait_until_ready(running.url, running.running, running.logs)
        yield running
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=60)
