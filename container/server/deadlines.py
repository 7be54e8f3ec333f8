"""Deadlines on every wait, and the per-request timeout: a job of the worker.

Owns: `murder_pending` (gthread's hook after each round of the event loop), which ends every wait
on a client past its deadline: a request not whole within the timeout (408, or a silent close if
it sent nothing), a large body that stopped sending while another waits for its place (408 after
STALL_SECONDS), an answer the client took none of, a lingering close. And the per-request
timeout: gthread's main loop heartbeats every second whatever its threads are doing, so
gunicorn's `timeout` never stops a runaway request there; `timed` records when each request began
and `notify` (the heartbeat) exits the worker, to be replaced, once one has run longer than the
timeout. What `timed` records also gives the metrics' in-flight gauge its sample, at each sweep
(at most one write every SWEEP_SECONDS, instead of two per request). Must not know how requests are read or answered beyond their deadlines.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

from container.server.gunicorn_internals import ThreadWorker

TIMED_OUT_EXIT_CODE = 70
# A large body being read that gets no byte for this long, while others wait for its place, loses
# it (408). Longer than TCP's retransmission waits after a lost segment (0.2 s, 0.4 s, 0.8 s...).
STALL_SECONDS = 2.0
SWEEP_SECONDS = 0.25  # how often the deadlines of the waits on clients are checked


class EnforcesDeadlines(ThreadWorker):  # type: ignore[misc]
    """The worker's deadlines job (one base of `TimeoutThreadWorker`, which calls `init_deadlines`)."""

    def init_deadlines(self) -> None:
        self.request_started: dict[int, float] = {}  # by thread: when its request began
        self.next_sweep = 0.0

    def murder_pending(self) -> None:
        """At most every SWEEP_SECONDS: end every wait on a client that is past its deadline."""
        now = time.monotonic()
        if now < self.next_sweep:
            return
        self.next_sweep = now + SWEEP_SECONDS
        if getattr(self, "instruments", None) is not None:
            self.instruments.sample_in_flight(len(self.request_started))
        self.end_late_requests(now)
        for conn in [conn for conn, outgoing in self.sending.items() if outgoing.deadline < now]:
            self.log.debug("A client read none of its answer for %s s: disconnected", self.cfg.timeout)
            self.stop_sending(conn)
            self.closed(conn)
        for conn in [conn for conn, lingering in self.lingering.items() if lingering.deadline < now]:
            self.end_lingering(conn)

    def end_late_requests(self, now: float) -> None:
        for conn, incoming in list(self.incoming.items()):
            if incoming.deadline < now and not incoming.data:  # a connection that sent nothing
                self.forget(conn)
            elif incoming.deadline < now:  # the request was not whole within the timeout
                self.refuse_late(conn)
            elif conn in self.large and self.held_back and now - incoming.progressed_at > STALL_SECONDS:
                self.refuse_late(conn)  # it stopped sending while other large bodies wait
        self.held_back[:] = [conn for conn in self.held_back if conn in self.incoming]

    def timed(self, counted: bool, call: Callable[..., Any], *args: Any) -> Any:
        """Run a request, recording when it began for the timeout and, when `counted`, what it
        cost for the inline policy."""
        thread = threading.get_ident()
        self.request_started[thread] = time.monotonic()
        by_cpu = counted and self.inline.wants_cpu_time()  # a system call: see container.server.inline
        cpu_started = time.thread_time() if by_cpu else 0.0
        try:
            return call(*args)
        finally:
            started = self.request_started.pop(thread)
            if by_cpu:
                self.inline.observe(time.thread_time() - cpu_started)
            elif counted:
                self.inline.observe_wall(time.monotonic() - started)

    def notify(self) -> None:
        super().notify()
        started = list(self.request_started.values())  # one C-level copy: safe beside other threads
        if started and time.monotonic() - min(started) > self.cfg.timeout:
            self.log.error(
                "a request ran longer than the %s s timeout; worker %s exits and is replaced",
                self.cfg.timeout,
                self.pid,
            )
            if getattr(self, "instruments", None) is not None:
                self.instruments.timed_out()  # in its metrics file, which outlives the process
            os._exit(TIMED_OUT_EXIT_CODE)
