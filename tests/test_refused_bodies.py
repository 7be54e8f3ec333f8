"""A 413 reaches every HTTP client, including those that send their whole body before reading
(Python's http.client): the server answers, then reads and drops the rest of the body for a
bounded time and size before it closes (container.server.sending's lingering close). Against
real gunicorn."""

from __future__ import annotations

import http.client
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from container.server.sending import REFUSED_LINGER_BYTES
from tests.helpers.harness import DEMO_MODEL, ServeProcess, serving

LIMIT_MIB = 1
# 40 MiB: more than the kernel's buffers on loopback hold, so the server must read it to answer
OVER = b"5.1,3.5,1.4,0.2\n" * (40 * 1024 * 1024 // 16)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    env = {"SAGEMAKER_MAX_PAYLOAD_IN_MB": str(LIMIT_MIB)}
    with serving(DEMO_MODEL, tmp_path_factory.mktemp("refused"), env) as running:
        yield running


def refusal(status: int, body: bytes) -> str:
    assert status == 413, body[:200]
    return str(json.loads(body)["error"])


def test_http_client_reads_the_413(server: ServeProcess) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    connection.request("POST", "/invocations", OVER, {"Content-Type": "text/csv"})  # no BrokenPipeError
    response = connection.getresponse()
    assert refusal(response.status, response.read())
    assert response.getheader("Connection") == "close"
    connection.close()


def test_http_client_reads_the_413_of_a_chunked_body(server: ServeProcess) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    pieces = (OVER[i : i + 65536] for i in range(0, len(OVER), 65536))
    connection.request("POST", "/invocations", pieces, {"Content-Type": "text/csv"}, encode_chunked=True)
    response = connection.getresponse()
    assert refusal(response.status, response.read())
    connection.close()


def test_requests_reads_the_413(server: ServeProcess) -> None:
    reply = requests.post(
        server.url + "/invocations", data=OVER, headers={"Content-Type": "text/csv"}, timeout=30
    )
    assert refusal(reply.status_code, reply.content)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_reads_the_413(server: ServeProcess, tmp_path: Path) -> None:
    body = tmp_path / "over.csv"
    body.write_bytes(OVER)
    done = subprocess.run(
        ["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", "-H", "Content-Type: text/csv",
         "--data-binary", f"@{body}", server.url + "/invocations"],
        capture_output=True, timeout=60, check=True,
    )  # fmt: skip
    answer, _, status = done.stdout.rpartition(b"\n")
    assert refusal(int(status), answer)


def test_a_client_that_sends_forever_is_cut_off(server: ServeProcess) -> None:
    """The drain is bounded: past REFUSED_LINGER_BYTES dropped the server closes, and the
    client's sends fail; meanwhile the server answers others."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
                     b"Content-Length: 999999999\r\n\r\n")  # fmt: skip
        sent, started, refused = 0, time.monotonic(), False
        while time.monotonic() - started < 25:
            try:
                sock.sendall(b"1" * 65536)
            except OSError:
                refused = True
                break
            sent += 65536
        assert refused
        assert sent < REFUSED_LINGER_BYTES + 64 * 1024 * 1024  # the bound, plus what buffers held
        assert requests.get(server.url + "/ping", timeout=10).status_code == 200
