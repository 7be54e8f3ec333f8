"""A stopping worker accepts what the kernel queued before SIGTERM, and stops accepting even
while clients keep connecting, where new handshakes cannot be refused (Docker)."""

from __future__ import annotations

import logging
import socket
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from container.server import stopping as stopping_module
from container.server.listener import handshakes_refused, queued_connections, refuse_new_handshakes
from container.server.stopping import StopsLosslessly

RUNAWAY = 100  # accepts after which a worker is taken never to stop


@contextmanager
def listening(backlog: int = 64) -> Iterator[socket.socket]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(backlog)
        yield listener


def connect(listener: socket.socket, clients: ExitStack) -> None:
    clients.enter_context(socket.create_connection(listener.getsockname(), timeout=5))


def test_the_queue_of_a_listening_socket_is_read_from_the_kernel() -> None:
    with listening() as listener, ExitStack() as clients:
        assert queued_connections(listener) == 0
        for _ in range(5):
            connect(listener, clients)
        assert queued_connections(listener) == 5
        listener.accept()[0].close()
        assert queued_connections(listener) == 4


def test_whether_handshakes_are_refused_is_read_from_the_socket_every_process_shares() -> None:
    with listening() as listener, ExitStack() as clients:
        assert not handshakes_refused(listener)
        connect(listener, clients)
        assert refuse_new_handshakes(listener)
        assert handshakes_refused(listener)
        with pytest.raises(TimeoutError):  # the SYN is dropped: no handshake completes
            socket.create_connection(listener.getsockname(), timeout=0.5)


def test_a_unix_socket_has_no_queue_to_read() -> None:
    with tempfile.TemporaryDirectory() as directory, socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(Path(directory) / "socket"))
        listener.listen(8)
        assert queued_connections(listener) is None


class StoppingWorker(StopsLosslessly):
    """A worker reduced to its listener. With `refill`, each accept makes a client connect again,
    so the queue never empties, as under a load that keeps connecting."""

    def __init__(self, listener: socket.socket, clients: ExitStack, refill: bool) -> None:
        self.sockets, self.clients, self.refill = [listener], clients, refill
        self.cfg = SimpleNamespace(backlog=64)
        self.log = logging.getLogger("test")
        self.pid = 0
        self.accepted = 0

    def accept(self, listener: Any) -> None:
        listener.accept()[0].close()
        self.accepted += 1
        assert self.accepted < RUNAWAY, "the stopping worker kept accepting"
        if self.refill:
            connect(listener, self.clients)


@pytest.mark.parametrize("known", [True, False])
def test_without_refusing_handshakes_a_stopping_worker_accepts_what_was_queued_then_stops(
    monkeypatch: pytest.MonkeyPatch, known: bool
) -> None:
    monkeypatch.setattr(stopping_module, "handshakes_refused", lambda listener: False)
    if not known:  # the queue cannot be read: the backlog bounds the accepts
        monkeypatch.setattr(stopping_module, "queued_connections", lambda listener: None)
    with listening() as listener, ExitStack() as clients:
        for _ in range(5):
            connect(listener, clients)
        worker = StoppingWorker(listener, clients, refill=True)
        if not known:
            worker.cfg.backlog = 7
        worker.accept_the_backlog()
    assert worker.accepted == (5 if known else 7)


def test_with_handshakes_refused_a_stopping_worker_accepts_until_the_queue_is_empty(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(stopping_module, "handshakes_refused", lambda listener: True)
    with listening() as listener, ExitStack() as clients:
        for _ in range(5):
            connect(listener, clients)
        worker = StoppingWorker(listener, clients, refill=False)  # the refused handshakes stop refills
        worker.accept_the_backlog()
    assert worker.accepted == 5
