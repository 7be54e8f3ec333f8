"""Each assumption container.server.gunicorn_internals makes about gunicorn, checked against the
installed gunicorn, so an upgrade that breaks one fails here with the assumption's name instead
of somewhere in the worker. Behaviour is checked where it can be (real sockets, a real parser, a
real ThreadWorker); where gunicorn offers no handle, its source is read for the one call relied on.
"""

from __future__ import annotations

import inspect
import logging
import os
import re
import selectors
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

import gunicorn
import pytest
from gunicorn.config import Config
from gunicorn.http import wsgi
from gunicorn.workers.gthread import TConn, ThreadWorker

from container.server import gunicorn_internals
from tests.helpers.harness import REPO

PING = b"GET /ping HTTP/1.1\r\nHost: t\r\n\r\n"
EXPECTING = b"POST /invocations HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc"


@pytest.fixture
def conn() -> Iterator[Any]:
    """A gthread TConn on one end of a socket pair; the other end never sends."""
    ours, theirs = socket.socketpair()
    with ours, theirs:
        connection = TConn(Config(), ours, ("127.0.0.1", 1), ("127.0.0.1", 2))
        connection.peer = theirs
        yield connection


@pytest.fixture
def worker() -> ThreadWorker:
    return ThreadWorker(0, os.getpid(), [], None, 30, Config(), logging.getLogger("test"))


def test_the_assumptions_were_checked_against_the_pinned_gunicorn() -> None:
    pinned = re.search(r"^gunicorn==(\S+)", (REPO / "requirements" / "runtime.lock").read_text(), re.M)
    assert pinned and gunicorn.__version__ == pinned[1], "gunicorn is not the pinned version"


def test_a_parser_reads_a_request_from_memory_and_never_the_socket(conn: Any) -> None:
    gunicorn_internals.parse_from_memory(conn, conn.cfg, PING)
    conn.sock.setblocking(True)  # as gthread's handle does: a read of the socket would hang
    request = next(conn.parser)
    assert request.path == "/ping"
    assert conn.initialized and conn.data_ready, "TConn's flags that make handle skip init and the wait"
    assert next(conn.parser, None) is None, "what is missing reads as the end of input"


def test_handle_neither_initialises_nor_waits_when_the_request_is_in_hand(conn: Any, worker: Any) -> None:
    handled = []
    worker.handle_request = lambda req, c: handled.append(req.path) or False
    gunicorn_internals.parse_from_memory(conn, conn.cfg, PING)
    thread = threading.Thread(target=ThreadWorker.handle, args=(worker, conn), daemon=True)
    thread.start()
    thread.join(5)
    assert not thread.is_alive(), "ThreadWorker.handle read the socket instead of the parser"
    assert handled == ["/ping"], "ThreadWorker.handle calls handle_request(req, conn)"


def test_a_request_sends_its_own_100_continue_unless_told_not_to(conn: Any) -> None:
    for leave_it in (False, True):
        gunicorn_internals.parse_from_memory(conn, conn.cfg, EXPECTING)
        request = next(conn.parser)
        if leave_it:
            gunicorn_internals.leave_continue_to_the_loop(request)
        wsgi.create(request, conn.sock, conn.client, conn.server, conn.cfg)
        conn.peer.settimeout(0.2)
        try:
            sent = conn.peer.recv(100)
        except TimeoutError:
            sent = b""
        assert (sent == b"") == leave_it, "Request._expected_100_continue decides gunicorn's 100 Continue"


def test_start_response_is_a_bound_method_of_the_response(conn: Any) -> None:
    gunicorn_internals.parse_from_memory(conn, conn.cfg, PING)
    response, _ = wsgi.create(next(conn.parser), conn.sock, conn.client, conn.server, conn.cfg)
    assert gunicorn_internals.response_of(response.start_response) is response
    assert hasattr(response, "force_close")


def test_the_bookkeeping_count_request_copies_is_gthreads(worker: Any) -> None:
    for name in ("nr", "max_requests", "alive", "keepalived_conns", "max_keepalived", "nr_conns"):
        assert hasattr(worker, name), f"ThreadWorker.{name}"
    assert gunicorn_internals.count_request(worker) and worker.nr == 1
    source = inspect.getsource(ThreadWorker.handle_request)
    assert "self.nr >= self.max_requests" in source and "self.max_keepalived" in source


def test_enqueue_req_submits_handle_and_defers_finish_request(conn: Any, worker: Any) -> None:
    submitted: list[Any] = []
    deferred: list[Any] = []
    future: Future[Any] = Future()
    worker.tpool = type("Pool", (), {"submit": lambda _, *call: submitted.append(call) or future})()
    worker.method_queue.defer = lambda *call: deferred.append(call)
    ThreadWorker.enqueue_req(worker, conn)
    assert submitted == [(worker.handle, conn)], "enqueue_req submits handle(conn) to the pool"
    future.set_result(True)
    assert deferred == [(worker.finish_request, conn, future)], "then defers finish_request(conn, future)"


def test_a_connection_kept_alive_is_gthreads_to_watch(conn: Any, worker: Any) -> None:
    enqueued = []
    worker.poller = selectors.DefaultSelector()
    worker.enqueue_req = enqueued.append
    gunicorn_internals.keep_alive(worker, conn)
    assert conn in worker.keepalived_conns and conn.timeout is not None
    key = worker.poller.get_key(conn.sock)
    key.data(conn.sock)  # the poller's callback, as gthread's loop calls it
    assert enqueued == [conn] and conn not in worker.keepalived_conns, "on_client_socket_readable(conn, sock)"


def test_defer_runs_on_the_loops_next_round(worker: Any) -> None:
    worker.method_queue.init()
    ran = []
    gunicorn_internals.defer(worker, ran.append, 1)
    worker.method_queue.run_callbacks(None)
    assert ran == [1]
    worker.method_queue.close()


def test_the_loop_calls_murder_pending_every_round_and_init_process_makes_the_poller() -> None:
    assert "self.murder_pending()" in inspect.getsource(ThreadWorker.run)
    assert "self.poller = " in inspect.getsource(ThreadWorker.init_process)


@pytest.mark.parametrize("setting", ["certfile", "proxy_protocol", "pre_request", "post_request"])
def test_what_makes_gunicorn_do_more_than_http_is_a_setting(setting: str) -> None:
    assert setting in Config().settings, f"gunicorn's {setting} setting"
