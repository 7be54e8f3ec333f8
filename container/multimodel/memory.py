"""What a model will cost in memory, what this container can still use, and giving memory back.

Owns the arithmetic of 507. A model's estimate is ESTIMATE_FACTOR times its files' size plus
ESTIMATE_OVERHEAD, per process that will hold it (every worker does): in each worker a 28 MiB
skops forest of 40 deep trees took about 3 times its file, a 0.6 MiB 200-tree XGBoost model
about 10 MiB (`python bench/multi_model.py`; docs/multi-model.md). What the container can use is
the smaller of the kernel's MemAvailable and the cgroup's limit less its usage (page cache it could drop not
counted; container.host_memory reads them), less the operator's reserve (BYOM_MEMORY_RESERVE_MB).
Linux only; elsewhere nothing is known and every load is let through.
"""

from __future__ import annotations

import ctypes
import functools
import gc
from pathlib import Path

from container.errors import InsufficientMemory
from container.host_memory import available_bytes

MEBIBYTE = 1024 * 1024
ESTIMATE_FACTOR = 3
ESTIMATE_OVERHEAD = 8 * MEBIBYTE


def estimate_bytes(model_dir: Path) -> int:
    """What one process will hold for the model in this directory (its files and code/'s)."""
    files = [path for path in model_dir.rglob("*") if path.is_file()]
    return ESTIMATE_FACTOR * sum(path.stat().st_size for path in files) + ESTIMATE_OVERHEAD


def check_fits(name: str, estimate: int, copies: int, reserve_mb: int, pending: int = 0) -> None:
    """507 unless `copies` of `estimate` fit in what is available beyond the reserve and the
    loads still in progress (`pending` bytes, not yet seen in the kernel's figures)."""
    available = available_bytes()
    if available is None:
        return
    needed = estimate * copies
    spare = available - pending - reserve_mb * MEBIBYTE
    if needed > spare:
        raise InsufficientMemory(
            f"model {name} would need about {needed // MEBIBYTE} MiB ({copies} workers x "
            f"{estimate // MEBIBYTE} MiB) and {max(spare, 0) // MEBIBYTE} MiB are free beyond the "
            f"reserve of {reserve_mb} MiB (BYOM_MEMORY_RESERVE_MB); unload a model first"
        )


def give_back() -> None:
    """After an unload: collect what it left and hand freed heap pages back to the kernel, so
    resident memory falls (glibc keeps freed memory for reuse otherwise)."""
    gc.collect()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """glibc, whose malloc_trim returns freed heap pages; None elsewhere (musl, macOS)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") else None
