"""/execution-parameters advertises a concurrency and payload that fit the container's memory,
read from fake cgroup v2, cgroup v1 and /proc/meminfo files under a moved system root."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from werkzeug.test import Client

from container.app import create_app
from container.batch_limits import (
    MEBIBYTE,
    PROCESS_BASELINE_MIB,
    REQUEST_COST_FACTOR,
    fitting,
    memory_limit_bytes,
)
from container.settings import Settings
from tests.helpers.harness import DEMO_MODEL

GIB = 1024 * MEBIBYTE


def system(root: Path, mem_total: int | None = None, v2: str | None = None, v1: str | None = None) -> Path:
    if mem_total is not None:
        (root / "proc").mkdir(parents=True, exist_ok=True)
        (root / "proc/meminfo").write_text(f"MemTotal:       {mem_total // 1024} kB\nMemFree: 1 kB\n")
    if v2 is not None:
        (root / "sys/fs/cgroup").mkdir(parents=True, exist_ok=True)
        (root / "sys/fs/cgroup/memory.max").write_text(v2 + "\n")
    if v1 is not None:
        (root / "sys/fs/cgroup/memory").mkdir(parents=True, exist_ok=True)
        (root / "sys/fs/cgroup/memory/memory.limit_in_bytes").write_text(v1 + "\n")
    return root


def test_the_cgroup_v2_limit_caps_mem_total(tmp_path: Path) -> None:
    assert memory_limit_bytes(system(tmp_path, mem_total=16 * GIB, v2=str(2 * GIB))) == 2 * GIB


def test_the_cgroup_v1_limit_when_there_is_no_v2_file(tmp_path: Path) -> None:
    assert memory_limit_bytes(system(tmp_path, mem_total=16 * GIB, v1=str(3 * GIB))) == 3 * GIB


@pytest.mark.parametrize("unlimited", [{"v2": "max"}, {"v1": str(2**63 - 4096)}, {}])
def test_without_a_cgroup_limit_mem_total_decides(tmp_path: Path, unlimited: dict[str, str]) -> None:
    assert memory_limit_bytes(system(tmp_path, mem_total=8 * GIB, **unlimited)) == 8 * GIB


def test_a_mem_total_below_the_cgroup_limit_decides(tmp_path: Path) -> None:
    assert memory_limit_bytes(system(tmp_path, mem_total=GIB, v2=str(4 * GIB))) == GIB


def test_nothing_known_lowers_nothing(tmp_path: Path) -> None:
    assert memory_limit_bytes(tmp_path) is None
    assert fitting(None, 5, 256, 100, 5) == (5, 100)


def test_an_ml_m5_large_fits_its_workers_at_100_mib() -> None:
    fits = fitting(8 * GIB, 5, 256, 100, 5)  # 2 vCPUs: 5 workers
    assert fits.max_payload_mb == 100
    assert fits.max_concurrent_transforms == 5
    spare = 8 * 1024 - 256 - 6 * PROCESS_BASELINE_MIB
    assert fits.max_concurrent_transforms * REQUEST_COST_FACTOR * 100 <= spare


def test_a_small_limit_lowers_concurrency_then_the_payload() -> None:
    spare_mb = 1024 - 256 - 4 * PROCESS_BASELINE_MIB  # 1 GiB, 3 workers: 368 MiB
    assert fitting(GIB, 3, 256, 100, 3) == (spare_mb // (REQUEST_COST_FACTOR * 100), 100)
    assert fitting(GIB, 3, 256, 100, 3).max_concurrent_transforms == 1
    tiny = fitting(600 * MEBIBYTE, 3, 256, 100, 3)  # 600 - 256 - 400 < 0: the least there is
    assert tiny == (1, 1)
    assert fitting(700 * MEBIBYTE, 1, 256, 100, 1) == (1, (700 - 256 - 200) // REQUEST_COST_FACTOR)


def test_execution_parameters_reads_the_system_root(tmp_path: Path) -> None:
    root = system(tmp_path, mem_total=64 * GIB, v2=str(GIB))
    settings = Settings(model_dir=DEMO_MODEL, workers=3, max_payload_mb=100, max_concurrent_transforms=3)
    body = (
        Client(create_app(dataclasses.replace(settings, system_root=root))).get("/execution-parameters").json
    )
    assert body == {"MaxConcurrentTransforms": 1, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 100}
    roomy = system(tmp_path / "roomy", mem_total=64 * GIB)
    body = (
        Client(create_app(dataclasses.replace(settings, system_root=roomy))).get("/execution-parameters").json
    )
    assert body == {"MaxConcurrentTransforms": 3, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 100}
