"""What a worker records, in prometheus_client's multiprocess files (one memory-mapped file per
process and metric type, in the directory its master made: `exposition`), written here directly.

Owns: the metrics' names, labels and buckets, the routes they are counted by, and `Measured`, the
WSGI middleware around the app that records each request. Why not prometheus_client's metric
objects: in multiprocess mode each of their updates takes the process's lock, asks the kernel for
the pid and writes its file (0.8 us a counter, 1.7 us a histogram here), and a request makes nine:
21 us added to a 17.6 us single-row request in process (`python bench/metrics_cost.py`). Here a
request takes one lock, private to this process, for all its writes to the same files in the same
format (prometheus_client's `MmapedDict`), which prometheus_client's collector reads; the scrape,
in the master, never takes that lock. Must not know how requests are served or read the
environment: the app says how long the model took (MODEL_SECONDS), how many bytes it read
(BYTES_IN) and which model a route named (MODEL).
"""

from __future__ import annotations

import bisect
import os
import struct
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.utils import floatToGoString

from container.access_log import BYTES_IN, MODEL, MODEL_SECONDS, declared_length

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
# Seconds: 100 us (a single row answered on the event loop) to the 60 s default timeout.
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                   0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)  # fmt: skip
LOAD_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
ROUTES = frozenset({"/ping", "/invocations", "/execution-parameters", "/models"})
OTHER_ROUTE = "other"  # any other path, so a scan of random paths adds no series
_DOUBLE = struct.Struct("d").pack  # a sample's value, as MmapedDict writes it
NOT_FOUND = "404"  # a model named by a 404 may not exist: its name is not a label
HELP = {
    "byom_requests": "Requests answered, by route, status class and model",
    "byom_model_latency_seconds": "Time in the model's request path: decode, predict, encode",
    "byom_overhead_latency_seconds": "The server's time around the model: total less model latency",
    "byom_request_bytes": "Request body bytes read, by route",
    "byom_response_bytes": "Response body bytes, by route",
    "byom_requests_in_flight": "Requests being answered, in every worker",
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

    The value's 8 bytes are written in place at the sample's position (allocated once by
    `MmapedDict`, which never moves it): one slice assignment, as `MmapedDict.write_value` does
    (never `pack_into`, which writes zeros first), without its three Python calls per write. The
    mapping itself is looked up at each write: `MmapedDict` maps the file afresh when it grows."""

    __slots__ = ("file", "position", "value")

    def __init__(self, file: Any, key: str) -> None:
        self.file = file
        self.value = file.read_value(key)[0]  # allocates the sample when new
        self.position = file._positions[key]

    def add(self, amount: float) -> None:
        self.value += amount
        self.file._m[self.position : self.position + 8] = _DOUBLE(self.value)

    def set(self, value: float) -> None:
        self.value = value
        self.file._m[self.position : self.position + 8] = _DOUBLE(value)


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
        self.sum.add(seconds)
        self.buckets[bisect.bisect_left(self.bounds, seconds)].add(1.0)


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
        self.model = self.overhead = None
        if timed:
            labels = {"model": model}
            self.model = Histogram(files, "byom_model_latency_seconds", labels, LATENCY_BUCKETS)
            self.overhead = Histogram(files, "byom_overhead_latency_seconds", labels, LATENCY_BUCKETS)


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

    def started(self) -> None:
        with self.lock:
            self.in_flight.add(1.0)

    def record(self, environ: dict[str, Any], status: str, seconds: float, bytes_out: int) -> None:
        """One answered request: counted, its bytes, its latencies, and no longer in flight."""
        path = environ.get("PATH_INFO", "")
        route = path if path in ROUTES else route_of(path)
        model = "" if status.startswith(NOT_FOUND) else environ.get(MODEL, "")
        in_model = environ.get(MODEL_SECONDS)
        key = (route, status[:1], model, in_model is not None)
        bytes_in = environ[BYTES_IN] if BYTES_IN in environ else declared_length(environ)
        with self.lock:
            series = self.series.get(key) or self._series(key)
            self.in_flight.add(-1.0)
            series.requests.add(1.0)
            if bytes_in:
                series.bytes_in.add(bytes_in)
            if bytes_out:
                series.bytes_out.add(bytes_out)
            if in_model is not None and series.model is not None and series.overhead is not None:
                series.model.observe(in_model)
                series.overhead.observe(max(0.0, seconds - in_model))

    def _series(self, key: tuple[str, str, str, bool]) -> Series:
        route, status, model, timed = key
        series = self.series[key] = Series(self.files, route, f"{status}xx", model, timed)
        return series

    def abandoned(self) -> None:
        """A request whose app raised: no longer in flight (gunicorn answers it 500)."""
        with self.lock:
            self.in_flight.add(-1.0)

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


class Measured:
    """The app, each request recorded once answered: its status, time, bytes, and while it runs."""

    def __init__(self, app: WSGIApp, instruments: Instruments) -> None:
        self.app = app
        self.instruments = instruments

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.perf_counter()
        status = ["000"]

        def recording_start_response(status_line: str, headers: Any, *args: Any) -> Any:
            status[0] = status_line
            return start_response(status_line, headers, *args)

        self.instruments.started()
        try:
            body = self.app(environ, recording_start_response)
            body = body if isinstance(body, list) else _drained(body)
        except BaseException:
            self.instruments.abandoned()
            raise
        self.instruments.record(environ, status[0], time.perf_counter() - started, sum(map(len, body)))
        return body


def _drained(iterable: Iterable[bytes]) -> list[bytes]:
    try:
        return list(iterable)
    finally:
        if hasattr(iterable, "close"):
            iterable.close()
