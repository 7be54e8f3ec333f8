"""One structured JSON line per request on stdout, as a WSGI middleware, which also tells an observer
(the metrics) of each request.

Owns: the access log's fields (method, path, status, latency in microseconds, bytes in and out,
the worker's pid, the SageMaker inference id and target model when the caller sent them, and the
model a multi-model route named). It wraps any WSGI app
and must not know what the app does. Lines are written whole, under a lock, and flushed: not
through `logging`, whose record machinery cost ~30 us a request, a quarter of a single-row one.
The observer hears of the same request, status and bytes, from this one wrapper: a second
middleware for the metrics cost a request 6,300 more instructions (bench/results/metrics.md).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol, TextIO

import orjson

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
INFERENCE_ID = "HTTP_X_AMZN_SAGEMAKER_INFERENCE_ID"
TARGET_MODEL = "HTTP_X_AMZN_SAGEMAKER_TARGET_MODEL"  # a multi-model endpoint's TargetModel, for logs only
MAX_DIGITS = 19  # of a 64-bit Content-Length
# Set by the app once it has read the body (chunked bodies have no length), or refused it unread.
BYTES_IN = "byom.bytes_in"
MODEL = "byom.model"  # set by the app on a route that names a model (multi-model mode)
MODEL_SECONDS = "byom.model_seconds"  # set by the app: the time in the model's request path (metrics)


def declared_length(environ: dict[str, Any]) -> int:
    """The Content-Length a request declared, 0 without one or past a 64-bit integer (which the
    log cannot hold; the server accepts any number of digits, and the app refuses such a body
    unread, saying so in BYTES_IN)."""
    text = environ.get("CONTENT_LENGTH") or "0"
    if not (text.isascii() and text.isdigit()) or len(text) > MAX_DIGITS or int(text) >= 2**63:
        return 0
    return int(text)


class RequestObserver(Protocol):
    """Who hears of each answered request (container.metrics.instruments.Instruments)."""

    def record(self, environ: dict[str, Any], status: str, seconds: float, bytes_out: int) -> None: ...


class AccessLog:
    def __init__(
        self, app: WSGIApp, stream: TextIO | None = None, observer: RequestObserver | None = None
    ) -> None:
        self.app = app
        self.stream = stream  # None: whatever sys.stdout is when a line is written
        self.observer = observer
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.perf_counter_ns()
        status = ["000"]

        def recording_start_response(status_line: str, headers: Any, *args: Any) -> Any:
            status[0] = status_line
            return start_response(status_line, headers, *args)

        body = _drained(self.app(environ, recording_start_response))
        bytes_out = sum(map(len, body))
        self._write(self._line(environ, int(status[0][:3]), started, bytes_out))
        if self.observer is not None:
            self.observer.record(environ, status[0], (time.perf_counter_ns() - started) / 1e9, bytes_out)
        return body

    def _write(self, line: str) -> None:
        stream = self.stream or sys.stdout
        with self.lock:
            stream.write(line + "\n")
            stream.flush()

    @staticmethod
    def _line(environ: dict[str, Any], status: int, started: int, bytes_out: int) -> str:
        record = {
            "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("PATH_INFO"),
            "status": status,
            "latency_us": (time.perf_counter_ns() - started) // 1000,
            "bytes_in": environ[BYTES_IN] if BYTES_IN in environ else declared_length(environ),
            "bytes_out": bytes_out,
            "pid": os.getpid(),
        }
        if environ.get(INFERENCE_ID):
            record["inference_id"] = environ[INFERENCE_ID]
        if MODEL in environ:
            record["model"] = environ[MODEL]
        if environ.get(TARGET_MODEL):
            record["target_model"] = environ[TARGET_MODEL]
        return orjson.dumps(record).decode()


def _drained(iterable: Iterable[bytes]) -> list[bytes]:
    try:
        return list(iterable)
    finally:
        if hasattr(iterable, "close"):
            iterable.close()
