"""The gunicorn worker class: gthread, plus whole-request reading, deadlines on every wait, a
per-request timeout, a lossless stop, and one invariant that gthread does not keep.

The invariant: the event loop never waits on a client. Every read and write it performs is
non-blocking; every wait on a client (a request still arriving, an answer the client is slow to
take, a lingering close) is a registration with the poller that has a deadline. A request leaves
the loop only with its bytes in hand, or with a verdict its headers already decide (a body over
the limit, a broken chunk size line): the pool thread that answers it parses those bytes from
memory, so a thread never waits on a client to send either, and its writes are bounded by the
request timeout. One connection, however hostile, holds at most its own slot for at most the
timeout. tests/test_hostile_http.py holds this against raw sockets, on gunicorn and in the image.

Why gthread: its spare threads answer /ping while other threads predict (XGBoost and
scikit-learn's tree code release the GIL), so the health check does not queue behind long
predictions the way it does with sync workers; and it keeps connections alive.

The worker's jobs, one module each; this class only assembles them and sets the worker up:
- `reading`: requests read whole on the event loop (`read_ahead` frames them), so clients
  trickling headers or bodies hold no thread; the admission of large bodies.
- `answering`: small, quick plain requests answered by the loop itself (`inline`, `plain_http`:
  no gunicorn parser, environ builder or Response), other plain ones the same way by a pool
  thread (large bodies among them), any other by a pool thread through gunicorn's parser.
- `sending`: answers sent as the client reads; connections kept alive, pipelined or closed.
- `deadlines`: every wait ended at its deadline; the per-request timeout.
- `stopping`: on SIGTERM, every connection the kernel had accepted is answered.
- `gunicorn_internals`: every touch of gunicorn beyond its documented interface.
The worker also runs under SCHED_BATCH (`scheduling`): hand-overs between its event loop and its
threads no longer preempt the thread holding the GIL.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from container.server import gunicorn_internals, plain_http
from container.server.answering import AnswersRequests
from container.server.deadlines import EnforcesDeadlines
from container.server.inline import InlinePolicy
from container.server.reading import ReadsWholeRequests
from container.server.scheduling import prefer_run_to_block
from container.server.sending import SendsWithoutWaiting
from container.server.stopping import StopsLosslessly
from container.settings import Settings

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Any]


def honouring_connection_close(app: WSGIApp) -> WSGIApp:
    """gunicorn drops the hop-by-hop `Connection` header of a response and keeps the connection
    alive. The app sends `Connection: close` when it leaves a body unread (413): the header then
    reaches the client and the connection is closed, instead of the client reusing a connection
    the server is about to drop."""

    def application(environ: dict[str, Any], start_response: Any) -> Any:
        def start(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            if ("Connection", "close") in headers:
                gunicorn_internals.response_of(start_response).force_close()
            return start_response(status, headers, *exc_info)

        return app(environ, start)

    return application


class TimeoutThreadWorker(
    StopsLosslessly, EnforcesDeadlines, AnswersRequests, ReadsWholeRequests, SendsWithoutWaiting
):
    wsgi: WSGIApp  # set by gunicorn's load_wsgi
    alive: bool  # gunicorn's Worker: False once the worker is to stop

    def init_process(self) -> None:
        self.init_reading()
        self.init_sending()
        self.init_deadlines()
        self.inline = InlinePolicy()
        refused = prefer_run_to_block()  # before the pool starts its threads: they inherit it
        if refused:
            self.log.warning("worker %s keeps the default CPU scheduling: %s", self.pid, refused)
        super().init_process()

    def load_wsgi(self) -> None:
        super().load_wsgi()  # a bad configuration stops the server here, with its message
        self.instruments = getattr(self.wsgi, "observer", None)  # container.metrics: timeouts
        settings = Settings.from_env(os.environ)
        self.body_limit = settings.max_body_bytes
        self.wsgi = honouring_connection_close(self.wsgi)
        plain = settings.http_parser == "byom" and not gunicorn_internals.does_more_than_http(
            self.cfg, os.environ
        )
        self.plain_limits = plain_http.Limits.of(self.cfg) if plain else None
        self.base_environ = gunicorn_internals.base_environ(self.cfg)
        self.date = plain_http.DateHeader()
