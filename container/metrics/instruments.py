"""What a worker records, through prometheus_client's multiprocess values (one memory-mapped file
per process and metric type, in the directory its master made: `exposition`).

Owns: the metrics' names, labels and buckets, the routes they are counted by, and `Measured`, the
WSGI middleware around the app that records each request. A value's update takes a lock private
to this process (prometheus_client's own, held for one float write), never one a scrape takes: the
master reads the files without locking. Children of labelled metrics are looked up once and kept,
so a request costs a dict lookup per metric, not prometheus_client's `labels()` and its lock.
Must not know how requests are served or read the environment: the app says how long the model
took (MODEL_SECONDS), how many bytes it read (BYTES_IN) and which model a route named (MODEL).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from container.access_log import BYTES_IN, MODEL, MODEL_SECONDS, declared_length

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
# Seconds: 100 us (a single row answered on the event loop) to the 60 s default timeout.
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                   0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)  # fmt: skip
LOAD_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
ROUTES = ("/ping", "/invocations", "/execution-parameters", "/models")
OTHER_ROUTE = "other"  # any other path, so a scan of random paths adds no series
NOT_FOUND = "404"  # a model named by a 404 may not exist: its name is not a label


def route_of(path: str) -> str:
    """The route a path is counted by: a contract path, `/models/{name}` or its `/invoke`, else other."""
    if path in ROUTES:
        return path
    if path.startswith("/models/"):
        name, _, action = path.removeprefix("/models/").partition("/")
        if name and action in ("", "invoke"):
            return "/models/{name}/invoke" if action else "/models/{name}"
    return OTHER_ROUTE


class Instruments:
    """A process's metrics; `registry=None` leaves them to the multiprocess files alone."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.requests = Counter("byom_requests", "Requests answered, by route, status class and model",
                                ["route", "status_class", "model"], registry=registry)  # fmt: skip
        self.model_latency = Histogram(
            "byom_model_latency_seconds", "Time in the model's request path: decode, predict, encode",
            ["model"], buckets=LATENCY_BUCKETS, registry=registry)  # fmt: skip
        self.overhead_latency = Histogram(
            "byom_overhead_latency_seconds", "The server's time around the model: total less model latency",
            ["model"], buckets=LATENCY_BUCKETS, registry=registry)  # fmt: skip
        self.request_bytes = Counter("byom_request_bytes", "Request body bytes read, by route",
                                     ["route"], registry=registry)  # fmt: skip
        self.response_bytes = Counter("byom_response_bytes", "Response body bytes, by route",
                                      ["route"], registry=registry)  # fmt: skip
        self.in_flight = Gauge("byom_requests_in_flight", "Requests being answered, in every worker",
                               registry=registry, multiprocess_mode="livesum")  # fmt: skip
        self.timeouts = Counter("byom_request_timeouts", "Requests that ran past the timeout (their worker "
                                "exits and is replaced)", registry=registry)  # fmt: skip
        self.models_loaded = Gauge("byom_models_loaded", "Multi-model: models a worker holds (the most of any)",
                                   registry=registry, multiprocess_mode="livemax")  # fmt: skip
        self.model_load = Histogram("byom_model_load_seconds", "Multi-model: one worker's load of a model",
                                    ["model"], buckets=LOAD_BUCKETS, registry=registry)  # fmt: skip
        self.children: dict[tuple[str, ...], Any] = {}

    def child(self, metric: Any, *labels: str) -> Any:
        key = (str(id(metric)), *labels)
        found = self.children.get(key)
        if found is None:
            found = self.children[key] = metric.labels(*labels)
        return found

    def record(self, environ: dict[str, Any], status: str, seconds: float, bytes_out: int) -> None:
        route = route_of(environ.get("PATH_INFO", ""))
        model = "" if status.startswith(NOT_FOUND) else environ.get(MODEL, "")
        self.child(self.requests, route, f"{status[:1]}xx", model).inc()
        bytes_in = environ[BYTES_IN] if BYTES_IN in environ else declared_length(environ)
        if bytes_in:
            self.child(self.request_bytes, route).inc(bytes_in)
        if bytes_out:
            self.child(self.response_bytes, route).inc(bytes_out)
        in_model = environ.get(MODEL_SECONDS)
        if in_model is not None:
            self.child(self.model_latency, model).observe(in_model)
            self.child(self.overhead_latency, model).observe(max(0.0, seconds - in_model))

    def timed_out(self) -> None:
        self.timeouts.inc()

    def loaded(self, name: str, seconds: float) -> None:
        """Multi-model: this worker loaded `name` in `seconds` (container.multimodel.models)."""
        self.child(self.model_load, name).observe(seconds)

    def held(self, count: int) -> None:
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

        in_flight = self.instruments.in_flight
        in_flight.inc()
        try:
            body = self.app(environ, recording_start_response)
            body = body if isinstance(body, list) else _drained(body)
        finally:
            in_flight.dec()
        self.instruments.record(environ, status[0], time.perf_counter() - started, sum(map(len, body)))
        return body


def _drained(iterable: Iterable[bytes]) -> list[bytes]:
    try:
        return list(iterable)
    finally:
        if hasattr(iterable, "close"):
            iterable.close()
