"""The compose file's opt-in `metrics` profile: Prometheus scrapes the image's /metrics, and a
query through it counts the requests sent. Needs the Prometheus image: prom/prometheus as the
compose file names it, else one built from Debian's package on the local base image
(tests/fixtures/prometheus/Dockerfile); skipped, saying why, when neither can be had."""

from __future__ import annotations

import os
import subprocess
import time
import uuid

import pytest
import requests

from tests.helpers.harness import REPO, base_image, free_port, wait_until_ready

pytestmark = pytest.mark.container
OFFICIAL = "prom/prometheus:v2.53.1"  # what docker-compose.yml names
LOCAL = "byom-prometheus:test"
CI_BASE = "byom-base:bookworm"  # the base .ci/docker-env builds without Docker Hub
REQUESTS = 5


def image_present(name: str) -> bool:
    return (
        subprocess.run(["docker", "image", "inspect", name], capture_output=True, timeout=60).returncode == 0
    )


def prometheus_image() -> str:
    """The official image when here, else one built from Debian's package; skip when neither."""
    if image_present(OFFICIAL):
        return OFFICIAL
    base = base_image()
    if not image_present(base):
        pytest.skip(
            f"{OFFICIAL} is not here (Docker Hub cannot be reached) and there is no base image {base}"
        )
    built = subprocess.run(
        [
            "docker",
            "build",
            "-q",
            "-t",
            LOCAL,
            "--build-arg",
            f"BASE_IMAGE={base}",
            str(REPO / "tests/fixtures/prometheus"),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if built.returncode != 0:
        pytest.skip(
            f"{OFFICIAL} is not here and Debian's prometheus package could not be installed: {built.stderr[-300:]}"
        )
    return LOCAL


def compose_up(compose: list[str], env: dict[str, str], *services: str) -> subprocess.CompletedProcess[str]:
    command = [*compose, "up", "-d", "--no-build", *services]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


def query(url: str, promql: str) -> float | None:
    try:
        answer = requests.get(url + "/api/v1/query", params={"query": promql}, timeout=10).json()
    except (requests.RequestException, ValueError):
        return None
    results = answer.get("data", {}).get("result", [])
    return float(results[0]["value"][1]) if results else None


def test_prometheus_in_the_metrics_profile_scrapes_every_request(image: str) -> None:
    project = f"byommetrics{uuid.uuid4().hex[:8]}"
    port, prometheus_port = free_port(), free_port()
    env = {
        **os.environ,
        "BYOM_IMAGE": image,
        "BYOM_PROMETHEUS_IMAGE": prometheus_image(),
        "BYOM_PUBLISH": f"127.0.0.1:{port}",
        "BYOM_PROMETHEUS_PUBLISH": f"127.0.0.1:{prometheus_port}",
        "COMPOSE_PROJECT_NAME": project,
        "SAGEMAKER_MODEL_SERVER_WORKERS": "2",
    }
    compose = ["docker-compose", "--file", str(REPO / "docker-compose.yml"), "--profile", "metrics"]
    try:
        started = compose_up(compose, env, "serve", "prometheus")
        assert started.returncode == 0, started.stderr
        url = f"http://127.0.0.1:{port}"
        wait_until_ready(url, lambda: True, lambda: "")
        for _ in range(REQUESTS):
            reply = requests.post(
                url + "/invocations",
                data=b"5.1,3.5,1.4,0.2",
                headers={"Content-Type": "text/csv"},
                timeout=30,
            )
            assert reply.status_code == 200
        promql = 'sum(byom_requests_total{route="/invocations",status_class="2xx"})'
        give_up, seen = time.monotonic() + 90, None
        while seen != REQUESTS and time.monotonic() < give_up:
            time.sleep(1)
            seen = query(f"http://127.0.0.1:{prometheus_port}", promql)
        assert seen == REQUESTS
    finally:
        subprocess.run([*compose, "down", "--volumes"], env=env, capture_output=True, timeout=120)
