"""The gunicorn command line `serve` builds, and what it does before gunicorn (container/server/serve.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from container.server.serve import gunicorn_argv, heartbeat_dir_arguments
from container.settings import Settings
from tests.helpers.harness import REPO

# serve.main up to gunicorn, in a fresh interpreter: gunicorn replaced by a report of the thread
# count (numpy's OpenBLAS starts a thread per core when it loads, unless capped) and the caps.
BEFORE_GUNICORN = """
import os
from container.server import serve
def report(options):
    print(len(os.listdir("/proc/self/task")), os.environ["OMP_NUM_THREADS"], os.environ["OPENBLAS_NUM_THREADS"])
serve.run_gunicorn = report
serve.main([])
"""


def test_heartbeats_go_to_a_writable_memory_directory(tmp_path: Path) -> None:
    assert heartbeat_dir_arguments(tmp_path) == ["--worker-tmp-dir", str(tmp_path)]


def test_without_one_gunicorn_keeps_its_default(tmp_path: Path) -> None:
    assert heartbeat_dir_arguments(tmp_path / "absent") == []


def test_the_command_names_the_worker_and_the_timeouts() -> None:
    argv = gunicorn_argv(Settings(model_dir=Path("/opt/ml/model"), timeout_seconds=7))
    assert argv[argv.index("--worker-class") + 1] == "container.server.worker.TimeoutThreadWorker"
    assert argv[argv.index("--timeout") + 1] == "7"


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="on one core OpenBLAS starts no threads anyway")
def test_math_libraries_are_capped_before_they_load() -> None:
    environment = {**os.environ, "SM_MODEL_DIR": str(REPO / "model"), "SAGEMAKER_MODEL_SERVER_WORKERS": "8"}
    environment.pop("OMP_NUM_THREADS", None)
    environment.pop("OPENBLAS_NUM_THREADS", None)
    done = subprocess.run(
        [sys.executable, "-c", BEFORE_GUNICORN],
        env=environment,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "1", "1"]
