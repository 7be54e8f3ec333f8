"""Plain requests (`container.server.plain_http`) get gunicorn's environ and gunicorn's answer bytes;
every other request is left to gunicorn."""

from __future__ import annotations

import re
from typing import Any

import pytest
from gunicorn.config import Config
from gunicorn.http import wsgi
from gunicorn.http.parser import RequestParser
from gunicorn.util import http_date

from container.server import plain_http
from container.server.plain_http import DateHeader, Limits, PlainResponse, parse

CLIENT = ("127.0.0.1", 40123)
SERVER = ("127.0.0.1", 8080)
LIMITS = Limits.of(Config())
# Objects, not values: each side has its own.
OBJECTS = {"wsgi.input", "wsgi.errors", "gunicorn.socket", "wsgi.file_wrapper", "wsgi.early_hints"}

PLAIN = [
    b"GET /ping HTTP/1.1\r\nHost: localhost:8080\r\n\r\n",
    b"GET /ping HTTP/1.1\r\n\r\n",
    b"POST /invocations HTTP/1.1\r\nHost: h\r\nContent-Type: text/csv\r\n\r\n",  # no body
    b"POST /invocations HTTP/1.1\r\nHost: h\r\nContent-Type: text/csv\r\nContent-Length: 15\r\n\r\n"
    b"5.1,3.5,1.4,0.2",
    b"POST /invocations HTTP/1.1\r\ncontent-type: application/json\r\nACCEPT: text/csv\r\n"
    b"content-length: 2\r\n\r\n[]",
    b"POST /invocations?a=1&b=%20x?y HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
    b"GET /a%20b/%C3%A9%2Fc HTTP/1.1\r\nHost: h\r\n\r\n",
    b'POST /invocations HTTP/1.1\r\nX-Amzn-SageMaker-Custom-Attributes: k=v; a="b c"\r\n'
    b"X-Amzn-SageMaker-Inference-Id: 1234\r\nContent-Length: 3\r\n\r\n1,2",
    b"POST /invocations HTTP/1.1\r\nContent-Length:3\r\nX-Empty:\r\nX-Spaces: \t a  b \t\r\n\r\n1,2",
    b"POST /invocations HTTP/1.1\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n1",
    b"POST /invocations HTTP/1.1\r\nConnection: Close\r\nContent-Length: 1\r\n\r\n1",
    b"POST /invocations HTTP/1.1\r\nContent-Encoding: gzip\r\nContent-Length: 1\r\n\r\n\x00",
    b"GET /ping HTTP/1.1\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n",
]

CLOSING = next(raw for raw in PLAIN if b"Connection: Close" in raw)

NOT_PLAIN = [
    b"GET /ping HTTP/1.0\r\n\r\n",
    b"HEAD /ping HTTP/1.1\r\n\r\n",
    b"PUT /invocations HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
    b"get /ping HTTP/1.1\r\n\r\n",
    b"GET http://h/ping HTTP/1.1\r\n\r\n",
    b"GET //ping HTTP/1.1\r\n\r\n",
    b"GET /ping#x HTTP/1.1\r\n\r\n",
    b"GET /p\xe9 HTTP/1.1\r\n\r\n",
    b"GET  /ping HTTP/1.1\r\n\r\n",
    b"\r\nGET /ping HTTP/1.1\r\n\r\n",
    b"GET /ping HTTP/1.1\r\nHost: h\r\n",  # the head does not end
    b"GET /ping HTTP/1.1\nHost: h\r\n\r\n",
    b"GET /ping HTTP/1.1\r\nX_Forwarded_For: 1.2.3.4\r\n\r\n",
    b"GET /ping HTTP/1.1\r\nX-Forwarded-Proto: https\r\n\r\n",
    b"GET /ping HTTP/1.1\r\nx-forwarded-ssl: on\r\n\r\n",
    b"GET /ping HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    b"GET /ping HTTP/1.1\r\nAccept: a\r\naccept: b\r\n\r\n",
    b"GET /ping HTTP/1.1\r\nX: a\r\n b\r\n\r\n",  # obsolete folding
    b"GET /ping HTTP/1.1\r\nX : a\r\n\r\n",
    b"GET /ping HTTP/1.1\r\nX: caf\xe9\r\n\r\n",
    b"GET /ping HTTP/1.1\r\nX: a\x00b\r\n\r\n",
    b"GET /ping HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nHTTP2-Settings: AAA\r\n\r\n",
    b"GET /ping HTTP/1.1\r\nConnection: keep-alive, TE\r\n\r\n",
    b"POST /invocations HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n1",
    b"POST /invocations HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n1\r\n0\r\n\r\n",
    b"POST /invocations HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n1",
    b"POST /invocations HTTP/1.1\r\nContent-Length: +1\r\n\r\n1",
    b"POST /invocations HTTP/1.1\r\nContent-Length: 5\r\n\r\n1,2",  # body short of its length
    b"POST /invocations HTTP/1.1\r\nContent-Length: 1\r\n\r\n1GET /ping HTTP/1.1\r\n\r\n",  # pipelined
    b"GET /ping HTTP/1.1\r\n\r\nGET /ping HTTP/1.1\r\n\r\n",
    b"GET /" + b"a" * 4094 + b" HTTP/1.1\r\n\r\n",  # over gunicorn's request line limit
    b"GET /ping HTTP/1.1\r\nX: " + b"a" * 8190 + b"\r\n\r\n",  # over its field size limit
    b"GET /ping HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % n for n in range(101)) + b"\r\n",
]


class Socket:
    """What gunicorn's Response writes to."""

    def __init__(self) -> None:
        self.sent = bytearray()

    def sendall(self, data: bytes) -> None:
        self.sent += data

    def send(self, data: bytes) -> int:
        self.sent += data
        return len(data)


class Conn:
    def __init__(self) -> None:
        self.sock = Socket()
        self.client = CLIENT
        self.server = SERVER


def gunicorn_request(raw: bytes) -> Any:
    return next(iter(RequestParser(Config(), [raw], CLIENT)))


def values(environ: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in environ.items() if key not in OBJECTS}


@pytest.mark.parametrize("raw", PLAIN)
def test_a_plain_request_gets_gunicorns_environ(raw: bytes) -> None:
    request = parse(raw, LIMITS)
    assert request is not None
    conn = Conn()
    ours = plain_http.environ(request, wsgi.base_environ(Config()), conn)
    req = gunicorn_request(raw)
    _, theirs = wsgi.create(req, conn.sock, CLIENT, SERVER, Config())
    theirs["wsgi.multithread"] = True  # as gthread sets it
    theirs["wsgi.url_scheme"] = req.scheme
    assert values(ours) == values(theirs)
    assert ours["wsgi.input"].read() == theirs["wsgi.input"].read()
    assert request.close == req.should_close()
    assert request.path == req.path


@pytest.mark.parametrize("raw", NOT_PLAIN)
def test_anything_else_is_left_to_gunicorn(raw: bytes) -> None:
    assert parse(raw, LIMITS) is None


def test_gunicorns_limits_are_the_configured_ones() -> None:
    cfg = Config()
    cfg.set("limit_request_line", 100)
    raw = b"GET /" + b"a" * 100 + b" HTTP/1.1\r\n\r\n"
    assert parse(raw, LIMITS) is not None
    assert parse(raw, Limits.of(cfg)) is None
    cfg.set("secure_scheme_headers", {"X-SCHEME": "https"})
    assert parse(b"GET /ping HTTP/1.1\r\nX-Forwarded-Proto: https\r\n\r\n", Limits.of(cfg)) is not None
    assert parse(b"GET /ping HTTP/1.1\r\nx-scheme: https\r\n\r\n", Limits.of(cfg)) is None


ANSWERS = [
    ("200 OK", [("Content-Type", "text/csv"), ("Content-Length", "7")], [b"setosa\n"]),
    ("200 OK", [("Content-Type", "text/csv")], [b"setosa\n"]),  # chunked
    ("200 OK", [("Content-Type", "text/csv")], [b""]),  # chunked, empty
    ("200 OK", [("Content-Length", "3")], [b"123456"]),  # cut to its length
    ("204 No Content", [("Content-Length", "4"), ("X-A", "b")], [b"body"]),
    ("304 Not Modified", [("Content-Length", "4")], [b"body"]),
    ("415 Unsupported Media Type", [("Content-Type", "application/json"), ("Content-Length", "2")], [b"{}"]),
    ("200 Fine  indeed", [("X-Spaces", " \t a b \t"), ("Content-Length", "0")], []),
    ("200 OK", [("Keep-Alive", "timeout=5"), ("Server", "x"), ("Date", "y"), ("Content-Length", "0")], []),
]


def gunicorn_answer(raw: bytes, status: str, headers: list[tuple[str, str]], body: list[bytes]) -> bytes:
    sock = Socket()
    response = wsgi.Response(gunicorn_request(raw), sock, Config())
    response.start_response(status, headers)
    for chunk in body:
        response.write(chunk)
    response.close()
    return bytes(sock.sent)


def without_date(answer: bytes) -> bytes:
    return re.sub(rb"\r\nDate: [^\r]*\r\n", b"\r\nDate: -\r\n", answer)


@pytest.mark.parametrize(("status", "headers", "body"), ANSWERS)
@pytest.mark.parametrize("raw", [PLAIN[0], CLOSING], ids=["keep-alive", "close"])
def test_a_plain_answer_is_gunicorns(
    raw: bytes, status: str, headers: list[tuple[str, str]], body: list[bytes]
) -> None:
    request = parse(raw, LIMITS)
    assert request is not None
    response = PlainResponse(request)
    response.start_response(status, headers)
    ours = response.payload(iter(body), DateHeader().now())
    assert without_date(ours) == without_date(gunicorn_answer(raw, status, headers, body))


def ping_response() -> PlainResponse:
    request = parse(PLAIN[0], LIMITS)
    assert request is not None
    return PlainResponse(request)


def test_an_answer_written_through_write_comes_first() -> None:
    response = ping_response()
    write = response.start_response("200 OK", [("Content-Length", "4")])
    write(b"ab")
    assert response.payload([b"cd"], "-").endswith(b"\r\n\r\nabcd")


def test_a_body_short_of_its_length_closes_the_connection() -> None:
    response = ping_response()
    response.start_response("200 OK", [("Content-Length", "4")])
    assert b"Connection: close\r\n" in response.payload([b"ab"], "-")


@pytest.mark.parametrize(
    ("status", "headers", "error"),
    [
        ("200", [("X-A", "b\r\nX-B: c")], ValueError),
        ("200 OK", [("X A", "b")], ValueError),
        ("OK", [], ValueError),
        (b"200 OK", [], ValueError),
        ("200 OK", [("Content-Length", "x")], ValueError),
    ],
)
def test_a_bad_start_response_raises(status: Any, headers: list[tuple[str, str]], error: type) -> None:
    response = ping_response()
    with pytest.raises(error):
        response.start_response(status, headers)


def test_headers_are_set_once_unless_with_exc_info() -> None:
    response = ping_response()
    response.start_response("200 OK", [])
    with pytest.raises(AssertionError):
        response.start_response("200 OK", [])
    response.start_response("500 Internal Server Error", [("Content-Length", "0")], (None, None, None))
    assert response.payload([], "-").startswith(b"HTTP/1.1 500 Internal Server Error\r\n")


def test_the_date_is_gunicorns_http_date_of_now() -> None:
    before = http_date()
    ours = DateHeader().now()
    assert ours in (before, http_date())


def test_a_written_body_must_be_bytes() -> None:
    response = ping_response()
    write = response.start_response("200 OK", [])
    with pytest.raises(TypeError):
        write("text")
