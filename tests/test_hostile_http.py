"""Hostile HTTP clients cannot stop a worker: raw-socket cases against real gunicorn and the image.

Each pattern of tests/helpers/hostile.py holds its connections open while /ping is probed from fresh
connections: every probe must be answered within PING_BOUND_SECONDS, no worker may be replaced and
the log must hold no traceback. The server has one worker, so every hostile connection lands on
the worker that answers the probes: if its event loop ever waited on a client, /ping would wait
too (container.server.worker's invariant). An 80 KB upload, sent in two parts as a network delivers it,
must be answered meanwhile. `bench/hostile.py` prints the same figures.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator

import pytest

from container.server.deadlines import STALL_SECONDS
from tests.helpers import hostile
from tests.helpers.harness import DEMO_MODEL, container, serving

pytestmark = pytest.mark.server
PING_BOUND_SECONDS = 1.0
# What a hostile connection itself may have been answered while it held on (b"": nothing yet,
# it is read on).
OWN_ANSWER = {
    "huge-chunk": (b"",),
    "ping-content-length-no-body": (b"HTTP/1.1 413 ",),
    "ping-huge-chunk": (b"",),
    "unsupported-type-7-mib": (b"HTTP/1.1 413 ",),
    "pipelined-half-request": (b"HTTP/1.1 200 ",),
    "stalled-large-upload": (b"", b"HTTP/1.1 408 "),  # 408 once it stalls while another waits
    "close-never-closed": (b"HTTP/1.1 200 ",),
    "bare-lf": (b"HTTP/1.1 400 ",),
    "unknown-transfer-coding": (b"HTTP/1.1 501 ",),
    "expect-continue-http-1-0": (b"",),  # no 100 Continue: the client sent no body
}


class Target:
    def __init__(self, port: int, log: Callable[[], str]) -> None:
        self.port, self.log = port, log


@pytest.fixture(scope="module", params=["server", "container"])
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    env = {"SAGEMAKER_MODEL_SERVER_WORKERS": "1"}
    if request.param == "server":
        with serving(DEMO_MODEL, tmp_path_factory.mktemp("hostile"), env) as server:
            yield Target(server.port, server.log)
    else:
        with container(request.getfixturevalue("image"), DEMO_MODEL, env) as running:
            yield Target(running.port, running.logs)


@pytest.mark.parametrize("pattern", hostile.PATTERNS, ids=lambda pattern: pattern.name)
def test_ping_answers_within_a_second_while_hostile_clients_hold_on(
    target: Target, pattern: hostile.Pattern
) -> None:
    booted = target.log().count("Booting worker")
    with hostile.holding(target.port, pattern) as held, hostile.probing(target.port) as probes:
        time.sleep(hostile.HOLD_SECONDS / 2)
        upload, upload_seconds = hostile.exchange(
            target.port, hostile.upload(80_000), hostile.PROBE_TIMEOUT, hostile.UPLOAD_SPLIT
        )
        time.sleep(hostile.HOLD_SECONDS / 2)
        answers = [own_answer(sock) for sock in held]
    print(
        f"{pattern.name}: {len(probes.latencies)} pings, slowest {probes.slowest * 1000:.1f} ms, "
        f"p99 {probes.percentile(0.99) * 1000:.1f} ms; 80 KB upload {upload_seconds:.2f} s"
    )
    assert probes.failed == 0 and probes.slowest < PING_BOUND_SECONDS, probes.latencies
    assert upload.startswith(b"HTTP/1.1 200 "), upload[:200]
    assert all(is_expected(answer, OWN_ANSWER[pattern.name]) for answer in answers), answers[:3]
    log = target.log()
    assert log.count("Booting worker") == booted, "a worker was replaced"
    assert "Traceback" not in log


def is_expected(answer: bytes, accepted: tuple[bytes, ...]) -> bool:
    return any(answer.startswith(start) if start else answer == b"" for start in accepted)


def own_answer(sock: socket.socket) -> bytes:
    """What the server has sent a hostile connection so far, without waiting for more."""
    sock.setblocking(False)
    try:
        return sock.recv(65536)
    except BlockingIOError:
        return b""
    except OSError:
        return b"(reset)"


def test_a_large_upload_gets_a_place_held_by_clients_that_stopped_sending(target: Target) -> None:
    """Stalled uploads that hold every place for a large body lose them (408) once they send
    nothing for STALL_SECONDS while another waits; a client that keeps sending goes first."""
    with hostile.holding(target.port, hostile.BY_NAME["stalled-large-upload"]) as stalled:
        time.sleep(0.5)
        upload, seconds = hostile.exchange(target.port, hostile.upload(80_000), 30, hostile.UPLOAD_SPLIT)
        time.sleep(0.5)
        refused = [own_answer(sock) for sock in stalled]
    print(
        f"80 KB upload behind 40 stalled ones: {seconds:.2f} s; {sum(map(bool, refused))} stalled ones refused"
    )
    assert upload.startswith(b"HTTP/1.1 200 ")
    assert seconds < 2 * STALL_SECONDS + 1  # one stall period, not one per stalled client
    assert any(answer.startswith(b"HTTP/1.1 408 ") for answer in refused)
    assert b'"error": "request_timeout"' in next(
        answer for answer in refused if answer.startswith(b"HTTP/1.1 408")
    )


@pytest.mark.parametrize(
    "length",
    [str(2**63 - 1), str(2**63), str(2**64), "9" * 100, "9" * 4300],
    ids=["2^63-1", "2^63", "2^64", "100-digits", "4300-digits"],
)
@pytest.mark.parametrize("path", ["/ping", "/invocations"])
def test_any_content_length_is_a_413_logged_without_a_traceback(
    target: Target, length: str, path: str
) -> None:
    request = f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: text/csv\r\nContent-Length: {length}\r\n\r\n"
    answer, _ = hostile.exchange(target.port, request.encode())
    assert answer.startswith(b"HTTP/1.1 413 ") and b'"error": "payload_too_large"' in answer, answer[:300]
    log = target.log()
    assert "Traceback" not in log
    logged = [
        json.loads(line) for line in log.splitlines() if line.startswith("{") and '"status":413' in line
    ]
    assert logged and logged[-1]["bytes_in"] == 0


def test_a_content_length_gunicorn_cannot_read_is_its_400(target: Target) -> None:
    request = b"POST /invocations HTTP/1.1\r\nHost: t\r\nContent-Length: " + b"9" * 4301 + b"\r\n\r\n"
    answer, _ = hostile.exchange(target.port, request)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert "Traceback" not in target.log()


@pytest.mark.parametrize(("version", "continues"), [("1.1", 1), ("1.0", 0)])
def test_100_continue_is_sent_once_and_only_to_http_1_1_clients(
    target: Target, version: str, continues: int
) -> None:
    head = (
        f"POST /invocations HTTP/{version}\r\nHost: t\r\nContent-Type: text/csv\r\nExpect: 100-continue\r\n"
    )
    with socket.create_connection(("127.0.0.1", target.port), timeout=10) as sock:
        sock.sendall(head.encode() + b"Content-Length: 15\r\n\r\n")
        interim = receive_for(sock, 0.5)
        sock.sendall(b"5.1,3.5,1.4,0.2")
        answer = receive_for(sock, 2.0)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n" * continues
    assert answer.split(b" ", 1)[1].startswith(b"200 ") and b"100 Continue" not in answer, answer
    assert answer.endswith(b"setosa\n")


def receive_for(sock: socket.socket, seconds: float) -> bytes:
    """Everything the server sends within `seconds` (or until it closes)."""
    received = b""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        if not chunk:
            break
        received += chunk
    return received


def test_pipelined_requests_are_answered_in_order_and_a_half_one_waits_on_its_own(target: Target) -> None:
    ping = b"GET /ping HTTP/1.1\r\nHost: t\r\n\r\n"
    invocation = hostile.CSV_HEAD + b"Content-Length: 15\r\n\r\n5.1,3.5,1.4,0.2"
    with socket.create_connection(("127.0.0.1", target.port), timeout=10) as sock:
        sock.sendall(ping + invocation + ping + b"GET /pi")
        first = receive_for(sock, 1.0)
        sock.sendall(b"ng HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        rest = receive_for(sock, 2.0)
    assert first.count(b"HTTP/1.1 200 ") == 3 and first.index(b"setosa") < first.rindex(b"HTTP/1.1 200 ")
    assert rest.startswith(b"HTTP/1.1 200 ") and b"Connection: close" in rest
