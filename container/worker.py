"""The gunicorn worker class: gthread, plus whole-request reading, a per-request timeout and a
lossless stop.

Why gthread: its spare threads answer /ping while other threads predict (XGBoost and
scikit-learn's tree code release the GIL), so the health check does not queue behind long
predictions the way it does with sync workers; and it keeps connections alive.

Why a subclass:
- Slow clients. Requests are read whole by the event loop before a thread takes them
  (`container.read_ahead`), so clients trickling headers or bodies hold no thread.
- Timeouts. gthread's main loop heartbeats every second whatever its threads are doing, so
  gunicorn's `timeout` never stops a runaway request there. This worker remembers when each
  request began and, once one has run longer than the timeout (SAGEMAKER_MODEL_SERVER_TIMEOUT),
  logs it and exits; gunicorn starts a fresh worker, as it does for a timed-out sync worker. A
  request must also have arrived whole within that timeout, or its connection is closed.
- SIGTERM. It accepts every connection the kernel had already accepted for it, after stopping
  new handshakes (`container.listener`), instead of letting gunicorn close the listener on them:
  a client whose connect() returned before the signal gets its answer. Where handshakes cannot
  be stopped (Docker), it accepts as many as were queued at the signal, then stops.
- Scheduling. The worker runs under SCHED_BATCH (`container.scheduling`): hand-overs between
  its event loop and its threads no longer preempt the thread holding the GIL.
- Small, quick requests skip the hand-overs: the event loop answers them itself
  (`container.inline`). One that runs away there stops the loop's heartbeat, so gunicorn's master
  replaces the worker after the same timeout.
- Plain ones among them (`container.plain_http`) also skip gunicorn's request parser, environ
  builder and Response, which took most of the CPU time of a small request: the event loop builds
  their environ and sends their answer in one send. Where gunicorn does more than parse and
  frame HTTP/1.1 (TLS, the PROXY protocol, SCRIPT_NAME, request hooks) every request takes its
  path. What a socket's send buffer cannot take of a plain answer at once, a pool thread sends:
  a client slow to read holds a thread, as in gthread, not the loop and its other connections;
  one that reads nothing for the timeout is disconnected.
"""

from __future__ import annotations

import os
import select
import selectors
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import suppress
from functools import partial
from typing import Any

from gunicorn import util
from gunicorn.config import Config
from gunicorn.http.wsgi import base_environ
from gunicorn.workers.gthread import STOP_KEEPALIVE_LINGER, ThreadWorker

from container import plain_http
from container.inline import InlinePolicy
from container.listener import queued_connections, refuse_new_handshakes
from container.read_ahead import CONTINUE, READ_SIZE, SMALL_REQUEST, Incoming
from container.scheduling import prefer_run_to_block
from container.settings import Settings

TIMED_OUT_EXIT_CODE = 70
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


def send_blocking(sock: Any, data: memoryview, timeout: float) -> None:
    """Send all of data on a non-blocking socket, waiting at most `timeout` seconds at a time for
    the client to read (TimeoutError after that)."""
    sock.settimeout(timeout)
    try:
        sock.sendall(data)
    finally:
        sock.setblocking(False)


class TimeoutThreadWorker(ThreadWorker):  # type: ignore[misc]
    wsgi: WSGIApp  # set by gunicorn's load_wsgi
    alive: bool  # gunicorn's Worker: False once the worker is to stop

    def init_process(self) -> None:
        self.request_started: dict[int, float] = {}
        self.incoming: dict[Any, Incoming] = {}  # connections being read, by TConn
        self.large: set[Any] = set()  # connections reading a large body: at most one per thread
        self.held_back: deque[Any] = deque()  # large bodies waiting for one of those places
        self.watched: set[Any] = set()  # connections registered with the poller for reading
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

    # --- reading requests whole, in the event loop ---------------------------------------------

    def enqueue_req(self, conn: Any) -> None:
        if conn.initialized and conn.parser.unreader.buf.getvalue():  # a pipelined request
            super().enqueue_req(conn)  # its bytes are already in hand: gthread's way
            return
        conn.sock.setblocking(False)
        self.incoming[conn] = Incoming.starting(self.cfg.timeout)
        # A kept-alive connection comes here because it polled readable: its request is usually
        # in already, and reading it now saves a round through the poller.
        self.read_some(conn)

    def read_some(self, conn: Any, _fileobj: Any = None) -> None:
        incoming = self.incoming[conn]
        if len(incoming.data) >= SMALL_REQUEST and not self.admit_large(conn):
            self.unwatch(conn)
            self.held_back.append(conn)
            return
        try:
            chunk = conn.sock.recv(READ_SIZE)
        except BlockingIOError:
            self.watch(conn)
            return
        except OSError:
            chunk = b""
        if not chunk and not incoming.data:  # an idle connection closed by its client
            self.forget(conn)
            return
        incoming.add(chunk, self.body_limit)
        if incoming.wants_continue and not self.send_continue(conn, incoming):
            return
        if incoming.handover or not chunk:  # complete, or cut short: the parser or app answers 400
            self.unwatch(conn)
            del self.incoming[conn]
            conn.read_ahead = incoming.data  # the parser copies it once, in unread()
            if self.inline.allows(len(incoming.data)):
                self.answer_here(conn)
            else:
                super().enqueue_req(conn)
        else:
            self.watch(conn)

    def answer_here(self, conn: Any) -> None:
        """Answer a small request on the event loop: a plain one directly (`container.plain_http`),
        any other as a pool thread and then gthread's completion callback would, gthread's `handle`
        turning every Exception into an answer or a closed connection."""
        tcp = isinstance(conn.client, tuple) and isinstance(conn.server, tuple)  # not a Unix socket
        request = plain_http.parse(conn.read_ahead, self.plain_limits) if self.plain_limits and tcp else None
        if request is not None:
            self.answer_plain(conn, request)
            return
        done: Future[Any] = Future()
        done.set_result(self.handle(conn))
        self.finish_request(conn, done)

    def answer_plain(self, conn: Any, request: plain_http.PlainRequest) -> None:
        """What gthread's handle, handle_request and finish_request do for a request, less
        gunicorn's parser and Response: the answer goes out in one send."""
        counted = self.inline.counts(len(conn.read_ahead), request.path)
        del conn.read_ahead
        self.release(conn)
        response = plain_http.PlainResponse(request)
        if not self.count_request():
            response.force_close()
        try:
            payload = self.timed(counted, self.plain_payload, request, response, conn)
        except Exception:
            self.log.exception("Error handling request %s %s", request.method, request.uri)
            with suppress(OSError):
                util.write_error(conn.sock, 500, "Internal Server Error", "")
            self.close(conn)
            return
        self.send_answer(conn, payload, response.must_close)

    def send_answer(self, conn: Any, payload: bytes, must_close: bool) -> None:
        """Send what the socket's send buffer takes at once; a pool thread sends the rest, as
        gthread's threads send every answer, so a client slow to read holds a thread, never the
        event loop and the other connections it serves: for at most the request timeout at a
        time (gunicorn's `timeout`, SAGEMAKER_MODEL_SERVER_TIMEOUT), then it is disconnected."""
        try:
            sent = conn.sock.send(payload)
        except BlockingIOError:
            sent = 0
        except OSError as error:
            self.not_sent(conn, error)
            return
        if sent == len(payload):
            self.answered(conn, must_close)
            return
        done = self.tpool.submit(send_blocking, conn.sock, memoryview(payload)[sent:], self.cfg.timeout)
        done.add_done_callback(lambda _: self.method_queue.defer(self.sent_in_thread, conn, done, must_close))

    def sent_in_thread(self, conn: Any, done: Future[None], must_close: bool) -> None:
        """Back on the event loop once a pool thread has sent the rest of an answer, or failed."""
        try:
            done.result()
        except OSError as error:
            self.not_sent(conn, error)
            return
        self.answered(conn, must_close)

    def answered(self, conn: Any, must_close: bool) -> None:
        """gthread's finish_request once an answer is out: keep the connection alive or close it."""
        if must_close:
            self.close(conn)
        else:
            self.keep_alive(conn)

    def not_sent(self, conn: Any, error: OSError) -> None:
        self.log.debug("Could not send an answer: %s", error)
        self.close(conn)

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

    def keep_alive(self, conn: Any) -> None:
        """gthread's finish_request for a connection kept alive."""
        conn.set_timeout()
        if not self.alive:
            conn.timeout = min(conn.timeout, time.monotonic() + STOP_KEEPALIVE_LINGER)
        self.keepalived_conns.append(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_client_socket_readable, conn))

    def close(self, conn: Any) -> None:
        self.nr_conns -= 1
        conn.close(graceful=True)

    def watch(self, conn: Any) -> None:
        if conn not in self.watched:
            self.watched.add(conn)
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.read_some, conn))

    def unwatch(self, conn: Any) -> None:
        if conn in self.watched:
            self.watched.discard(conn)
            self.poller.unregister(conn.sock)

    def send_continue(self, conn: Any, incoming: Incoming) -> bool:
        """Tell a client waiting on `Expect: 100-continue` to send its body (gunicorn's own 100
        comes only when a thread takes the request; a second 1xx is allowed)."""
        incoming.wants_continue = False
        try:
            conn.sock.send(CONTINUE)  # 25 bytes into an idle connection's send buffer
        except OSError:
            self.forget(conn)
            return False
        return True

    def handle(self, conn: Any) -> Any:
        ahead = getattr(conn, "read_ahead", None)
        if ahead is not None:
            conn.init()
            conn.parser.unreader.unread(ahead)
            conn.data_ready = True
        return super().handle(conn)

    def finish_request(self, conn: Any, fs: Any) -> None:
        conn.__dict__.pop("read_ahead", None)
        self.release(conn)
        super().finish_request(conn, fs)

    def admit_large(self, conn: Any) -> bool:
        """One large body per thread is read (and then processed) at a time: memory stays at
        threads x payload limit, as when threads read bodies themselves, and every body being
        read can complete, so none waits on another."""
        if conn not in self.large and len(self.large) < self.cfg.threads:
            self.large.add(conn)
        return conn in self.large

    def release(self, conn: Any) -> None:
        self.large.discard(conn)
        while self.held_back and len(self.large) < self.cfg.threads:
            waiting = self.held_back.popleft()
            if waiting in self.incoming:
                self.large.add(waiting)
                self.watch(waiting)

    def forget(self, conn: Any) -> None:
        self.unwatch(conn)
        del self.incoming[conn]
        self.nr_conns -= 1
        conn.close()
        self.release(conn)

    def murder_pending(self) -> None:
        super().murder_pending()
        now = time.monotonic()
        late = [conn for conn, incoming in self.incoming.items() if incoming.deadline < now]
        for conn in late:
            self.forget(conn)
        if late:
            self.held_back = deque(conn for conn in self.held_back if conn in self.incoming)

    # --- the per-request timeout ---------------------------------------------------------------

    def handle_request(self, req: Any, conn: Any) -> Any:
        ahead = getattr(conn, "read_ahead", None)
        counted = ahead is not None and self.inline.counts(len(ahead), req.path)
        return self.timed(counted, super().handle_request, req, conn)

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
