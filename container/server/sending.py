"""Sending answers and closing connections from the event loop without waiting: a job of the
worker.

Owns: the poller registrations of every connection (`watch`), what is left to send of an answer
the send buffer could not take at once (`Outgoing`), what happens to a connection once its answer
is out (`answered`: close, keep alive, or read the next pipelined request), and closing as
gunicorn's util.close_graceful does but polled (`Lingering`). Every wait here has a deadline,
enforced by `container.server.deadlines`. Must not know about the application or how requests
are read.
"""

from __future__ import annotations

import selectors
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from container.server import gunicorn_internals
from container.server.gunicorn_internals import ThreadWorker
from container.server.read_ahead import READ_SIZE

LINGER_SECONDS = 2.0  # gunicorn's util.close_graceful bounds
LINGER_BYTES = 64 * 1024
# After refusing a request whose body is still arriving (413, or 400 for broken framing): nginx's
# lingering close bounds (lingering_time 30 s, lingering_timeout 5 s), and at most twice the
# payload limit or REFUSED_LINGER_BYTES, the larger (dropped at about 1 GB/s on one core). A client that sends its whole body before it reads (Python's http.client) then
# reads the answer instead of a reset (BrokenPipeError).
REFUSED_LINGER_SECONDS = 30.0
REFUSED_LINGER_IDLE_SECONDS = 5.0
REFUSED_LINGER_BYTES = 256 * 1024 * 1024


@dataclass
class Outgoing:
    """What is left to send of an answer, and until when the client has to take some of it."""

    rest: memoryview
    must_close: bool
    deadline: float


@dataclass
class Lingering:
    """A connection closing: its FIN is sent, what the client still sends is read and dropped,
    up to `limit` bytes, until `ends_at`, each read within `idle` seconds of the last."""

    deadline: float
    ends_at: float
    idle: float
    limit: int
    drained: int = 0

    @classmethod
    def after(cls, refused_body: bool, body_limit: int) -> Lingering:
        now = time.monotonic()
        if refused_body:
            ends_at = now + REFUSED_LINGER_SECONDS
            limit = max(2 * body_limit, REFUSED_LINGER_BYTES)
            return cls(now + REFUSED_LINGER_IDLE_SECONDS, ends_at, REFUSED_LINGER_IDLE_SECONDS, limit)
        return cls(now + LINGER_SECONDS, now + LINGER_SECONDS, LINGER_SECONDS, LINGER_BYTES)


class SendsWithoutWaiting(ThreadWorker):  # type: ignore[misc]
    """The worker's sending job (one base of `TimeoutThreadWorker`, which calls `init_sending`)."""

    def init_sending(self) -> None:
        self.watched: dict[
            Any, tuple[Callable[..., None], int]
        ] = {}  # in the poller: for what, on which events
        self.sending: dict[Any, Outgoing] = {}  # answers the send buffer could not take at once
        self.lingering: dict[Any, Lingering] = {}  # connections closing (see `close`)

    def send_answer(self, conn: Any, payload: bytes, must_close: bool) -> None:
        """Send what the socket's send buffer takes now; the rest as the client reads, the event
        loop polling for it, so a client slow to read holds neither the loop nor a thread. One
        that takes nothing for the request timeout (gunicorn's `timeout`,
        SAGEMAKER_MODEL_SERVER_TIMEOUT) is disconnected."""
        self.sending[conn] = Outgoing(memoryview(payload), must_close, time.monotonic() + self.cfg.timeout)
        self.send_some(conn)

    def send_some(self, conn: Any, _fileobj: Any = None) -> None:
        outgoing = self.sending[conn]
        try:
            sent = conn.sock.send(outgoing.rest)
        except BlockingIOError:
            sent = 0
        except OSError as error:
            self.log.debug("Could not send an answer: %s", error)
            self.stop_sending(conn)
            self.close(conn)
            return
        if sent:
            outgoing.rest = outgoing.rest[sent:]
            outgoing.deadline = time.monotonic() + self.cfg.timeout
        if outgoing.rest:
            self.watch(conn, self.send_some, selectors.EVENT_WRITE)
            return
        self.stop_sending(conn)
        self.answered(conn, outgoing.must_close)

    def stop_sending(self, conn: Any) -> None:
        self.unwatch(conn)
        del self.sending[conn]

    def answered(self, conn: Any, must_close: bool) -> None:
        """Once an answer is out: close the connection, or read its next request, which may have
        arrived with the last one."""
        leftover = conn.__dict__.pop("leftover", b"")
        if must_close or not conn.keep_open:
            self.close(conn)
        elif leftover:  # from the next loop round: a pipeline of requests never recurses
            gunicorn_internals.defer(self, self.enqueue_req, conn, leftover)
        else:
            gunicorn_internals.keep_alive(self, conn)

    def close(self, conn: Any) -> None:
        """Close as gunicorn's util.close_graceful does (RFC 9112 9.6: send FIN, then read and drop
        what the client still sends, so the kernel sends no RST over the answer), but with the
        event loop polling for the client's bytes instead of waiting on them: for LINGER_SECONDS
        and LINGER_BYTES at most, gunicorn's own bounds; after a refusal of a body still arriving
        (`conn.refused_body`, set by `container.server.reading`), nginx's (REFUSED_LINGER_*)."""
        try:
            conn.sock.setblocking(False)
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self.closed(conn)
            return
        refused = conn.__dict__.pop("refused_body", False)
        self.lingering[conn] = Lingering.after(refused, self.body_limit)
        self.watch(conn, self.drain)

    def drain(self, conn: Any, _fileobj: Any = None) -> None:
        lingering = self.lingering[conn]
        try:
            dropped = len(conn.sock.recv(READ_SIZE))
        except BlockingIOError:
            return
        except OSError:
            dropped = 0
        lingering.drained += dropped
        if not dropped or lingering.drained >= lingering.limit:
            self.end_lingering(conn)
            return
        lingering.deadline = min(lingering.ends_at, time.monotonic() + lingering.idle)

    def end_lingering(self, conn: Any) -> None:
        del self.lingering[conn]
        self.unwatch(conn)
        self.closed(conn)

    def closed(self, conn: Any) -> None:
        self.nr_conns -= 1
        conn.close()

    def watch(self, conn: Any, callback: Callable[..., None], events: int = selectors.EVENT_READ) -> None:
        """Have the poller call `callback` when the connection is ready for `events`."""
        registered = self.watched.get(conn)
        if registered is None:
            self.poller.register(conn.sock, events, partial(callback, conn))
        elif registered != (callback, events):
            self.poller.modify(conn.sock, events, partial(callback, conn))
        self.watched[conn] = (callback, events)

    def unwatch(self, conn: Any) -> None:
        if self.watched.pop(conn, None) is not None:
            self.poller.unregister(conn.sock)
