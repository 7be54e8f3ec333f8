"""Model loading against a real `./serve` (gunicorn): a planted pickle canary never runs by
default, and an artifact changed after training (its sha256 differs from manifest.json) stops the
server before /ping ever answers. In-process versions of both live in tests/test_flavours.py and
tests/test_training.py; this is the process an operator really starts.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
import requests

from tests.helpers.harness import DEMO_MODEL, READY_DEADLINE_SECONDS, ServeProcess, start_serve
from tests.helpers.models import plant_pickle_canary

pytestmark = pytest.mark.server


def exit_code_without_ever_serving(server: ServeProcess) -> int:
    """Wait for the server to stop by itself; fail if /ping ever said ready."""
    give_up = time.monotonic() + READY_DEADLINE_SECONDS
    while server.process.poll() is None and time.monotonic() < give_up:
        try:
            assert requests.get(server.url + "/ping", timeout=2).status_code != 200, server.log()
        except requests.RequestException:
            time.sleep(0.1)
    code = server.process.poll()
    assert code is not None, f"the server kept running:\n{server.log()}"
    return code


def stopped(model_dir: Path, log_dir: Path, env: dict[str, str] | None = None) -> tuple[int, str]:
    server = start_serve(model_dir, log_dir, env)
    try:
        return exit_code_without_ever_serving(server), server.log()
    finally:
        server.stop()


def test_a_pickle_canary_does_not_run_in_the_server_by_default(tmp_path: Path) -> None:
    model_dir, marker = tmp_path / "model", tmp_path / "ran"
    plant_pickle_canary(model_dir, marker)
    code, log = stopped(model_dir, tmp_path)
    assert code == 1 and "BYOM_ALLOW_PICKLE=true" in log
    assert not marker.exists()


def test_a_tampered_artifact_stops_the_server_before_it_serves(tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(DEMO_MODEL, model_dir)
    artifact = model_dir / "decision-tree-model.skops"
    artifact.write_bytes(artifact.read_bytes() + b"\0")
    code, log = stopped(model_dir, tmp_path)
    assert code != 0, log
    assert "does not match the sha256 in manifest.json: it changed after training" in log
