"""The gunicorn command line `serve` builds (container/serve.py)."""

from __future__ import annotations

from pathlib import Path

from container.serve import gunicorn_argv, heartbeat_dir_arguments
from container.settings import Settings


def test_heartbeats_go_to_a_writable_memory_directory(tmp_path: Path) -> None:
    assert heartbeat_dir_arguments(tmp_path) == ["--worker-tmp-dir", str(tmp_path)]


def test_without_one_gunicorn_keeps_its_default(tmp_path: Path) -> None:
    assert heartbeat_dir_arguments(tmp_path / "absent") == []


def test_the_command_names_the_worker_and_the_timeouts() -> None:
    argv = gunicorn_argv(Settings(model_dir=Path("/opt/ml/model"), timeout_seconds=7))
    assert argv[argv.index("--worker-class") + 1] == "container.worker.TimeoutThreadWorker"
    assert argv[argv.index("--timeout") + 1] == "7"
