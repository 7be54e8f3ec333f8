"""The lossless stop: a job of the worker.

Owns: what a worker does on SIGTERM before gthread closes its listeners. When the whole server
stops, the arbiter has already refused new handshakes (`container.server.listener`), and the
worker accepts every connection the kernel had accepted for it, instead of letting gunicorn close
the listener on them: a client whose connect() returned before the signal gets its answer. Where
handshakes are not refused (Docker refuses the filter; a worker stopping alone must not set it,
or the server would accept nothing more), it accepts as many as were queued at the signal, then
stops. Must not know how requests are read or answered.
"""

from __future__ import annotations

import select
from typing import Any

from container.server.gunicorn_internals import ThreadWorker
from container.server.listener import handshakes_refused, queued_connections


class StopsLosslessly(ThreadWorker):  # type: ignore[misc]
    """The worker's stopping job (one base of `TimeoutThreadWorker`)."""

    def set_accept_enabled(self, enabled: bool) -> None:
        if not enabled and not self.alive:  # gthread's first step in stopping
            self.accept_the_backlog()
        super().set_accept_enabled(enabled)

    def accept_the_backlog(self) -> None:
        """Accept the connections waiting on the listeners, all of them once new handshakes are
        refused, else those queued now (`queued_now`); each is then read as usual."""
        for listener in self.sockets:
            limit = None if handshakes_refused(listener) else self.queued_now(listener)
            listener.setblocking(False)
            # A listener polls readable while a connection waits (the connection count cannot
            # tell: the event loop may answer and close a connection within accept).
            accepted = 0
            while (limit is None or accepted < limit) and select.select([listener], [], [], 0)[0]:
                self.accept(listener)  # gthread's: hands the connection to enqueue_req
                accepted += 1

    def queued_now(self, listener: Any) -> int:
        """How many connections to accept from a listener that still completes handshakes (in
        Docker, or this worker stopping alone): those queued now, or as many as its backlog holds
        where that cannot be read."""
        queued = queued_connections(listener)
        limit = self.cfg.backlog if queued is None else queued
        self.log.info(
            "worker %s stops while new handshakes are completed (inside Docker, or this worker "
            "alone stopping): it accepts the %s connections queued%s; if the server is stopping, "
            "one arriving later may be reset",
            self.pid,
            limit,
            " now" if queued is not None else " at most (the backlog)",
        )
        return limit
