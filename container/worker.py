"""The gunicorn worker class: gthread, plus whole-request reading, a per-request timeout, a
lossless stop, and one invariant that gthread does not keep.

The invariant: the event loop never waits on a client. Every read and write it performs is
non-blocking; every wait on a client (a request still arriving, an answer the client is slow to
take, a lingering close) is a registration with the poller that has a deadline, enforced by
`murder_pending`. A request leaves the loop only with its bytes in hand, or with a verdict its
headers already decide (a body over the limit, a broken chunk size line): the pool thread that
answers it parses those bytes from memory (`handle`), so a thread never waits on a client to send
either, and its writes are bounded by the request timeout. One connection, however hostile, holds
at most its own slot for at most the timeout. tests/test_hostile_http.py holds this against raw
sockets, on gunicorn and in the image.

Why gthread: its spare threads answer /ping while other threads predict (XGBoost and
scikit-learn's tree code release the GIL), so the health check does not queue behind long
predictions the way it does with sync workers; and it keeps connections alive.

Why a subclass:
- Slow clients. Requests are read whole by the event loop before a thread takes them
  (`container.read_ahead`), so clients trickling headers or bodies hold no thread. Large bodies
  are read at most one per thread at a time (memory stays at threads x payload limit); one that
  stops sending while another waits for its place loses it with a 408 after STALL_SECONDS, and
  the freed place goes to the waiting body with the most bytes in the kernel.
- Timeouts. gthread's main loop heartbeats every second whatever its threads are doing, so
  gunicorn's `timeout` never stops a runaway request there. This worker remembers when each
  request began and, once one has run longer than the timeout (SAGEMAKER_MODEL_SERVER_TIMEOUT),
  logs it and exits; gunicorn starts a fresh worker, as it does for a timed-out sync worker. A
  request must also have arrived whole within that timeout, or it is answered 408 (closed
  silently if it sent nothing).
- SIGTERM. It accepts every connection the kernel had already accepted for it, after stopping
  new handshakes (`container.listener`), instead of letting gunicorn close the listener on them:
  a client whose connect() returned before the signal gets its answer. Where handshakes cannot
  be stopped (Docker), it accepts as many as were queued at the signal, then stops.
- Scheduling. The worker runs under SCHED_BATCH (`container.scheduling`): hand-overs between
  its event loop and its threads no longer preempt the thread holding the GIL.
- Small, quick requests skip the hand-overs: the event loop answers them itself
  (`container.inline`), /ping always. One that runs away there stops the loop's heartbeat, so
  gunicorn's master replaces the worker after the same timeout.
- Plain ones among them (`container.plain_http`) also skip gunicorn's request parser, environ
  builder and Response, which took most of the CPU time of a small request: the event loop builds
  their environ and sends their answer in one send. Where gunicorn does more than parse and
  frame HTTP/1.1 (TLS, the PROXY protocol, SCRIPT_NAME, request hooks) every request takes its
  path. What a socket's send buffer cannot take of a plain answer at once, the loop sends as the
  client reads; a client that reads nothing for the timeout is disconnected.
- Closing. gunicorn's util.close_graceful waits up to 2 s for the client's FIN on the caller's
  thread; here the loop polls for it (`close`).
"""

from __future__ import annotations

import array
import fcntl
import os
import select
import selectors
import socket
import termios
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial
from typing import Any

from gunicorn import http
from gunicorn.config import Config
from gunicorn.http.wsgi import base_environ
from gunicorn.workers.gthread import STOP_KEEPALIVE_LINGER, ThreadWorker

from container import plain_http
from container.inline import InlinePolicy
from container.listener import queued_connections, refuse_new_handshakes
from container.read_ahead import CONTINUE, READ_SIZE, Incoming, Verdict
from container.scheduling import prefer_run_to_block
from container.settings import Settings

TIMED_OUT_EXIT_CODE = 70
LINGER_SECONDS = 2.0  # gunicorn's util.close_graceful bounds
LINGER_BYTES = 64 * 1024
# A large body being read that gets no byte for this long, while others wait for its place, loses
# it (408). Longer than TCP's retransmission waits after a lost segment (0.2 s, 0.4 s, 0.8 s...).
STALL_SECONDS = 2.0
SWEEP_SECONDS = 0.25  # how often the deadlines of the waits on clients are checked
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Any]


def honouring_connection_close(app: WSGIApp) -> WSGIApp:
    """gunicorn drops the hop-by-hop `Connection` header of a response and keeps the connection
    alive. The app sends `Connection: close` when it leaves a body unread (413): the header then
    reaches the client and the connection is closed, instead of the client reusing a connection
    the server is about to drop."""

    def application(environ: dict[str, Any], start_response: Any) -> Any:
        def start(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            for name, value in headers:
                if name == "Connection" and value == "close":
                    start_response.__self__.force_close()  # gunicorn's Response
            return start_response(status, headers, *exc_info)

        return app(environ, start)

    return application


def answers_plain_requests(cfg: Any) -> bool:
    """Whether plain requests may skip gunicorn's machinery: not where it does more than parse
    and frame HTTP/1.1 (TLS, the PROXY protocol, a SCRIPT_NAME in the environment, request hooks)."""
    defaults = Config()
    return (
        not cfg.is_ssl
        and cfg.proxy_protocol in (False, None, "off")
        and not os.environ.get("SCRIPT_NAME")
        and cfg.pre_request is defaults.pre_request
        and cfg.post_request is defaults.post_request
    )


@dataclass
class Outgoing:
    """What is left to send of an answer, and until when the client has to take some of it."""

    rest: memoryview
    must_close: bool
    deadline: float


@dataclass
class Lingering:
    """A connection closing: its FIN is sent, what the client still sends is read and dropped."""

    deadline: float
    drained: int = 0


def bytes_to_read(sock: socket.socket) -> int:
    """How many bytes the kernel holds for a socket, unread (Linux's FIONREAD); 0 where unknown."""
    count = array.array("i", [0])
    try:
        fcntl.ioctl(sock.fileno(), termios.FIONREAD, count)
    except OSError:
        return 0
    return count[0]


class TimeoutThreadWorker(ThreadWorker):  # type: ignore[misc]
    wsgi: WSGIApp  # set by gunicorn's load_wsgi
    alive: bool  # gunicorn's Worker: False once the worker is to stop

    def init_process(self) -> None:
        self.request_started: dict[int, float] = {}
        self.incoming: dict[Any, Incoming] = {}  # connections being read, by TConn
        self.large: set[Any] = set()  # connections reading a large body: at most one per thread
        self.held_back: list[Any] = []  # large bodies with bytes waiting for one of those places
        self.watched: dict[
            Any, tuple[Callable[..., None], int]
        ] = {}  # in the poller: for what, on which events
        self.sending: dict[Any, Outgoing] = {}  # answers the send buffer could not take at once
        self.lingering: dict[Any, Lingering] = {}  # connections closing (see `close`)
        self.next_sweep = 0.0
        self.inline = InlinePolicy()
        refused = prefer_run_to_block()  # before the pool starts its threads: they inherit it
        if refused:
            self.log.warning("worker %s keeps the default CPU scheduling: %s", self.pid, refused)
        super().init_process()

    def load_wsgi(self) -> None:
        super().load_wsgi()  # a bad configuration stops the server here, with its message
        self.body_limit = Settings.from_env(os.environ).max_body_bytes
        self.wsgi = honouring_connection_close(self.wsgi)
        self.plain_limits = plain_http.Limits.of(self.cfg) if answers_plain_requests(self.cfg) else None
        self.base_environ = base_environ(self.cfg)
        self.date = plain_http.DateHeader()

    # --- reading requests in the event loop -----------------------------------------------------

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
        conn.keep_open = incoming.verdict is Verdict.WHOLE
        self.dispatch(conn, request, incoming.body_unread)

    def dispatch(self, conn: Any, request: bytes, body_unread: bool) -> None:
        """Answer a small, quick plain request on the event loop (`container.inline`); hand any
        other to a pool thread, which parses it from `request` alone (`handle`)."""
        tcp = isinstance(conn.client, tuple) and isinstance(conn.server, tuple)  # not a Unix socket
        plain = (
            plain_http.parse(request, self.plain_limits, body_unread) if self.plain_limits and tcp else None
        )
        if plain is not None and self.inline.allows(len(request), plain.path):
            self.answer_plain(conn, request, plain)
        else:
            conn.read_ahead = request
            super().enqueue_req(conn)  # gthread's: handle() in a pool thread, then finish_request()

    def answer_plain(self, conn: Any, request_bytes: bytes, request: plain_http.PlainRequest) -> None:
        """What gthread's handle, handle_request and finish_request do for a request, less
        gunicorn's parser and Response: the answer is sent by the event loop (`send_answer`)."""
        counted = self.inline.counts(len(request_bytes), request.path)
        self.release(conn)
        response = plain_http.PlainResponse(request)
        if not self.count_request() or not conn.keep_open:
            response.force_close()
        try:
            payload = self.timed(counted, self.plain_payload, request, response, conn)
        except Exception:
            self.log.exception("Error handling request %s %s", request.method, request.uri)
            self.send_answer(conn, plain_http.INTERNAL_ERROR, must_close=True)
            return
        self.send_answer(conn, payload, response.must_close)

    def plain_payload(
        self, request: plain_http.PlainRequest, response: plain_http.PlainResponse, conn: Any
    ) -> bytes:
        chunks = self.wsgi(plain_http.environ(request, self.base_environ, conn), response.start_response)
        try:
            return response.payload(chunks, self.date.now())
        finally:
            if hasattr(chunks, "close"):
                chunks.close()

    def count_request(self) -> bool:
        """gthread's bookkeeping before a request: whether its connection may be kept alive."""
        self.nr += 1
        if self.nr >= self.max_requests and self.alive:
            self.log.info("Autorestarting worker after current request.")
            self.alive = False
        return self.alive and bool(self.cfg.keepalive) and len(self.keepalived_conns) < self.max_keepalived

    def send_continue(self, conn: Any, incoming: Incoming) -> bool:
        """Tell a client waiting on `Expect: 100-continue` to send its body, once (gunicorn's own
        100 is not sent: `handle_request`)."""
        incoming.wants_continue = False
        try:
            conn.sock.send(CONTINUE)  # 25 bytes into an idle connection's send buffer
        except OSError:
            self.forget(conn)
            return False
        return True

    # --- sending answers, closing connections: without waiting on the event loop --------------

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
            self.method_queue.defer(self.enqueue_req, conn, leftover)
        else:
            self.keep_alive(conn)

    def keep_alive(self, conn: Any) -> None:
        """gthread's finish_request for a connection kept alive."""
        conn.sock.setblocking(False)
        conn.set_timeout()
        if not self.alive:
            conn.timeout = min(conn.timeout, time.monotonic() + STOP_KEEPALIVE_LINGER)
        self.keepalived_conns.append(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_client_socket_readable, conn))

    def close(self, conn: Any) -> None:
        """Close as gunicorn's util.close_graceful does (RFC 9112 9.6: send FIN, then read and drop
        what the client still sends, so the kernel sends no RST over the answer), but with the
        event loop polling for the client's bytes instead of waiting on them: for LINGER_SECONDS
        and LINGER_BYTES at most, gunicorn's own bounds."""
        try:
            conn.sock.setblocking(False)
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self.closed(conn)
            return
        self.lingering[conn] = Lingering(time.monotonic() + LINGER_SECONDS)
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
        if not dropped or lingering.drained >= LINGER_BYTES:
            self.end_lingering(conn)

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

    # --- pool threads: requests parsed from the bytes in hand -----------------------------------

    def handle(self, conn: Any) -> Any:
        """gthread's handle, with a parser that reads the request's bytes from memory: whatever
        they hold, it never waits on the client (what is missing reads as the end of input)."""
        request = conn.__dict__.pop("read_ahead")
        conn.request_size = len(request)
        conn.initialized = True  # gthread's TConn.init would give the parser the socket
        conn.parser = http.get_parser(self.cfg, [request], conn.client)
        conn.data_ready = True
        return super().handle(conn)

    def finish_request(self, conn: Any, fs: Future[Any]) -> None:
        """Back on the event loop once a pool thread has answered (gthread's, for connections
        that `handle` only ever sees with their request in hand)."""
        self.release(conn)
        keep = not fs.cancelled() and fs.exception() is None and bool(fs.result())
        self.answered(conn, must_close=not keep)

    # --- the large-body admission ----------------------------------------------------------------

    def admit_large(self, conn: Any) -> bool:
        """One large body per thread is read (and then processed) at a time: memory stays at
        threads x payload limit, as when threads read bodies themselves, and every body being
        read can complete, so none waits on another."""
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
        sending goes before those that sent a little and stopped, however many they are, and
        one that stops once it has a place loses it (`murder_pending`)."""
        self.large.discard(conn)
        while self.held_back and len(self.large) < self.cfg.threads:
            waiting = max(self.held_back, key=lambda held: bytes_to_read(held.sock))
            self.held_back.remove(waiting)
            if waiting in self.incoming:
                self.take_a_place(waiting)
                self.watch(waiting, self.read_some)

    def forget(self, conn: Any) -> None:
        """Drop a connection whose request is being read."""
        self.unwatch(conn)
        del self.incoming[conn]
        self.release(conn)
        self.closed(conn)

    def refuse_late(self, conn: Any) -> None:
        """Answer 408 to a request that did not arrive in time, and close its connection."""
        self.unwatch(conn)
        del self.incoming[conn]
        self.release(conn)
        conn.keep_open = False
        self.send_answer(conn, plain_http.REQUEST_TIMEOUT, must_close=True)

    def murder_pending(self) -> None:
        """After each round of the event loop (at least once a second), at most every
        SWEEP_SECONDS: end every wait on a client that is past its deadline."""
        now = time.monotonic()
        if now < self.next_sweep:
            return
        self.next_sweep = now + SWEEP_SECONDS
        for conn, incoming in list(self.incoming.items()):
            if incoming.deadline < now and not incoming.data:  # a connection that sent nothing
                self.forget(conn)
            elif incoming.deadline < now:  # the request was not whole within the timeout
                self.refuse_late(conn)
            elif conn in self.large and self.held_back and now - incoming.progressed_at > STALL_SECONDS:
                self.refuse_late(conn)  # it stopped sending while other large bodies wait
        self.held_back = [conn for conn in self.held_back if conn in self.incoming]
        for conn in [conn for conn, outgoing in self.sending.items() if outgoing.deadline < now]:
            self.log.debug("A client read none of its answer for %s s: disconnected", self.cfg.timeout)
            self.stop_sending(conn)
            self.closed(conn)
        for conn in [conn for conn, lingering in self.lingering.items() if lingering.deadline < now]:
            self.end_lingering(conn)

    # --- the per-request timeout ---------------------------------------------------------------

    def handle_request(self, req: Any, conn: Any) -> Any:
        """gthread's, timed, with the answer's writes bounded by the request timeout."""
        counted = self.inline.counts(conn.request_size, req.path)
        req._expected_100_continue = False  # the event loop sent the 100 (`send_continue`)
        conn.sock.settimeout(self.cfg.timeout)
        try:
            return self.timed(counted, super().handle_request, req, conn)
        except TimeoutError:
            self.log.debug("A client read none of its answer for %s s: disconnected", self.cfg.timeout)
            return False

    def timed(self, counted: bool, call: Callable[..., Any], *args: Any) -> Any:
        """Run a request, recording when it began for the timeout and, when `counted`, what it
        cost for the inline policy."""
        thread = threading.get_ident()
        self.request_started[thread] = time.monotonic()
        by_cpu = counted and self.inline.wants_cpu_time()  # a system call: see container.inline
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
            os._exit(TIMED_OUT_EXIT_CODE)

    # --- stopping ------------------------------------------------------------------------------

    def set_accept_enabled(self, enabled: bool) -> None:
        if not enabled and not self.alive:  # gthread's first step in stopping
            self.accept_the_backlog()
        super().set_accept_enabled(enabled)

    def accept_the_backlog(self) -> None:
        """Accept the connections waiting on the listeners, all of them once new handshakes are
        refused, else those queued now (`queued_now`); each is then read as usual."""
        for listener in self.sockets:
            limit = None if refuse_new_handshakes(listener) else self.queued_now(listener)
            listener.setblocking(False)
            # A listener polls readable while a connection waits (the connection count cannot
            # tell: the event loop may answer and close a connection within accept).
            accepted = 0
            while (limit is None or accepted < limit) and select.select([listener], [], [], 0)[0]:
                self.accept(listener)  # gthread's: hands the connection to enqueue_req
                accepted += 1

    def queued_now(self, listener: Any) -> int:
        """How many connections to accept from a listener that still completes handshakes (in
        Docker): those queued now, or as many as its backlog holds where that cannot be read."""
        queued = queued_connections(listener)
        limit = self.cfg.backlog if queued is None else queued
        self.log.info(
            "worker %s cannot stop new handshakes: it accepts the %s connections queued%s; one "
            "arriving later may be reset",
            self.pid,
            limit,
            " now" if queued is not None else " at most (the backlog)",
        )
        return limit
