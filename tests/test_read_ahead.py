"""When the worker's event loop hands a request to a thread (`container.server.read_ahead.Incoming`)."""

from __future__ import annotations

import pytest

from container.server.read_ahead import HEADER_LIMIT, Incoming

LIMIT = 1000
HEAD = b"POST /invocations HTTP/1.1\r\nHost: h\r\n"
CHUNKED = HEAD + b"Transfer-Encoding: chunked\r\n\r\n"


@pytest.mark.parametrize(
    ("chunks", "handover"),
    [
        ([b"GET /ping HTTP/1.1\r\nHost: h\r\n"], False),  # headers not finished
        ([b"GET /ping HTTP/1.1\r\nHost: h\r\n", b"\r\n"], True),
        ([HEAD + b"Content-Length: 5\r\n\r\n1,2"], False),  # body short of its length
        ([HEAD + b"Content-Length: 5\r\n\r\n1,2", b",3"], True),
        ([HEAD + b"content-length: 5\r\n\r\n1,2,3"], True),  # names are case-insensitive
        ([HEAD + b"Content-Length: 1001\r\n\r\n"], True),  # over the limit: 413, unread
        ([HEAD + b"Content-Length: x\r\n\r\n"], True),  # the parser answers 400
        ([HEAD + b"Transfer-Encoding: chunked\r\n\r\n3\r\n1,2\r\n"], False),
        ([HEAD + b"Transfer-Encoding: chunked\r\n\r\n3\r\n1,2\r\n", b"0\r\n\r\n"], True),
        ([HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + b"1" * (LIMIT + 1)], True),
        ([CHUNKED + b"3\r\n1,2\r\n0\r\nX-Sum: 3\r\n"], False),  # trailers not finished
        ([CHUNKED + b"3\r\n1,2\r\n0\r\nX-Sum: 3\r\n", b"\r\n"], True),  # trailers end it
        ([CHUNKED + b"5\r\n0\r\n\r\n\r\n"], False),  # chunk data that looks like the last chunk
        ([CHUNKED + b"5\r\n0\r\n\r\n\r\n", b"0\r\n\r\n"], True),
        ([CHUNKED + b"a;ext=1\r\n0123456789\r\n", b"0\r\n", b"\r\n"], True),  # extensions, split
        ([CHUNKED + b"zz\r\n"], True),  # not a size: the parser answers 400
        ([CHUNKED + b"2\r\n123\r\n"], True),  # data longer than its size: 400
        ([CHUNKED + b"%x\r\n" % (LIMIT + 1)], False),  # one chunk over the limit: read on (no wait)...
        ([CHUNKED + b"%x\r\n" % (LIMIT + 1) + b"1" * (LIMIT + 1)], True),  # ...until past it: 413
        ([HEAD + b"X: " + b"a" * HEADER_LIMIT], True),  # headers too long: the parser answers
    ],
)
def test_a_request_is_handed_over_once_complete_or_not_worth_reading(
    chunks: list[bytes], handover: bool
) -> None:
    incoming = Incoming.starting(timeout=60)
    for chunk in chunks:
        incoming.add(chunk, LIMIT)
    assert incoming.handover is handover


def test_a_client_expecting_100_continue_is_told_to_send_its_body() -> None:
    incoming = Incoming.starting(timeout=60)
    incoming.add(HEAD + b"Expect: 100-continue\r\nContent-Length: 5\r\n\r\n", LIMIT)
    assert incoming.wants_continue and not incoming.handover
