"""Reading requests on the event loop, and the admission of large bodies: a job of the worker.

Owns: gthread's `enqueue_req`, replaced. A connection's bytes are read without blocking into its
`Incoming` (`container.server.read_ahead`) until the verdict is in; then the request goes to
`dispatch` (`container.server.answering`) with its bytes in hand. Large bodies (past
SMALL_REQUEST) are read at most one per pool thread at a time, so memory stays at threads x
payload limit and every body being read can complete. One held back waits, unread in the kernel,
until its client sends more; a freed place goes to the waiting body with the most bytes in the
kernel. One that stops sending while others wait loses its place (`container.server.deadlines`).
Must not know about the application or how answers are sent.
"""

from __future__ import annotations

import array
import fcntl
import socket
import termios
import time
from typing import Any

from container.server import plain_http
from container.server.gunicorn_internals import ThreadWorker
from container.server.read_ahead import CONTINUE, READ_SIZE, Incoming, Verdict


def bytes_to_read(sock: socket.socket) -> int:
    """How many bytes the kernel holds for a socket, unread (Linux's FIONREAD); 0 where unknown."""
    count = array.array("i", [0])
    try:
        fcntl.ioctl(sock.fileno(), termios.FIONREAD, count)
    except OSError:
        return 0
    return count[0]


class ReadsWholeRequests(ThreadWorker):  # type: ignore[misc]
    """The worker's reading job (one base of `TimeoutThreadWorker`, which calls `init_reading`)."""

    def init_reading(self) -> None:
        self.incoming: dict[Any, Incoming] = {}  # connections being read, by TConn
        self.large: set[Any] = set()  # connections reading a large body: at most one per thread
        self.held_back: list[Any] = []  # large bodies with bytes waiting for one of those places

    def enqueue_req(self, conn: Any, start: bytes = b"") -> None:
        """Read a connection's next request (gthread calls this for a new connection and for a
        kept-alive one that polled readable); `start` is what came after the last request."""
        conn.sock.setblocking(False)
        incoming = self.incoming[conn] = Incoming.starting(self.cfg.timeout)
        if start:
            incoming.add(start, self.body_limit)
            if incoming.handover:
                self.took(conn, incoming)
                return
        # A kept-alive connection comes here because it polled readable: its request is usually
        # in already, and reading it now saves a round through the poller.
        self.read_some(conn)

    def read_some(self, conn: Any, _fileobj: Any = None) -> None:
        incoming = self.incoming[conn]
        if incoming.reading_large_body and not self.admit_large(conn):
            self.watch(conn, self.wants_a_place)  # unread, in the kernel, until the client sends more
            return
        try:
            chunk = conn.sock.recv(READ_SIZE)
        except BlockingIOError:
            self.watch(conn, self.read_some)
            return
        except OSError:
            chunk = b""
        if not chunk and not incoming.data:  # an idle connection closed by its client
            self.forget(conn)
            return
        incoming.add(chunk, self.body_limit)
        self.took(conn, incoming)

    def took(self, conn: Any, incoming: Incoming) -> None:
        """After bytes were added: read on, or hand the request over once its verdict is in."""
        if incoming.wants_continue and not self.send_continue(conn, incoming):
            return
        if not incoming.handover:
            self.watch(conn, self.read_some)
            return
        self.unwatch(conn)
        del self.incoming[conn]
        request, conn.leftover = incoming.split()
        incoming.data = bytearray()  # a large body is in `request` now: one copy in memory, not two
        conn.keep_open = incoming.verdict is Verdict.WHOLE
        conn.refused_body = incoming.verdict is Verdict.DECIDED and incoming.head_end > 0  # still coming
        self.dispatch(conn, request, incoming.body_unread)

    def send_continue(self, conn: Any, incoming: Incoming) -> bool:
        """Tell a client waiting on `Expect: 100-continue` to send its body, once (gunicorn's own
        100 is not sent: see `gunicorn_internals.leave_continue_to_the_loop`)."""
        incoming.wants_continue = False
        try:
            conn.sock.send(CONTINUE)  # 25 bytes into an idle connection's send buffer
        except OSError:
            self.forget(conn)
            return False
        return True

    def admit_large(self, conn: Any) -> bool:
        """Whether a connection may read its large body on: it has a place, or takes a free one."""
        if conn not in self.large and len(self.large) < self.cfg.threads:
            self.take_a_place(conn)
        return conn in self.large

    def take_a_place(self, conn: Any) -> None:
        self.large.add(conn)
        self.incoming[conn].progressed_at = time.monotonic()  # its stall is counted from here

    def wants_a_place(self, conn: Any, _fileobj: Any = None) -> None:
        """A large body held back has bytes to read: it waits for a place. One whose client sent
        nothing more never waits, so clients that stopped sending cannot fill the queue."""
        self.unwatch(conn)
        self.held_back.append(conn)

    def release(self, conn: Any) -> None:
        """Free a connection's place, if it had one, for the waiting body that has the most bytes
        in the kernel to read (the first to have waited among equals): a client that keeps
        sending goes before those that sent a little and stopped, however many they are."""
        self.large.discard(conn)
        while self.held_back and len(self.large) < self.cfg.threads:
            waiting = max(self.held_back, key=lambda held: bytes_to_read(held.sock))
            self.held_back.remove(waiting)
            if waiting in self.incoming:
                self.take_a_place(waiting)
                self.watch(waiting, self.read_some)

    def forget(self, conn: Any) -> None:
        """Drop a connection whose request is being read."""
        self.stop_reading(conn)
        self.closed(conn)

    def refuse_late(self, conn: Any) -> None:
        """Answer 408 to a request that did not arrive in time, and close its connection."""
        self.stop_reading(conn)
        conn.keep_open = False
        self.send_answer(conn, plain_http.REQUEST_TIMEOUT, must_close=True)

    def stop_reading(self, conn: Any) -> None:
        self.unwatch(conn)
        del self.incoming[conn]
        self.release(conn)
