"""The worker answers plain requests on its event loop without gunicorn's request and response
objects (`container.server.plain_http`): against a real gunicorn with the worker class, on 127.0.0.1."""

from __future__ import annotations

import contextlib
import json
import re
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from gunicorn.config import Config

from container.server.gunicorn_internals import does_more_than_http
from container.server.serve import WORKER_CLASS
from tests.helpers.harness import REPO, ServeProcess, free_port, wait_until_ready
from tests.helpers.plain_apps import LARGE


@pytest.fixture(scope="module")
def unix_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("unix") / "gunicorn.sock"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, unix_path: Path) -> Iterator[ServeProcess]:
    with serving_plain_apps(tmp_path_factory.mktemp("plain"), "--bind", f"unix:{unix_path}") as served:
        yield served


@contextlib.contextmanager
def serving_plain_apps(log_dir: Path, *options: str) -> Iterator[ServeProcess]:
    """tests/helpers/plain_apps.py on gunicorn with the worker class: one worker, two threads."""
    port = free_port()
    log_path = log_dir / "gunicorn.log"
    argv = [
        sys.executable, "-m", "container.server.gunicorn_main",
        "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "2", *options,
        "--worker-class", WORKER_CLASS, "--keep-alive", "5", "--error-logfile", "-", "--no-control-socket",
        "--pythonpath", str(REPO), "tests.helpers.plain_apps:application",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(argv, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    served = ServeProcess(process, port, log_path)
    try:
        wait_until_ready(served.url, served.alive, served.log)
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            exchange(sock, POST)  # a pool thread answers the first small request: quick, the next are inline
        yield served
    finally:
        served.stop()


def exchange(sock: socket.socket, request: bytes) -> tuple[bytes, bytes]:
    """Send one request, read its Content-Length framed answer: (head, body)."""
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        data += receive(sock)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"\r\nContent-Length: (\d+)", head)[1])  # type: ignore[index]
    while len(body) < length:
        body += receive(sock)
    return head, body


def receive(sock: socket.socket) -> bytes:
    chunk = sock.recv(1 << 20)
    assert chunk, "the server closed the connection"
    return chunk


def closed(sock: socket.socket) -> bool:
    sock.settimeout(10)
    return sock.recv(1) == b""


POST = b"POST /echo?q=1 HTTP/1.1\r\nHost: t\r\nContent-Type: text/csv\r\nContent-Length: 3\r\n\r\n1,2"


def test_small_requests_are_answered_by_the_plain_path(server: ServeProcess) -> None:
    """gunicorn frames each chunk of an answer of unknown length on its own; the plain path has
    the whole answer at once and frames it as one chunk."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(b"GET /chunks HTTP/1.1\r\nHost: t\r\n\r\n")
        answer = b""
        while not answer.endswith(b"\r\n0\r\n\r\n"):
            answer += receive(sock)
    assert answer.endswith(b"\r\n\r\n4\r\nabcd\r\n0\r\n\r\n")


def described(answer: tuple[bytes, bytes]) -> tuple[bytes, dict[str, object]]:
    """An answer's head without its Date and Content-Length, and the request the app saw, without
    what a twin changes on purpose."""
    head, body = answer
    seen = json.loads(body)
    for key in ("CONTENT_LENGTH", "HTTP_CONNECTION", "HTTP_TRANSFER_ENCODING"):
        seen.pop(key, None)
    return re.sub(rb"\r\n(Date|Content-Length): [^\r]*", b"", head), seen


@pytest.mark.parametrize(
    "twin",
    [
        POST.replace(b"Host: t", b"Host: t\r\nX_Dropped: 1"),  # gunicorn drops the header
        POST.replace(b"Host: t", b"Host: t\r\nConnection: keep-alive, x"),
        POST.replace(
            b"Content-Length: 3\r\n\r\n1,2", b"Transfer-Encoding: chunked\r\n\r\n3\r\n1,2\r\n0\r\n\r\n"
        ),
    ],
    ids=["underscore", "connection-list", "chunked"],
)
def test_a_plain_request_is_answered_as_gunicorn_answers_its_twin(server: ServeProcess, twin: bytes) -> None:
    """The twin is not plain: gunicorn's parser and Response answer it, on the same connection."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        plain, other, again = (described(exchange(sock, request)) for request in (POST, twin, POST))
    assert plain == other == again
    assert plain[0].startswith(b"HTTP/1.1 200 OK\r\n") and b"\r\nConnection: keep-alive\r\n" in plain[0]
    assert plain[1]["QUERY_STRING"] == "q=1" and plain[1]["body"] == "1,2"


def test_requests_on_a_unix_socket_take_gunicorns_path(server: ServeProcess, unix_path: Path) -> None:
    """A Unix socket's peer has no address tuple: gunicorn's environ for it is its own."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(30)
        sock.connect(str(unix_path))
        answers = [exchange(sock, POST) for _ in range(3)]
    for head, body in answers:
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        seen = json.loads(body)
        assert seen["SERVER_NAME"] == "t" and "REMOTE_PORT" not in seen and seen["body"] == "1,2"


def test_connection_close_is_honoured(server: ServeProcess) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        head, _ = exchange(sock, POST.replace(b"Host: t", b"Host: t\r\nConnection: close"))
        assert b"\r\nConnection: close\r\n" in head
        assert closed(sock)


def test_an_app_that_raises_answers_500_and_the_server_goes_on(server: ServeProcess) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(b"GET /boom HTTP/1.1\r\nHost: t\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert "Error handling request GET /boom" in server.log()
    assert "RuntimeError: the app failed" in server.log()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        assert exchange(sock, POST)[0].startswith(b"HTTP/1.1 200 OK\r\n")


def test_an_answer_larger_than_the_send_buffer_arrives_whole(server: ServeProcess) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        assert exchange(sock, POST)[0].startswith(b"HTTP/1.1 200 OK\r\n")  # small requests are inline
        head, body = exchange(sock, b"GET /large HTTP/1.1\r\nHost: t\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK\r\n") and body == b"x" * LARGE
        assert exchange(sock, POST)[0].startswith(b"HTTP/1.1 200 OK\r\n")  # still in step


def test_a_client_slow_to_read_a_large_answer_holds_up_no_other_client(server: ServeProcess) -> None:
    """The event loop sends what the send buffer takes at once, and a pool thread the rest: a
    client that does not read holds that thread, as in gthread, never the loop (one worker here)."""
    with (
        socket.create_connection(("127.0.0.1", server.port), timeout=30) as slow,
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as other,
    ):
        assert exchange(slow, POST)[0].startswith(b"HTTP/1.1 200 OK\r\n")  # small requests are inline
        slow.sendall(b"GET /large HTTP/1.1\r\nHost: t\r\n\r\n")
        assert select.select([slow], [], [], 10)[0], "the large answer never started"
        assert exchange(other, POST)[0].startswith(b"HTTP/1.1 200 OK\r\n")  # while slow reads nothing
        head, body = exchange(slow, b"")
        assert head.startswith(b"HTTP/1.1 200 OK\r\n") and body == b"x" * LARGE
        assert exchange(slow, POST)[0].startswith(b"HTTP/1.1 200 OK\r\n")  # still in step


def test_a_client_that_reads_nothing_for_the_timeout_is_disconnected(tmp_path: Path) -> None:
    with (
        serving_plain_apps(tmp_path, "--timeout", "2") as server,
        socket.create_connection(("127.0.0.1", server.port), timeout=30) as stalled,
    ):
        assert exchange(stalled, POST)[0].startswith(b"HTTP/1.1 200 OK\r\n")  # small requests are inline
        stalled.sendall(b"GET /large HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(4)  # twice the timeout without reading
        received = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := stalled.recv(1 << 20):
                received += chunk
        assert 0 < len(received) < LARGE  # what the buffers held, then the end
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as other:
            assert exchange(other, POST)[0].startswith(b"HTTP/1.1 200 OK\r\n")


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("certfile", "server.crt"),  # TLS
        ("proxy_protocol", "v1"),
        ("pre_request", lambda worker, req: None),
        ("post_request", lambda worker, req, environ, resp: None),
    ],
)
def test_plain_requests_go_through_gunicorn_where_it_does_more_than_http(setting: str, value: object) -> None:
    assert not does_more_than_http(Config(), {})
    cfg = Config()
    cfg.set(setting, value)
    assert does_more_than_http(cfg, {})


def test_a_script_name_in_the_environment_sends_requests_through_gunicorn() -> None:
    assert does_more_than_http(Config(), {"SCRIPT_NAME": "/app"})
