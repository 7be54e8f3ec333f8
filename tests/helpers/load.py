"""Steady load and process inspection for the fault tests, on 127.0.0.1 only.

Each client thread sends one request per new connection (`Connection: close`), so every request
is tied to one TCP connection and we know when the kernel accepted it: the moment connect()
returned. The process helpers read /proc (Linux), the same view the kernel's OOM killer has.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

IRIS_ROW = b"5.1,3.5,1.4,0.2"


def csv_request(body: bytes = IRIS_ROW) -> bytes:
    head = (
        "POST /invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/csv\r\n"
        f"Connection: close\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


PING = b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


@dataclass
class Outcome:
    started: float
    connected: float | None  # when connect() returned; None if it never did
    status: int | None  # None when no complete status line came back
    error: str = ""
    ended: float = 0.0

    @property
    def seconds(self) -> float:
        return self.ended - self.started


def exchange(port: int, request: bytes, timeout: float = 30) -> Outcome:
    """One request on a new connection, read to EOF."""
    started = time.monotonic()
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except OSError as error:
        return Outcome(started, None, None, type(error).__name__, time.monotonic())
    connected = time.monotonic()
    with sock:
        try:
            sock.sendall(request)
            reply = read_to_eof(sock)
        except OSError as error:
            return Outcome(started, connected, None, type(error).__name__, time.monotonic())
    return Outcome(started, connected, status_of(reply), "" if reply else "empty reply", time.monotonic())


def read_to_eof(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


def read_response(sock: socket.socket) -> bytes:
    """One response with a Content-Length, without waiting for the server to close."""
    data = b""
    while b"\r\n\r\n" not in data or len(data) < response_size(data):
        chunk = sock.recv(1 << 16)
        if not chunk:
            break
        data += chunk
    return data


def response_size(data: bytes) -> int:
    head, _, _ = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(head) + 4 + int(value)
    return 0


def status_of(reply: bytes) -> int | None:
    parts = reply.split(b"\r\n", 1)[0].split(b" ")
    return int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else None


class Load:
    """`clients` threads, each sending `request` back to back until `stop()` (or `keep_going`
    says no), every outcome recorded."""

    def __init__(
        self, port: int, clients: int, request: bytes, keep_going: Callable[[], bool] = lambda: True
    ):
        self.port, self.request, self.keep_going = port, request, keep_going
        self.outcomes: list[Outcome] = []
        self._stopped = threading.Event()
        self._threads = [threading.Thread(target=self._client, daemon=True) for _ in range(clients)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _client(self) -> None:
        while not self._stopped.is_set() and self.keep_going():
            self.outcomes.append(exchange(self.port, self.request))

    def stop(self, timeout: float = 60) -> list[Outcome]:
        self._stopped.set()
        for thread in self._threads:
            thread.join(timeout)
        return self.outcomes

    def wait_for(self, count: int, deadline: float = 30) -> None:
        give_up = time.monotonic() + deadline
        while len(self.outcomes) < count and time.monotonic() < give_up:
            time.sleep(0.02)


def burst(port: int, request: bytes, count: int) -> list[Outcome]:
    """`count` requests sent at once, each on its own connection and thread."""
    outcomes: list[Outcome] = []
    threads = [
        threading.Thread(target=lambda: outcomes.append(exchange(port, request, timeout=120)), daemon=True)
        for _ in range(count)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    return outcomes


def failures(outcomes: list[Outcome]) -> list[Outcome]:
    return [outcome for outcome in outcomes if outcome.status != 200]


# --- processes ------------------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and parent_of(int(entry.name)) == pid:
            found.append(int(entry.name))
    return sorted(found)


def parent_of(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:"):
            inodes.add(target)
    return inodes


def memory_bytes(pid: int, file: str, field: str) -> int:
    """A `Field:  N kB` line of /proc/PID/FILE, in bytes; 0 once the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/{file}").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def rss_bytes(pid: int) -> int:
    return memory_bytes(pid, "status", "VmRSS")


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of a process and its children, shared pages counted in each (an upper bound)."""
    return rss_bytes(pid) + sum(rss_bytes(child) for child in children(pid))


def pss_bytes(pid: int) -> int:
    """Proportional set size: resident memory with each shared page split among its sharers."""
    return memory_bytes(pid, "smaps_rollup", "Pss")


def tree_pss_bytes(pid: int) -> int:
    """The memory a process and its children use together (PSS summed: shared pages once)."""
    return pss_bytes(pid) + sum(pss_bytes(child) for child in children(pid))


def pending_signals(pid: int) -> int:
    """Signals sent to the process and not yet delivered (it may be stopped), as a bit mask."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    return int(fields["ShdPnd"], 16) | int(fields["SigPnd"], 16)


def wait_until(condition: Callable[[], bool], deadline: float = 30) -> bool:
    give_up = time.monotonic() + deadline
    while time.monotonic() < give_up:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


SLOW_HEAD = b"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/csv\r\n"
SLOW_STARTS = {
    "headers": SLOW_HEAD + b"X-Slow: ",  # then a header value that never ends
    "body": SLOW_HEAD + b"Content-Length: 100000\r\n\r\n",  # then a body that never ends
}


class SlowClients:
    """`count` connections that each send a request's start, then one more byte every `pause` s
    until stopped: slowloris headers or a slow body."""

    def __init__(self, port: int, count: int, kind: str, pause: float = 0.1):
        self.port, self.start, self.pause = port, SLOW_STARTS[kind], pause
        self.sent = [0] * count
        self.closed_by_server = 0
        self._stopped = threading.Event()
        self._threads = [threading.Thread(target=self._trickle, args=(i,), daemon=True) for i in range(count)]

    def __enter__(self) -> SlowClients:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopped.set()
        for thread in self._threads:
            thread.join(10)

    def _trickle(self, index: int) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            try:
                sock.sendall(self.start)
                while not self._stopped.wait(self.pause):
                    sock.sendall(b"1")
                    self.sent[index] += 1
            except OSError:
                self.closed_by_server += 1

    def all_trickling(self, at_least: int) -> bool:
        return min(self.sent) >= at_least
