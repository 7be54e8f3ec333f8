"""The benchmark's own HTTP client, for what wrk and hey cannot do.

Owns: readiness polling against a deadline, single timed requests, sequential timed requests on
one keep-alive connection, and long requests sent on their own threads. Every request has a
timeout; every connection is to 127.0.0.1.
"""

from __future__ import annotations

import http.client
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

HOST = "127.0.0.1"


class NotReady(RuntimeError):
    pass


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    seconds: float


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    content_type: str | None = None,
    timeout: float = 30.0,
    headers: dict[str, str] | None = None,
) -> Response:
    """One request on a fresh connection, timed from connect to the last byte of the response."""
    headers = dict(headers or {})
    if content_type:
        headers["Content-Type"] = content_type
    started = time.perf_counter()
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
    finally:
        connection.close()
    return Response(response.status, data, time.perf_counter() - started)


def ping(port: int, timeout: float = 30.0) -> Response:
    return request(port, "GET", "/ping", timeout=timeout)


def wait_until_ready(port: int, deadline_seconds: float, processes: list[subprocess.Popen[bytes]]) -> float:
    """Poll GET /ping until it answers 200; return the monotonic time it did.

    Raises NotReady when the deadline passes or a process of the server exits first.
    """
    give_up = time.monotonic() + deadline_seconds
    while time.monotonic() < give_up:
        for process in processes:
            if process.poll() is not None:
                raise NotReady(
                    f"process {process.pid} exited with {process.returncode} before /ping answered"
                )
        try:
            # One connection at a time, waiting as long as the deadline allows: a connection the
            # master has accepted into its backlog is answered the moment a worker is ready.
            if ping(port, timeout=max(0.1, give_up - time.monotonic())).status == 200:
                return time.monotonic()
        except OSError:
            pass
        time.sleep(0.005)
    raise NotReady(f"/ping did not answer 200 within {deadline_seconds:.0f} s")


def timed_sequence(
    port: int,
    path: str,
    body: bytes,
    content_type: str,
    count: int,
    timeout: float = 120.0,
    after_each: Callable[[], object] | None = None,
) -> tuple[list[float], list[Response]]:
    """Send `body` `count` times, one after the other, on one keep-alive connection; `after_each`
    is called after each answer, outside its timing (another measurement, interleaved)."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    seconds: list[float] = []
    responses: list[Response] = []
    try:
        for _ in range(count):
            started = time.perf_counter()
            connection.request("POST", path, body=body, headers={"Content-Type": content_type})
            response = connection.getresponse()
            data = response.read()
            elapsed = time.perf_counter() - started
            seconds.append(elapsed)
            responses.append(Response(response.status, data, elapsed))
            if after_each is not None:
                after_each()
    finally:
        connection.close()
    return seconds, responses


class LongRequest:
    """A POST sent on its own thread, remembering when it started and ended (monotonic).

    `inference_id` goes in X-Amzn-SageMaker-Inference-Id, which our access log records.
    """

    def __init__(self, port: int, body: bytes, content_type: str, timeout: float, inference_id: str) -> None:
        self.started = time.monotonic()
        self.ended = 0.0
        self.status: int | str = "pending"
        headers = {"X-Amzn-SageMaker-Inference-Id": inference_id}
        self._thread = threading.Thread(
            target=self._send, args=(port, body, content_type, timeout, headers), daemon=True
        )
        self._thread.start()

    def _send(
        self, port: int, body: bytes, content_type: str, timeout: float, headers: dict[str, str]
    ) -> None:
        try:
            self.status = request(port, "POST", "/invocations", body, content_type, timeout, headers).status
        except OSError as error:
            self.status = type(error).__name__
        self.ended = time.monotonic()

    @property
    def done(self) -> bool:
        return self.ended != 0.0

    @property
    def seconds(self) -> float:
        return self.ended - self.started

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)
