"""Answering a request whose bytes are in hand: on the event loop, or in a pool thread.

Owns: the choice between the three (`dispatch`). A plain request (`container.server.plain_http`)
that the inline policy allows (`container.server.inline`; /ping always) is answered by the event
loop itself, without gunicorn's parser, environ builder or Response, and sent by
`container.server.sending`. Any other plain request is answered the same way in a pool thread
(`answer_plain_in_pool`), and sent by the event loop: that is every large /invocations body.
gunicorn's body reader hands a body over in 1 MiB steps, each copying what is left of it, so a
100 MiB body cost about 50 such copies (a 100 MiB CSV took 4.4 s to answer, against 1.2 s in
process; bench/results/batch.md); the plain environ's `wsgi.input` holds the body whole. A request
that is not plain goes to a pool thread through gthread's own `enqueue_req`, `handle` and
`handle_request`, with a parser over the bytes in hand, never the socket
(`gunicorn_internals.parse_from_memory`); the thread's writes are bounded by the request timeout.
Must not know how requests are read or what the application does with them.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

from container.server import gunicorn_internals, plain_http
from container.server.gunicorn_internals import ThreadWorker


class AnswersRequests(ThreadWorker):  # type: ignore[misc]
    """The worker's answering job (one base of `TimeoutThreadWorker`)."""

    def dispatch(self, conn: Any, request: bytes, body_unread: bool) -> None:
        """Answer a small, quick plain request on the event loop; hand any other to a pool
        thread, which parses it from `request` alone (`handle`)."""
        tcp = isinstance(conn.client, tuple) and isinstance(conn.server, tuple)  # not a Unix socket
        plain = (
            plain_http.parse(request, self.plain_limits, body_unread) if self.plain_limits and tcp else None
        )
        if plain is not None and self.inline.allows(len(request), plain.path):
            self.answer_plain(conn, request, plain)
        elif plain is not None:  # the request's bytes are left to the loop's frames, freed on return
            gunicorn_internals.in_pool(self, self.plain_in_pool, self.finish_plain, conn, len(request), plain)
        else:
            conn.read_ahead = request
            ThreadWorker.enqueue_req(self, conn)  # handle() in a pool thread, then finish_request()

    def answer_plain(self, conn: Any, request_bytes: bytes, request: plain_http.PlainRequest) -> None:
        """What gthread's handle, handle_request and finish_request do for a request, less
        gunicorn's parser and Response."""
        self.release(conn)
        payload, must_close = self.plain_in_pool(conn, len(request_bytes), request)
        self.send_answer(conn, payload, must_close)

    def plain_in_pool(
        self, conn: Any, request_size: int, request: plain_http.PlainRequest
    ) -> tuple[bytes, bool]:
        """A plain request's answer and whether its connection closes after it (in a pool thread, or
        on the event loop through answer_plain)."""
        counted = self.inline.counts(request_size, request.path)
        response = plain_http.PlainResponse(request)
        if not gunicorn_internals.count_request(self) or not conn.keep_open:
            response.force_close()
        try:
            payload = self.timed(counted, self.plain_payload, request, response, conn)
        except Exception:
            self.log.exception("Error handling request %s %s", request.method, request.uri)
            return plain_http.INTERNAL_ERROR, True
        return payload, response.must_close

    def finish_plain(self, conn: Any, done: Future[tuple[bytes, bool]]) -> None:
        """Back on the event loop: send what `plain_in_pool` answered."""
        self.release(conn)
        payload, must_close = done.result() if done.exception() is None else (plain_http.INTERNAL_ERROR, True)
        self.send_answer(conn, payload, must_close)

    def plain_payload(
        self, request: plain_http.PlainRequest, response: plain_http.PlainResponse, conn: Any
    ) -> bytes:
        chunks = self.wsgi(plain_http.environ(request, self.base_environ, conn), response.start_response)
        try:
            return response.payload(chunks, self.date.now())
        finally:
            if hasattr(chunks, "close"):
                chunks.close()

    def handle(self, conn: Any) -> Any:
        """gthread's, in a pool thread, with a parser that reads the request's bytes from memory:
        whatever they hold, it never waits on the client (what is missing reads as the end)."""
        request = conn.__dict__.pop("read_ahead")
        conn.request_size = len(request)
        gunicorn_internals.parse_from_memory(conn, self.cfg, request)
        return ThreadWorker.handle(self, conn)

    def handle_request(self, req: Any, conn: Any) -> Any:
        """gthread's, timed, with the answer's writes bounded by the request timeout."""
        counted = self.inline.counts(conn.request_size, req.path)
        gunicorn_internals.leave_continue_to_the_loop(req)
        conn.sock.settimeout(self.cfg.timeout)
        try:
            return self.timed(counted, ThreadWorker.handle_request, self, req, conn)
        except TimeoutError:
            self.log.debug("A client read none of its answer for %s s: disconnected", self.cfg.timeout)
            return False

    def finish_request(self, conn: Any, fs: Future[Any]) -> None:
        """Back on the event loop once a pool thread has answered (gthread's, for connections
        that `handle` only ever sees with their request in hand)."""
        self.release(conn)
        keep = not fs.cancelled() and fs.exception() is None and bool(fs.result())
        self.answered(conn, must_close=not keep)
