"""Every place the server relies on gunicorn beyond its documented interface, in one module.

Owns: the assumptions about gunicorn's internals that the worker (`container.server.worker`) and
the fast path (`container.server.plain_http`) make, each written once, as a small function or a
name taken from gunicorn. gunicorn is pinned exactly (requirements/*.lock) because of them;
tests/test_gunicorn_internals.py states each one against the installed gunicorn and fails with
the assumption's name when an upgrade breaks it. Must not know about the application.

The assumptions, in gunicorn 27's terms:
- gthread's ThreadWorker: `enqueue_req(conn)` submits `handle(conn)` to the pool and defers
  `finish_request(conn, future)` to the event loop; `handle` skips `TConn.init()` (which would give
  the parser the socket) when `conn.initialized` is set, and skips its wait for data when
  `conn.data_ready` is; `handle_request(req, conn)` runs the app and returns whether to keep the
  connection; `murder_pending` runs after every round of the event loop; the loop's `poller`, `tpool`,
  `method_queue.defer`, `keepalived_conns`, `max_keepalived`, `nr`, `max_requests` and
  `on_client_socket_readable(conn, sock)` are what gthread itself uses for kept-alive connections.
- A parser from `http.get_parser(cfg, source, client)` reads any iterable of bytes, not only a
  socket; a Request it yields sends its own `100 Continue` unless `_expected_100_continue` is off.
- The `start_response` a WSGI app receives is a bound method of gunicorn's Response.
"""

from __future__ import annotations

import selectors
import time
from collections.abc import Mapping
from functools import partial
from typing import Any

from gunicorn import SERVER, http
from gunicorn.config import Config
from gunicorn.http.wsgi import HEADER_VALUE_RE, STATUS_RE, TOKEN_RE, base_environ
from gunicorn.util import is_hoppish, unquote_to_wsgi_str
from gunicorn.workers.gthread import STOP_KEEPALIVE_LINGER, ThreadWorker

__all__ = [
    "HEADER_VALUE_RE", "SERVER", "STATUS_RE", "TOKEN_RE", "ThreadWorker", "base_environ",
    "is_hoppish", "unquote_to_wsgi_str",
]  # fmt: skip


def parse_from_memory(conn: Any, cfg: Any, request: bytes) -> None:
    """Have gthread's `handle` parse the connection's request from `request` alone: it then
    never reads the socket, so it never waits on the client."""
    conn.initialized = True  # TConn.init would give the parser the socket
    conn.parser = http.get_parser(cfg, [request], conn.client)
    conn.data_ready = True  # no wait for the first bytes: they are in `request`


def leave_continue_to_the_loop(request: Any) -> None:
    """gunicorn's Request sends `100 Continue` when the app first reads the body; the event loop
    has sent it already, once, where it was due."""
    request._expected_100_continue = False


def response_of(start_response: Any) -> Any:
    """gunicorn's Response behind the `start_response` it gave the app."""
    return start_response.__self__


def count_request(worker: Any) -> bool:
    """gthread's bookkeeping before a request (from its `handle_request`): whether the
    request's connection may be kept alive."""
    worker.nr += 1
    if worker.nr >= worker.max_requests and worker.alive:
        worker.log.info("Autorestarting worker after current request.")
        worker.alive = False
    return (
        worker.alive and bool(worker.cfg.keepalive) and len(worker.keepalived_conns) < worker.max_keepalived
    )


def keep_alive(worker: Any, conn: Any) -> None:
    """gthread's `finish_request` for a connection kept alive: back to the poller, idle."""
    conn.sock.setblocking(False)
    conn.set_timeout()
    if not worker.alive:
        conn.timeout = min(conn.timeout, time.monotonic() + STOP_KEEPALIVE_LINGER)
    worker.keepalived_conns.append(conn)
    worker.poller.register(conn.sock, selectors.EVENT_READ, partial(worker.on_client_socket_readable, conn))


def in_pool(worker: Any, call: Any, then: Any, conn: Any, *args: Any) -> None:
    """Run `call(conn, *args)` in gthread's thread pool (`tpool`), then `then(conn, future)` on the
    event loop, as gthread's own `enqueue_req` does with `handle` and `finish_request`."""
    future = worker.tpool.submit(call, conn, *args)
    future.add_done_callback(lambda done: worker.method_queue.defer(then, conn, done))


def defer(worker: Any, callback: Any, *args: Any) -> None:
    """Run `callback(*args)` on the event loop's next round."""
    worker.method_queue.defer(callback, *args)


def does_more_than_http(cfg: Any, environ: Mapping[str, str]) -> bool:
    """Whether gunicorn does more than parse and frame HTTP/1.1 for a request: TLS, the PROXY
    protocol, a SCRIPT_NAME in the environment, request hooks."""
    defaults = Config()
    return (
        cfg.is_ssl
        or cfg.proxy_protocol not in (False, None, "off")
        or bool(environ.get("SCRIPT_NAME"))
        or cfg.pre_request is not defaults.pre_request
        or cfg.post_request is not defaults.post_request
    )
