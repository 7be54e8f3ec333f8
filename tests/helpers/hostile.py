"""Hostile HTTP clients, and a /ping prober to watch a server while they hold their connections.

Each pattern opens a few connections to 127.0.0.1, sends a request start that a careless server
would wait on (a huge chunk, a Content-Length and no body, a pipelined half request, a stalled
upload, a client that never closes), and then holds them open without reading or sending. The
prober meanwhile sends `GET /ping` on a fresh connection every PROBE_INTERVAL and records how long
each took to answer (or that it did not within PROBE_TIMEOUT). Used by tests/test_hostile_http.py
and by `bench/hostile.py`, which prints the /ping latency under each pattern.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

PROBE_INTERVAL = 0.05
PROBE_TIMEOUT = 5.0
PART_GAP = 0.2
HOLD_SECONDS = 3.0  # past gunicorn's 2 s linger on close; its 5 s drain waits would show as a probe over 1 s
CSV_HEAD = b"POST /invocations HTTP/1.1\r\nHost: probe\r\nContent-Type: text/csv\r\n"
PING_HEAD = b"GET /ping HTTP/1.1\r\nHost: probe\r\n"


@dataclass(frozen=True)
class Pattern:
    """`connections` connections that each send `start` (and then nothing); `then`, when given,
    is sent PART_GAP seconds later, so the server reads the two apart."""

    name: str
    start: bytes
    connections: int
    then: bytes = b""


PATTERNS = [
    Pattern("huge-chunk", CSV_HEAD + b"Transfer-Encoding: chunked\r\n\r\n7FFFFFFF\r\n5.1,", 4),
    Pattern("ping-content-length-no-body", PING_HEAD + b"Content-Length: 6291457\r\n\r\n", 4),
    Pattern("ping-huge-chunk", PING_HEAD + b"Transfer-Encoding: chunked\r\n\r\n7FFFFFFF\r\n", 4),
    Pattern(
        "unsupported-type-7-mib",
        b"POST /invocations HTTP/1.1\r\nHost: probe\r\nContent-Type: image/png\r\n"
        b"Content-Length: 7340032\r\n\r\n",
        4,
    ),
    Pattern("pipelined-half-request", PING_HEAD + b"\r\nGET /pi", 24),
    Pattern("stalled-large-upload", CSV_HEAD + b"Content-Length: 1048576\r\n\r\n" + b"5.1," * 16_500, 40, b"5.1," * 250),
    Pattern("close-never-closed", PING_HEAD + b"Connection: close\r\n\r\n", 4),
    Pattern("bare-lf", b"GET /ping HTTP/1.1\nHost: probe\n\n", 4),
    Pattern("unknown-transfer-coding", PING_HEAD + b"Transfer-Encoding: xchunked\r\nContent-Length: 3\r\n\r\nabc", 4),
    Pattern("expect-continue-http-1-0", b"POST /invocations HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 15\r\n\r\n", 4),
]  # fmt: skip
BY_NAME = {pattern.name: pattern for pattern in PATTERNS}


@contextmanager
def holding(port: int, pattern: Pattern) -> Iterator[list[socket.socket]]:
    """The pattern's connections, open (and neither read nor written after their start) until
    the block ends."""
    with ExitStack() as stack:
        sockets = []
        for _ in range(pattern.connections):
            sock = stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=10))
            sock.sendall(pattern.start)
            sockets.append(sock)
        if pattern.then:
            time.sleep(PART_GAP)
            for sock in sockets:
                sock.sendall(pattern.then)
        yield sockets


@dataclass
class Probes:
    """/ping latencies in seconds, from fresh connections; None for one that got no 200."""

    latencies: list[float | None] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(latency is None for latency in self.latencies)

    @property
    def slowest(self) -> float:
        return max((latency if latency is not None else PROBE_TIMEOUT) for latency in self.latencies)

    def percentile(self, share: float) -> float:
        return percentile(
            [latency if latency is not None else PROBE_TIMEOUT for latency in self.latencies], share
        )


def percentile(values: list[float], share: float) -> float:
    """The value below which `share` of `values` lie (the nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def ping_once(port: int) -> float | None:
    started = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=PROBE_TIMEOUT) as sock:
            sock.sendall(PING_HEAD + b"Connection: close\r\n\r\n")
            reply = b""
            while chunk := sock.recv(4096):
                reply += chunk
    except OSError:
        return None
    return time.monotonic() - started if reply.startswith(b"HTTP/1.1 200 ") else None


@contextmanager
def probing(port: int) -> Iterator[Probes]:
    """Probe /ping from fresh connections until the block ends."""
    probes = Probes()
    stopped = threading.Event()

    def probe() -> None:
        while not stopped.is_set():
            probes.latencies.append(ping_once(port))
            stopped.wait(PROBE_INTERVAL)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    try:
        yield probes
    finally:
        stopped.set()
        thread.join(PROBE_TIMEOUT + 1)


def exchange(port: int, request: bytes, timeout: float = 10, split_at: int = 0) -> tuple[bytes, float]:
    """Send `request` on a fresh connection (its first `split_at` bytes, then the rest PART_GAP
    seconds later, as a network delivers a large request in pieces); its answer (read until the
    server closes or the first answer is whole) and the seconds it took."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        if split_at:
            sock.sendall(request[:split_at])
            time.sleep(PART_GAP)
        sock.sendall(request[split_at:])
        received = b""
        while not answer_complete(received):
            try:
                chunk = sock.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            received += chunk
    return received, time.monotonic() - started


def answer_complete(received: bytes) -> bool:
    head, found, body = received.partition(b"\r\n\r\n")
    if not found:
        return False
    if head.startswith(b"HTTP/1.1 100 "):
        return answer_complete(body)
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


UPLOAD_SPLIT = 66_000  # past the 64 KiB the server reads of any request at once


def upload(size: int) -> bytes:
    """A CSV /invocations request of about `size` bytes of iris rows, framed by Content-Length."""
    row = b"5.1,3.5,1.4,0.2\n"
    body = row * (size // len(row))
    return CSV_HEAD + b"Content-Length: %d\r\n\r\n" % len(body) + body
