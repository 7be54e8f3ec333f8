"""Plain HTTP/1.1 requests, answered without gunicorn's request parser and response writer.

Owns: which requests are plain, the WSGI environ of one, and the bytes of its answer. The worker's
event loop answers small, quick requests itself (`container.server.inline`); for those, gunicorn's own
machinery was most of the cost: on one core with 3 workers, a trivial handler (bench/trivial.py)
served 3,665-3,759 requests/s through its parser, header policy, environ and Response, and
7,693-7,925 without them (wrk -c16, interleaved runs).

A request is plain when it is, exactly and whole: `GET` or `POST`, an origin-form target of
visible ASCII without a fragment, `HTTP/1.1`, header lines `name: value` of tokens (without `_`)
and visible ASCII, each name once, a body framed by Content-Length (or none) and nothing after
it. Its Connection header, if any, says `keep-alive` or `close`. Names gunicorn treats specially
are not plain: Transfer-Encoding, Expect, Upgrade, HTTP2-Settings and its secure-scheme headers
(X-Forwarded-Proto and the like), as are requests over gunicorn's size limits. Anything else
(HTTP/1.0, HEAD, chunked bodies, pipelined requests, malformed ones) goes through gunicorn, which
answers or refuses it as before. For a plain request the environ holds what gunicorn's would,
but `wsgi.early_hints`; the answer's bytes are gunicorn's, but for its Date header, formatted
once a second, and for an answer of unknown length, sent as one chunk rather than one per item
the app yields; tests/test_plain_http.py compares both with gunicorn's on a corpus.
`BYOM_HTTP_PARSER=python` or `=fast` turns this path off: every request then takes gunicorn's
parser (docs/performance.md measures both and says why this one is the default).
"""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus
from typing import Any

from container.errors import ContainerError, RequestTimeout
from container.server.gunicorn_internals import (
    HEADER_VALUE_RE,
    SERVER,
    STATUS_RE,
    TOKEN_RE,
    is_hoppish,
    unquote_to_wsgi_str,
)
from container.server.read_ahead import MAX_DIGITS

REQUEST_LINE = re.compile(r"(GET|POST) (/(?!/)[!-\x22$-~]*) HTTP/1\.1")  # no "#": no fragment
HEADER_LINE = re.compile(r"([!#$%&'*+.^`|~0-9A-Za-z-]+):[ \t]*((?:[ \t]*[!-~])*)[ \t]*")
NOT_PLAIN = frozenset({"TRANSFER-ENCODING", "EXPECT", "UPGRADE", "HTTP2-SETTINGS"})
NO_BODY_STATUSES = frozenset({204, 304})  # and 1xx


@dataclass(frozen=True)
class Limits:
    """gunicorn's limits, and the header names it reads as a request's scheme: a request over a
    limit or carrying such a header is left to gunicorn, which refuses or interprets it."""

    request_line: int
    fields: int
    field_size: int
    scheme_headers: frozenset[str]

    @classmethod
    def of(cls, cfg: Any) -> Limits:
        return cls(
            request_line=cfg.limit_request_line,
            fields=cfg.limit_request_fields,
            field_size=cfg.limit_request_field_size,
            scheme_headers=frozenset(cfg.secure_scheme_headers),
        )


@dataclass(frozen=True)
class PlainRequest:
    method: str
    uri: str  # the request target, as received
    headers: dict[str, str]  # upper-case names, in the order received
    body: bytes
    close: bool  # the client sent `Connection: close`

    @property
    def path(self) -> str:
        return self.uri.partition("?")[0]


def parse(data: bytes | bytearray, limits: Limits, body_unread: bool = False) -> PlainRequest | None:
    """The request in `data` if it is plain and exactly one whole request, else None. With
    `body_unread`, `data` is the headers of a request whose body is not read (over the payload
    limit, refused from its Content-Length): its body is empty, and its connection closes."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = data[:end].decode("latin-1").split("\r\n")
    first = REQUEST_LINE.fullmatch(lines[0])
    if first is None or len(lines[0]) > limits.request_line > 0 or len(lines) - 1 > limits.fields:
        return None
    headers = _headers(lines[1:], limits)
    if headers is None:
        return None
    length = headers.get("CONTENT-LENGTH", "0")
    if not (length.isascii() and length.isdigit()) or len(length) > MAX_DIGITS:  # longer: gunicorn's
        return None
    if end + 4 + (0 if body_unread else int(length)) != len(data):
        return None
    connection = headers.get("CONNECTION", "keep-alive").lower()
    if connection not in ("keep-alive", "close"):
        return None
    method, uri = first.groups()
    return PlainRequest(method, uri, headers, bytes(data[end + 4 :]), connection == "close" or body_unread)


def _headers(lines: list[str], limits: Limits) -> dict[str, str] | None:
    headers: dict[str, str] = {}
    for line in lines:
        field = None if len(line) + 2 > limits.field_size > 0 else HEADER_LINE.fullmatch(line)
        if field is None:
            return None
        name = field[1].upper()
        if name in headers or name in NOT_PLAIN or name in limits.scheme_headers:
            return None
        headers[name] = field[2]
    return headers


def environ(request: PlainRequest, base: dict[str, Any], conn: Any) -> dict[str, Any]:
    """gunicorn's environ for a plain request on a TCP connection (a gthread TConn whose client
    and server are address tuples); `base` is gunicorn's `base_environ` for the worker's
    configuration."""
    path, _, query = request.uri.partition("?")  # as urllib.parse.urlsplit splits these
    env = base.copy()
    env["wsgi.input"] = io.BytesIO(request.body)
    env["wsgi.multithread"] = True
    env["wsgi.url_scheme"] = "http"
    env["gunicorn.socket"] = conn.sock
    env["REQUEST_METHOD"] = request.method
    env["QUERY_STRING"] = query
    env["RAW_URI"] = request.uri
    env["SERVER_PROTOCOL"] = "HTTP/1.1"
    for name, value in request.headers.items():
        if name == "CONTENT-TYPE" or name == "CONTENT-LENGTH":
            env[name.replace("-", "_")] = value
        else:
            env["HTTP_" + name.replace("-", "_")] = value
    env["REMOTE_ADDR"], env["REMOTE_PORT"] = conn.client[0], str(conn.client[1])
    env["SERVER_NAME"], env["SERVER_PORT"] = conn.server[0], str(conn.server[1])
    env["PATH_INFO"] = unquote_to_wsgi_str(path) if "%" in path else path
    env["SCRIPT_NAME"] = ""
    return env


def canned(error: ContainerError) -> bytes:
    """A whole answer, closing the connection, for what the worker answers without the app: the
    app's JSON error body (container.errors)."""
    body = json.dumps(error.body()).encode()
    head = (
        f"HTTP/1.1 {error.status} {HTTPStatus(error.status).phrase}\r\nServer: {SERVER}\r\n"
        f"Connection: close\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


REQUEST_TIMEOUT = canned(RequestTimeout("the request did not arrive in time; send it again"))
INTERNAL_ERROR = canned(ContainerError("the server failed to handle this request; see its log"))


class DateHeader:
    """The Date header's value, formatted once per second."""

    def __init__(self) -> None:
        self.second = -1
        self.text = ""

    def now(self) -> str:
        second = int(time.time())
        if second != self.second:
            self.text = formatdate(second, usegmt=True)
            self.second = second
        return self.text


class PlainResponse:
    """The WSGI start_response of one plain request, and the answer's bytes, framed as gunicorn's
    Response frames them for an HTTP/1.1 request. The app's Upgrade headers are dropped with the
    other hop-by-hop ones, and a body shorter than its Content-Length closes the connection."""

    def __init__(self, request: PlainRequest) -> None:
        self.must_close = request.close
        self.status = ""
        self.status_code = 0
        self.headers: list[tuple[str, str]] = []
        self.length: int | None = None
        self.written: list[bytes] = []  # through the WSGI write() callable

    def force_close(self) -> None:
        self.must_close = True

    def start_response(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        if exc_info is None and self.status:
            raise AssertionError("Response headers already set!")
        if not isinstance(status, str) or not STATUS_RE.fullmatch(status):
            raise ValueError(f"Invalid status {status!r}")
        self.status, self.status_code, self.headers, self.length = status, int(status[:3]), [], None
        for name, value in headers:
            self._add(name, value)
        if self.status_code == 204 or self.status_code < 200:  # RFC 9110 6.4.2: no Content-Length
            self.headers = [(name, value) for name, value in self.headers if name.lower() != "content-length"]
            self.length = None
        return self.write

    def _add(self, name: str, value: str) -> None:
        if not isinstance(name, str) or not TOKEN_RE.fullmatch(name):
            raise ValueError(f"Invalid response header name {name!r}")
        if not isinstance(value, str) or not HEADER_VALUE_RE.fullmatch(value):
            raise ValueError(f"Invalid value of response header {name!r}")
        value = value.strip(" \t")
        if name.lower() == "content-length":
            self.length = int(value)
        elif is_hoppish(name):
            return
        self.headers.append((name, value))

    def write(self, data: bytes) -> None:
        if not isinstance(data, bytes):
            raise TypeError(f"{data!r} is not a byte")
        self.written.append(data)

    def payload(self, chunks: Iterable[bytes], date: str) -> bytes:
        """The whole answer: status line, headers and the app's body, framed by its
        Content-Length (cut to it, as gunicorn does) or chunked."""
        body = b"".join([*self.written, *chunks])
        omits_body = self.status_code in NO_BODY_STATUSES or self.status_code < 200
        chunked = self.length is None and not omits_body
        if omits_body:
            body = b""
        elif self.length is not None:
            self.must_close = self.must_close or len(body) < self.length  # the framing is broken
            body = body[: self.length]
        elif body:
            body = b"%X\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        else:
            body = b"0\r\n\r\n"
        head = [
            f"HTTP/1.1 {self.status}\r\nServer: {SERVER}\r\nDate: {date}\r\n",
            f"Connection: {'close' if self.must_close else 'keep-alive'}\r\n",
            "Transfer-Encoding: chunked\r\n" if chunked else "",
            *(f"{name}: {value}\r\n" for name, value in self.headers),
            "\r\n",
        ]
        return "".join(head).encode("latin-1") + body
