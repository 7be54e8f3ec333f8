"""The master's side of the metrics: the directory every process writes its values in, the
`/metrics` server, and the bookkeeping of workers that exit.

Owns: the directory (`metrics_directory`, in /dev/shm like the multi-model registry, made empty
by the master before it forks and removed when it exits), switching prometheus_client to its
multiprocess values (`enable_multiprocess`), the scrape (`Exposition`: a thread of the master
answering on BYOM_METRICS_PORT, each scrape reading every file afresh), and `retire`: a worker
that exited has its live gauges dropped (prometheus_client's `mark_process_dead`) and its counters
and histograms added into one file of retired workers, then deleted. So a scrape reads the files
of the live workers plus two, however many workers were replaced (prometheus_client issues #367,
#568: every dead worker's files were read by every scrape). Retiring and scraping take one lock
of the master's, so a scrape never counts a worker twice or not at all; no worker ever takes it.
Process memory is read from /proc at each scrape. Must not know the request path or WSGI.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, multiprocess, start_http_server, values
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.registry import Collector

SHARED_MEMORY = Path("/dev/shm")  # noqa: S108 - in memory, as the multi-model registry
MERGED_KINDS = ("counter", "histogram")  # gauges are all live*: dropped when their process is
RETIRED = "retired"  # the file name's pid part for the sum of every retired worker
log = logging.getLogger("byom")


def metrics_directory(master_pid: int) -> Path:
    base = SHARED_MEMORY if os.access(SHARED_MEMORY, os.W_OK | os.X_OK) else Path(tempfile.gettempdir())
    return base / f"byom-metrics-{master_pid}"


def prepare(directory: Path) -> Path:
    """An empty directory (what an earlier server of the same pid left is removed, and so are the
    directories of masters that are gone without removing theirs: killed with SIGKILL, say)."""
    shutil.rmtree(directory, ignore_errors=True)
    for left in directory.parent.glob("byom-metrics-*"):
        if not _alive(left.name.removeprefix("byom-metrics-")):
            shutil.rmtree(left, ignore_errors=True)
    directory.mkdir(mode=0o700)
    return directory


def _alive(pid: str) -> bool:
    if not pid.isdigit():
        return True  # not one of ours: left alone
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True


def enable_multiprocess(directory: Path) -> None:
    """Values created from now on live in `directory`'s files, one per process and type (a fork
    inherits this and opens its own files on its first update)."""
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)  # where prometheus_client opens them
    if values.ValueClass.__name__ != "MmapedValue":
        values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]


def merge_into(target: Path, source: Path) -> None:
    """Add every value of `source` (a dead process's file) to the same key's in `target`."""
    mmap_dict: Any = MmapedDict  # untyped
    merged = mmap_dict(str(target))
    try:
        for key, value, _timestamp, _position in mmap_dict.read_all_values_from_file(str(source)):
            current, _ = merged.read_value(key)
            merged.write_value(key, current + value, 0.0)
    finally:
        merged.close()


def resident_bytes(pid: int) -> int:
    """A process's resident memory (0 once it has gone)."""
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return 0


class Memory(Collector):
    """A collector: the master's and the workers' resident memory, read when scraped."""

    def __init__(self, workers: Callable[[], Iterable[int]]) -> None:
        self.workers = workers

    def collect(self) -> Iterator[Any]:
        family = GaugeMetricFamily(
            "byom_resident_memory_bytes",
            "Resident memory of the master and of all workers",
            labels=["process"],
        )
        family.add_metric(["master"], resident_bytes(os.getpid()))
        family.add_metric(["workers"], sum(resident_bytes(pid) for pid in list(self.workers())))
        yield family


class Retired(Collector):
    """A collector: every process's files (live workers, the master, the retired), under the lock."""

    def __init__(self, directory: Path, lock: threading.Lock) -> None:
        self.directory = directory
        self.lock = lock

    def collect(self) -> list[Any]:
        with self.lock:
            collector: Any = multiprocess.MultiProcessCollector(None, path=str(self.directory))  # type: ignore[no-untyped-call]
            return list(collector.collect())


class Exposition:
    """The master's metrics: made in its `on_starting` hook, before any worker forks."""

    def __init__(self, directory: Path, workers: Callable[[], Iterable[int]]) -> None:
        self.directory = prepare(directory)
        enable_multiprocess(directory)
        self.lock = threading.Lock()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(Retired(directory, self.lock))
        self.registry.register(Memory(workers))
        self.restarts = Counter("byom_worker_restarts", "Workers that exited while the server ran "
                                "(killed, timed out, crashed) and were replaced", registry=None)  # fmt: skip
        self.server: Any = None

    def serve(self, host: str, port: int) -> None:
        """Answer scrapes on host:port from a thread; a port in use is logged, not fatal."""
        try:
            self.server, _thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as error:
            log.warning("metrics: cannot listen on %s:%s (%s); serving without /metrics", host, port, error)

    def close_listener(self) -> None:
        """In a forked worker: its copy of the scrape server's socket, which it must not hold."""
        if self.server is not None:
            self.server.socket.close()

    def retire(self, pid: int, replaced: bool) -> None:
        with self.lock:
            multiprocess.mark_process_dead(pid, str(self.directory))  # type: ignore[no-untyped-call]
            for kind in MERGED_KINDS:
                dead = self.directory / f"{kind}_{pid}.db"
                if dead.exists():
                    merge_into(self.directory / f"{kind}_{RETIRED}.db", dead)
                    dead.unlink()
        if replaced:
            self.restarts.inc()

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
        shutil.rmtree(self.directory, ignore_errors=True)
