"""What `/execution-parameters` advertises: the concurrency and payload that fit in memory.

Owns: the memory this container may use (`memory_limit_bytes`: the cgroup v2 `memory.max`, else
the cgroup v1 `memory.limit_in_bytes`, capped by the machine's MemTotal) and the arithmetic that
turns it into `MaxConcurrentTransforms` and `MaxPayloadInMB` (`fitting`). A request of P MiB
costs at most REQUEST_COST_FACTOR x P while it is answered (the body in hand, its answer, and the
chunks in flight: bench/results/batch.md measured under 3x), and each process holds about
PROCESS_BASELINE_MIB idle. So, with W workers and R MiB reserved (BYOM_MEMORY_RESERVE_MB):

    spare       = limit - R - (W + 1) x PROCESS_BASELINE_MIB
    payload     = min(SAGEMAKER_MAX_PAYLOAD_IN_MB, spare / REQUEST_COST_FACTOR), at least 1
    concurrency = min(SAGEMAKER_MAX_CONCURRENT_TRANSFORMS, spare / (REQUEST_COST_FACTOR x payload)),
                  at least 1

Nothing is lowered where no limit is known. Must not know HTTP; reads only the files it is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from container.host_memory import cgroup_limit, meminfo_bytes

MEBIBYTE = 1024 * 1024
REQUEST_COST_FACTOR = 3
PROCESS_BASELINE_MIB = 100  # an idle worker with the XGBoost bench model: about 80 MiB resident


class BatchLimits(NamedTuple):
    max_concurrent_transforms: int
    max_payload_mb: int


def memory_limit_bytes(root: Path = Path("/")) -> int | None:
    """The memory this container may use: its cgroup's limit, capped by MemTotal; None if unknown."""
    known = [
        value
        for value in (cgroup_limit(root), meminfo_bytes(root / "proc/meminfo", "MemTotal"))
        if value is not None
    ]
    return min(known) if known else None


def fitting(
    limit: int | None, workers: int, reserve_mb: int, max_payload_mb: int, max_concurrent: int
) -> BatchLimits:
    """The configured payload and concurrency, lowered until they fit in `limit` bytes."""
    if limit is None:
        return BatchLimits(max_concurrent, max_payload_mb)
    spare_mb = limit // MEBIBYTE - reserve_mb - (workers + 1) * PROCESS_BASELINE_MIB
    payload = max(1, min(max_payload_mb, spare_mb // REQUEST_COST_FACTOR))
    concurrency = max(1, min(max_concurrent, spare_mb // (REQUEST_COST_FACTOR * payload)))
    return BatchLimits(concurrency, payload)
