"""What a worker records, in prometheus_client's multiprocess files (one memory-mapped file per
process and metric type, in the directory its master made: `exposition`), written here directly.

Owns: the metrics' names, labels and buckets, and the routes they are counted by; the access log
(container/access_log.py) tells `Instruments` of each request. Why not prometheus_client's metric
objects: in multiprocess mode each of their updates takes the process's lock, asks the kernel for
the pid and writes its file (0.8 us a counter, 1.7 us a histogram here), and a request makes nine:
21 us added to a 17.6 us single-row request in process (`python bench/metrics_cost.py`). Here a
request takes one lock, private to this process, for all its writes to the same files in the same
format (prometheus_client's `MmapedDict`), which prometheus_client's collector reads; the scrape,
in the master, never takes that lock. Requests in flight are not counted in and out by each
request: the worker samples how many it is answering (container/server/deadlines.py). Must not know how requests are served or read the
environment: the app says how long the model took (MODEL_SECONDS), how many bytes it read
(BYTES_IN) and which model a route named (MODEL).
"""

from __future__ import annotations

import os
import threading
from bisect import bisect_left
from pathlib import Path
from typing import Any

from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.utils import floatToGoString

from container.access_log import BYTES_IN, MODEL, MODEL_SECONDS, declared_length

# Seconds: 100 us (a single row answered on the event loop) to the 60 s default timeout.
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                   0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)  # fmt: skip
LOAD_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
ROUTES = frozenset({"/ping", "/invocations", "/execution-parameters", "/models"})
OTHER_ROUTE = "other"  # any other path, so a scan of random paths adds no series
NOT_FOUND = "404"  # a model named by a 404 may not exist: its name is not a label
HELP = {
    "byom_requests": "Requests answered, by route, status class and model",
    "byom_model_latency_seconds": "Time in the model's request path: decode, predict, encode",
    "byom_overhead_latency_seconds": "The server's time around the model: total less model latency",
    "byom_request_bytes": "Request body bytes read, by route",
    "byom_response_bytes": "Response body bytes, by route",
    "byom_requests_in_flight": "Requests being answered, in every worker (each samples its own at its deadline sweep)",
    "byom_request_timeouts": "Requests that ran past the timeout (their worker exits and is replaced)",
    "byom_models_loaded": "Models loaded (the most any worker holds)",
    "byom_model_load_seconds": "Multi-model: one worker's load of a model",
}


def route_of(path: str) -> str:
    """The route a path is counted by: a contract path, `/models/{name}` or its `/invoke`, else other."""
    if path in ROUTES:
        return path
    if path.startswith("/models/"):
        name, _, action = path.removeprefix("/models/").partition("/")
        if name and action in ("", "invoke"):
            return "/models/{name}/invoke" if action else "/models/{name}"
    return OTHER_ROUTE


class Value:
    """One sample's value in this process's file of its type; written under the caller's lock.

    `cell` is the value's 8 bytes in the file's mapping, seen as one double: `cell[0] += amount`
    reads and writes them in place, one 8-byte store, without a Python call (a slice assignment
    of packed bytes through the mapping cost 2.4x as many instructions: bench/results/metrics.md).
    The view holds the mapping in which `MmapedDict` allocated the sample. When the file grows,
    `MmapedDict` maps it afresh and never unmaps the old mapping, which this view keeps alive: both
    map the same file, so the write still lands in the bytes that prometheus_client's collector
    reads (tests/test_metrics.py grows a file under a held value)."""

    __slots__ = ("cell",)

    def __init__(self, file: Any, key: str) -> None:
        file.read_value(key)  # allocates the sample when new
        position = file._positions[key]
        self.cell = memoryview(file._m)[position : position + 8].cast("d")

    def add(self, amount: float) -> None:
        self.cell[0] += amount

    def set(self, value: float) -> None:
        self.cell[0] = value


class Histogram:
    __slots__ = ("bounds", "buckets", "sum")

    def __init__(self, files: Files, name: str, labels: dict[str, str], buckets: tuple[float, ...]) -> None:
        self.bounds = buckets
        self.sum = files.value("histogram", name, f"{name}_sum", labels)
        self.buckets = [
            files.value("histogram", name, f"{name}_bucket", {**labels, "le": floatToGoString(bound)})  # type: ignore[no-untyped-call]
            for bound in (*buckets, float("inf"))
        ]

    def observe(self, seconds: float) -> None:
        self.sum.cell[0] += seconds
        self.buckets[bisect_left(self.bounds, seconds)].cell[0] += 1.0


class Files:
    """This process's files in `directory`, by type, in prometheus_client's names and format."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.pid = os.getpid()
        self.opened: dict[str, Any] = {}

    def value(self, kind: str, metric: str, sample: str, labels: dict[str, str]) -> Value:
        if kind not in self.opened:
            mmap_dict: Any = MmapedDict  # untyped
            self.opened[kind] = mmap_dict(str(self.directory / f"{kind}_{self.pid}.db"))
        key = mmap_key(metric, sample, list(labels), list(labels.values()), HELP[metric])
        return Value(self.opened[kind], key)


class Series:
    """What one (route, status, model) of requests updates."""

    def __init__(self, files: Files, route: str, status_class: str, model: str, timed: bool) -> None:
        self.requests = files.value("counter", "byom_requests", "byom_requests_total",
                                    {"route": route, "status_class": status_class, "model": model})  # fmt: skip
        self.bytes_in = files.value(
            "counter", "byom_request_bytes", "byom_request_bytes_total", {"route": route}
        )
        self.bytes_out = files.value(
            "counter", "byom_response_bytes", "byom_response_bytes_total", {"route": route}
        )
        self.latencies: tuple[Histogram, Histogram] | None = None  # in the model, and around it
        if timed:
            labels = {"model": model}
            self.latencies = (
                Histogram(files, "byom_model_latency_seconds", labels, LATENCY_BUCKETS),
                Histogram(files, "byom_overhead_latency_seconds", labels, LATENCY_BUCKETS),
            )


class Instruments:
    """A worker's metrics, written to its files in `directory` (the master's, after fork)."""

    def __init__(self, directory: Path) -> None:
        self.files = Files(directory)
        self.lock = threading.Lock()  # this process's alone: the scrape reads the files unlocked
        self.series: dict[tuple[str, str, str, bool], Series] = {}
        self.in_flight = self.files.value(
            "gauge_livesum", "byom_requests_in_flight", "byom_requests_in_flight", {}
        )
        self.timeouts = self.files.value(
            "counter", "byom_request_timeouts", "byom_request_timeouts_total", {}
        )
        self.models_loaded = self.files.value("gauge_livemax", "byom_models_loaded", "byom_models_loaded", {})
        self.loads: dict[str, Histogram] = {}

    def sample_in_flight(self, count: int) -> None:
        """How many requests this worker is answering now; its heartbeat's thread alone writes it."""
        self.in_flight.cell[0] = count

    def record(self, environ: dict[str, Any], status: str, seconds: float, bytes_out: int) -> None:
        """One answered request: counted, its bytes and its latencies."""
        path = environ.get("PATH_INFO", "")
        route = path if path in ROUTES else route_of(path)
        model = "" if status.startswith(NOT_FOUND) else environ.get(MODEL, "")
        key = (route, status[:1], model, MODEL_SECONDS in environ)
        bytes_in = environ[BYTES_IN] if BYTES_IN in environ else declared_length(environ)
        with self.lock:
            series = self.series.get(key) or self._series(key)
            series.requests.cell[0] += 1.0
            if bytes_in:
                series.bytes_in.cell[0] += bytes_in
            if bytes_out:
                series.bytes_out.cell[0] += bytes_out
            if series.latencies is not None:  # the app said how long the model took
                in_model: float = environ[MODEL_SECONDS]
                series.latencies[0].observe(in_model)
                series.latencies[1].observe(seconds - in_model if seconds > in_model else 0.0)

    def _series(self, key: tuple[str, str, str, bool]) -> Series:
        route, status, model, timed = key
        series = self.series[key] = Series(self.files, route, f"{status}xx", model, timed)
        return series

    def timed_out(self) -> None:
        with self.lock:
            self.timeouts.add(1.0)

    def loaded(self, name: str, seconds: float) -> None:
        """Multi-model: this worker loaded `name` in `seconds` (container.multimodel.models)."""
        with self.lock:
            if name not in self.loads:
                self.loads[name] = Histogram(
                    self.files, "byom_model_load_seconds", {"model": name}, LOAD_BUCKETS
                )
            self.loads[name].observe(seconds)

    def held(self, count: int) -> None:
        with self.lock:
            self.models_loaded.set(count)
