"""Shared fixtures: the demo model behind each transport, and the built image.

`endpoint` runs a test three times: in-process (werkzeug's WSGI test client, fast), against a real
`./serve` with gunicorn on 127.0.0.1, and against the Docker image. Container tests skip, saying why,
when no Docker engine answers or the Dockerfile's base image is neither here nor pullable, unless
BYOM_REQUIRE_DOCKER=1 (set by CI), where they fail instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from container.settings import Settings
from tests.helpers.harness import DEMO_MODEL, HttpEndpoint, container, docker_available, serving
from tests.helpers.inprocess import InProcessEndpoint
from tests.helpers.models import ModelCase
from tests.helpers.multi_model import build_root

# BYOM_TEST_IMAGE lets several checkouts on one Docker engine test without clobbering each other.
IMAGE_TAG = os.environ.get("BYOM_TEST_IMAGE", "byom:test")


@pytest.fixture(scope="session")
def image() -> str:
    if not docker_available():
        if os.environ.get("BYOM_REQUIRE_DOCKER") == "1":
            pytest.fail("BYOM_REQUIRE_DOCKER=1 but no Docker engine answers (source .ci/docker-env)")
        pytest.skip("no Docker engine; `source .ci/docker-env` starts one")
    from tests.helpers.harness import base_image, build_image, missing_base_image

    missing = missing_base_image(base_image())
    if missing:
        if os.environ.get("BYOM_REQUIRE_DOCKER") == "1":
            pytest.fail(f"BYOM_REQUIRE_DOCKER=1 but {missing}")
        pytest.skip(missing)
    build_image(IMAGE_TAG)
    return IMAGE_TAG


@pytest.fixture(scope="session")
def multi_model_root(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, ModelCase | None]]:
    """A SageMaker-shaped /opt/ml/models of MODEL_COUNT models (tests/helpers/multi_model.py)."""
    directory = tmp_path_factory.mktemp("models")
    return directory, build_root(directory)


@pytest.fixture(scope="session")
def inprocess_endpoint() -> InProcessEndpoint:
    return InProcessEndpoint(Settings(model_dir=DEMO_MODEL))


@pytest.fixture(scope="session")
def server_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpEndpoint]:
    with serving(DEMO_MODEL, tmp_path_factory.mktemp("serve")) as server:
        yield HttpEndpoint(server.url)


@pytest.fixture(scope="session")
def container_endpoint(image: str) -> Iterator[HttpEndpoint]:
    with container(image, DEMO_MODEL) as running:
        yield HttpEndpoint(running.url)


@pytest.fixture(params=["inprocess", "server", "container"])
def endpoint(request: pytest.FixtureRequest) -> HttpEndpoint | InProcessEndpoint:
    return request.getfixturevalue(f"{request.param}_endpoint")  # type: ignore[no-any-return]


@pytest.fixture(params=["server", "container"])
def http_endpoint(request: pytest.FixtureRequest) -> HttpEndpoint:
    """A real socket: for what an in-process client cannot send (chunked bodies, raw framing)."""
    return request.getfixturevalue(f"{request.param}_endpoint")  # type: ignore[no-any-return]


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "model"
    directory.mkdir()
    return directory
