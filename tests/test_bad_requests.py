"""Hostile and malformed requests, one table: each case with the status (and error code, and for
some a message fragment) the README documents, run in-process, against a real `./serve`
(gunicorn) on 127.0.0.1, and against the Docker image.

Every case must get exactly its status, never a 5xx, and an answer well inside a hang bound; each
case's time is measured. The second table is HTTP framing that only a real socket can send
(chunked bodies, Content-Length lies, a 413 before the body is sent), against gunicorn and the
image; gunicorn refuses broken framing itself, with its own non-JSON 4xx page. A chunked body
over the limit, which needs a streaming client, is in tests/test_contract.py. Decoder-level detail
(every refusal's message) lives in tests/test_decoders.py; this file checks the whole path.
"""

from __future__ import annotations

import io
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import numpy as np
import pytest

from tests.helpers.bodies import NPY_SHAPE_HEADER, npy_with_header
from tests.helpers.harness import HttpEndpoint

SETOSA = b"5.1,3.5,1.4,0.2"
LIMIT = 6 * 1024 * 1024
HANG_BOUND_SECONDS = 10.0  # generous: only a hang fails it (the machine is shared); see --durations
CODES = {
    400: "malformed_request",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_data",
}
CSV, JSON, JSONL, LIBSVM, NPY = (
    "text/csv",
    "application/json",
    "application/jsonlines",
    "text/libsvm",
    "application/x-npy",
)


@dataclass(frozen=True)
class Case:
    name: str
    status: int
    body: bytes | None
    content_type: str | None = CSV
    headers: Mapping[str, str] = field(default_factory=dict)
    method: str = "POST"
    path: str = "/invocations"
    code: str | None = None  # defaults to CODES[status]
    says: str = ""  # a fragment the error message must contain

    @property
    def expected_code(self) -> str | None:
        return self.code or CODES.get(self.status)

    def request_headers(self) -> dict[str, str]:
        sent = dict(self.headers)
        if self.content_type is not None:
            sent["Content-Type"] = self.content_type
        return sent


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


CASES = [
    # text/csv: shape
    Case("csv-too-few-columns", 422, b"5.1,3.5,1.4", says="expected 4 features per row, got 3"),
    Case("csv-too-many-columns", 422, b"5.1,3.5,1.4,0.2,9", says="expected 4 features per row, got 5"),
    Case("csv-ragged-rows", 400, SETOSA + b"\n5.1,3.5", says="row 2 has 2 fields, row 1 has 4"),
    Case("csv-blank-inner-line", 400, SETOSA + b"\n\n" + SETOSA),
    Case("csv-empty-body", 400, b"", says="the body is empty"),
    Case("csv-whitespace-only", 400, b"  \n"),
    # text/csv: what float() takes but a number in a CSV is not
    Case("csv-non-numeric", 422, b"5.1,abc,1.4,0.2", says="'abc' is not a number"),
    Case("csv-underscore-digits", 422, b"1_000,3.5,1.4,0.2"),
    Case("csv-arabic-indic-digits", 422, "\u0665.\u0661,3.5,1.4,0.2".encode()),
    Case("csv-fullwidth-digits", 422, "\uff15,3.5,1.4,0.2".encode()),
    Case("csv-infinity-word", 422, b"infinity,3.5,1.4,0.2"),
    Case("csv-nan-word", 422, b"nan,3.5,1.4,0.2"),
    Case("csv-inf-word", 422, b"inf,3.5,1.4,0.2"),
    Case("csv-1e400", 422, b"1e400,3.5,1.4,0.2", says="infinite"),
    Case("csv-minus-1e400", 422, b"-1e400,3.5,1.4,0.2"),
    Case("csv-huge-integer", 422, b"1" + b"0" * 400 + b",3.5,1.4,0.2"),
    Case("csv-hex", 422, b"0x10,3.5,1.4,0.2"),
    # text/csv: formats that are not ours
    Case("csv-header-row", 422, b"sepal_length,sepal_width,petal_length,petal_width\n" + SETOSA, says="is not a number"),
    Case("csv-quoted-fields", 422, b'"5.1","3.5","1.4","0.2"'),
    Case("csv-semicolons", 422, b"5.1;3.5;1.4;0.2"),
    Case("csv-tabs", 422, b"5.1\t3.5\t1.4\t0.2"),
    Case("csv-decimal-comma", 422, b"5,1;3,5;1,4;0,2"),
    Case("csv-label-column", 422, b"setosa," + SETOSA),
    # bytes and encodings
    Case("csv-invalid-utf8", 400, b"5.1,3.5,1.4,\xff", says="not valid UTF-8"),
    Case("csv-utf16-bom", 400, "5.1,3.5,1.4,0.2".encode("utf-16")),
    Case("csv-nul-byte", 400, b"5.1,3.5,1.4,0.2\x00"),
    Case("csv-latin1-charset", 415, SETOSA, "text/csv; charset=latin-1"),
    Case("csv-bom-accepted", 200, b"\xef\xbb\xbf" + SETOSA),
    Case("csv-crlf-accepted", 200, SETOSA + b"\r\n" + SETOSA + b"\r\n"),
    Case("csv-spaces-accepted", 200, b" 5.1 , 3.5 ,1.4,0.2 "),
    Case("csv-uppercase-type-accepted", 200, SETOSA, "TEXT/CSV; Charset=UTF-8"),
    Case("csv-huge-single-number", 422, b"1" * (LIMIT - 64)),
    Case("csv-huge-single-line", 422, b"1," * (LIMIT // 2 - 32) + b"1"),
    # application/json
    Case("json-nan-constant", 400, b"[[5.1, 3.5, 1.4, NaN]]", JSON, says="invalid JSON"),
    Case("json-infinity-constant", 400, b"[[5.1, 3.5, 1.4, -Infinity]]", JSON),
    Case("json-1e400", 422, b"[[5.1, 3.5, 1.4, 1e400]]", JSON),
    Case("json-huge-integer", 422, b"[[5.1, 3.5, 1.4, 1" + b"0" * 400 + b"]]", JSON, says="infinite"),
    Case("json-huge-negative-integer", 422, b"[[5.1, 3.5, 1.4, -1" + b"0" * 5000 + b"]]", JSON),
    Case("json-booleans", 422, b'{"instances": [[true, false, true, 1]]}', JSON, says="true is not a number"),
    Case("json-strings", 422, b'{"instances": [["5.1", "3.5", "1.4", "0.2"]]}', JSON, says="not a number"),
    Case("json-duplicate-keys", 400, b'{"instances": [[5.1, 3.5, 1.4, 0.2]], "instances": [[1, 2]]}', JSON, says="duplicate key"),
    Case("json-deep-nesting", 400, b"[" * 200_000 + b"]" * 200_000, JSON, says="nested too deeply"),
    Case("json-nested-row", 422, b"[[[5.1, 3.5, 1.4, 0.2]]]", JSON),
    Case("json-wrong-width", 422, b'{"instances": [[5.1, 3.5]]}', JSON),
    Case("json-ragged", 400, b"[[5.1, 3.5, 1.4, 0.2], [1]]", JSON),
    Case("json-truncated", 400, b'{"instances": [[5.1, 3.5', JSON, says="invalid JSON"),
    Case("json-empty-body", 400, b"", JSON),
    Case("json-scalar", 400, b"5.1", JSON),
    Case("json-unknown-shape", 400, b'{"rows": [[5.1, 3.5, 1.4, 0.2]]}', JSON),
    Case("json-columns-unknown-to-model", 422, b'{"columns": ["a", "b", "c", "d"], "data": [[1, 2, 3, 4]]}', JSON, says="without feature names"),
    Case("json-invalid-utf8", 400, b'{"instances": [[5.1, 3.5, 1.4, 0.2]], "\xc3": 1}', JSON),
    Case("json-bom-accepted", 200, b"\xef\xbb\xbf[5.1, 3.5, 1.4, 0.2]", JSON),
    # application/jsonlines
    Case("jsonl-blank-inner-line", 400, b"[5.1,3.5,1.4,0.2]\n\n[5.1,3.5,1.4,0.2]", JSONL),
    Case("jsonl-ragged", 400, b"[5.1,3.5,1.4,0.2]\n[1]", JSONL),
    Case("jsonl-nan", 400, b"[5.1,3.5,1.4,NaN]", JSONL),
    Case("jsonl-two-documents-on-a-line", 400, b"[5.1,3.5,1.4,0.2] [5.1,3.5,1.4,0.2]", JSONL),
    Case("jsonl-booleans", 422, b"[true,3.5,1.4,0.2]", JSONL),
    Case("jsonl-extra-key", 400, b'{"features": [5.1,3.5,1.4,0.2], "id": 1}', JSONL),
    # text/libsvm
    Case("libsvm-bad-value", 422, b"0:5.1 1:abc", LIBSVM),
    Case("libsvm-index-beyond-model", 422, b"0:5.1 9:1", LIBSVM, says="out of range"),
    Case("libsvm-duplicate-index", 422, b"0:5.1 0:3.5", LIBSVM),
    Case("libsvm-nan-word", 422, b"0:nan", LIBSVM),
    Case("libsvm-non-ascii-index", 422, "\u0661:5.1".encode(), LIBSVM),
    Case("libsvm-huge-index", 422, b"99999999999999999999:1", LIBSVM),
    Case("libsvm-1e400", 422, b"0:1e400", LIBSVM),
    Case("libsvm-csv-body", 422, SETOSA, LIBSVM),
    # application/x-npy
    Case("npy-pickled-objects", 400, npy(np.array([{"a": 1}], dtype=object)), NPY),
    Case("npy-3d", 422, npy(np.zeros((1, 2, 4))), NPY),
    Case("npy-wrong-width", 422, npy(np.zeros((2, 3))), NPY),
    Case("npy-infinite", 422, npy(np.array([[np.inf, 1, 1, 1]])), NPY),
    Case("npy-truncated", 400, npy(np.zeros((4, 4)))[:-8], NPY),
    Case("npy-garbage", 400, b"\x93NUMPY garbage", NPY),
    Case("npy-negative-dimensions", 400, npy_with_header(NPY_SHAPE_HEADER % "-1, -2"), NPY, says="negative"),
    # headers
    Case("no-content-type", 415, SETOSA, None),
    Case("text-plain", 415, SETOSA, "text/plain"),
    Case("form-urlencoded", 415, SETOSA, "application/x-www-form-urlencoded"),
    Case("multipart", 415, SETOSA, "multipart/form-data; boundary=x"),
    Case("garbage-content-type", 415, SETOSA, ";;;"),
    Case("gzip-content-encoding", 415, SETOSA, headers={"Content-Encoding": "gzip"}, says="send the body uncompressed"),
    Case("identity-content-encoding-accepted", 200, SETOSA, headers={"Content-Encoding": "identity"}),
    Case("accept-image", 406, SETOSA, headers={"Accept": "image/png"}, says="image/png"),
    Case("accept-garbage", 406, SETOSA, headers={"Accept": "???"}),
    Case("accept-csv-q0", 406, SETOSA, headers={"Accept": "text/csv;q=0"}),
    Case("accept-checked-before-content-type", 406, SETOSA, "text/plain", {"Accept": "image/png"}),
    Case("unknown-output", 400, SETOSA, headers={"X-Amzn-SageMaker-Custom-Attributes": "output=x"},
         code="unsupported_output"),
    Case("unknown-custom-attributes-ignored", 200, SETOSA,
         headers={"X-Amzn-SageMaker-Custom-Attributes": "a=b; c" + "x" * 1000}),
    # size
    Case("over-the-limit", 413, b"1" * (LIMIT + 1), says="the limit is 6291456"),
    Case("at-the-limit-accepted", 422, b"1" * LIMIT),
    # methods and paths
    Case("get-invocations", 405, None, None, method="GET"),
    Case("put-invocations", 405, SETOSA, method="PUT"),
    Case("delete-ping", 405, None, None, method="DELETE", path="/ping"),
    Case("post-ping", 405, SETOSA, method="POST", path="/ping"),
    Case("options-invocations", 405, None, None, method="OPTIONS"),
    Case("head-ping-accepted", 200, None, None, method="HEAD", path="/ping"),
    Case("unknown-path", 404, SETOSA, path="/predict"),
    Case("trailing-slash", 404, SETOSA, path="/invocations/"),
    Case("dot-dot-path", 404, None, None, method="GET", path="/../../etc/passwd"),
    Case("encoded-nul-path", 404, None, None, method="GET", path="/ping%00"),
]  # fmt: skip


def test_the_table_is_large_and_unambiguous() -> None:
    names = [case.name for case in CASES] + [case.name for case in FRAMING]
    assert len(CASES) + len(FRAMING) >= 50 and len(set(names)) == len(names)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_each_bad_request_gets_its_documented_status(endpoint, case: Case) -> None:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    reply = endpoint.request(case.method, case.path, case.body, case.request_headers())
    elapsed = time.monotonic() - started
    assert reply.status == case.status, reply.body[:300]
    assert elapsed < HANG_BOUND_SECONDS
    if case.status >= 400 and case.method != "HEAD":
        assert reply.headers["Content-Type"].startswith("application/json")
        body = reply.json()
        assert body == {"error": case.expected_code, "message": body["message"]}, body
        assert case.says in body["message"]
        assert b"Traceback" not in reply.body and b".py" not in reply.body
    if case.status == 405:
        assert reply.headers["Allow"] in {"GET", "POST"}


# --- HTTP framing: raw bytes on a real socket --------------------------------------------------

HEAD = b"POST /invocations HTTP/1.1\r\nHost: t\r\nContent-Type: text/csv\r\n"


@dataclass(frozen=True)
class Framing:
    name: str
    status: int
    request: bytes
    json: bool = True  # False: gunicorn refuses before the app runs, with its own page
    half_close: bool = False  # shut our sending side after the request (the body ends early)


def chunked(*chunks: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks) + b"0\r\n\r\n"


FRAMING = [
    Framing("chunked-accepted", 200, HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(b"5.1,3.5,", b"1.4,0.2")),
    Framing("over-limit-refused-before-the-body-is-sent", 413, HEAD + b"Content-Length: %d\r\n\r\n" % (LIMIT + 1)),
    Framing("content-length-longer-than-the-body", 400, HEAD + b"Content-Length: 100\r\n\r\n" + SETOSA, half_close=True),
    Framing("content-length-shorter-than-the-body", 422, HEAD + b"Content-Length: 7\r\n\r\n" + SETOSA),
    Framing("chunked-with-trailers", 200, HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(SETOSA)[:-2] + b"X-Sum: 1\r\n\r\n"),
    Framing("invalid-chunk-size", 400, HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n5.1\r\n0\r\n\r\n"),
    Framing("chunk-longer-than-declared", 400, HEAD + b"Transfer-Encoding: chunked\r\n\r\n2\r\n5.1,3.5\r\n0\r\n\r\n"),
    Framing("chunked-body-never-terminated", 400, HEAD + b"Transfer-Encoding: chunked\r\n\r\nf\r\n" + SETOSA, half_close=True),
    Framing("content-length-not-a-number", 400, HEAD + b"Content-Length: abc\r\n\r\n" + SETOSA, json=False),
    Framing("content-length-negative", 400, HEAD + b"Content-Length: -1\r\n\r\n" + SETOSA, json=False),
    Framing("two-content-lengths", 400, HEAD + b"Content-Length: 15\r\nContent-Length: 16\r\n\r\n" + SETOSA, json=False),
    Framing("content-length-and-chunked", 400, HEAD + b"Content-Length: 15\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(SETOSA), json=False),
    Framing("transfer-encoding-twice", 400, HEAD + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(SETOSA), json=False),
    Framing("chunked-applied-twice", 400, HEAD + b"Transfer-Encoding: chunked, chunked\r\n\r\n" + chunked(SETOSA), json=False),
    Framing("unknown-transfer-coding-beside-content-length", 501, HEAD + b"Transfer-Encoding: xchunked\r\nContent-Length: 15\r\n\r\n" + SETOSA, json=False),
    Framing("unknown-transfer-coding", 400, HEAD + b"Transfer-Encoding: gzip\r\n\r\n" + SETOSA, json=False),
    Framing("chunked-from-an-http-1-0-client", 400, HEAD.replace(b"HTTP/1.1", b"HTTP/1.0") + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(SETOSA), json=False),
    Framing("bare-lf-line-ends", 400, b"GET /ping HTTP/1.1\nHost: t\n\n", json=False),
    Framing("bare-lf-in-a-header", 400, HEAD + b"X-A: 1\nContent-Length: 15\r\n\r\n" + SETOSA, json=False),
    Framing("bare-cr-in-a-header", 400, HEAD + b"X-A: 1\rX-B: 2\r\nContent-Length: 15\r\n\r\n" + SETOSA, json=False),
    Framing("garbage-request-line", 400, b"HELLO\r\n\r\n", json=False),
    Framing("http2-preface", 400, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", json=False),
    Framing("header-with-nul", 400, HEAD + b"X-A: a\x00b\r\nContent-Length: 15\r\n\r\n" + SETOSA, json=False),
    Framing("obsolete-line-folding", 400, HEAD + b"X-A: a\r\n b\r\nContent-Length: 15\r\n\r\n" + SETOSA, json=False),
    Framing("header-too-large", 431, HEAD + b"X-Big: " + b"a" * 9000 + b"\r\n\r\n", json=False),
    Framing("url-too-long", 414, b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", json=False),
]  # fmt: skip


def exchange(endpoint: HttpEndpoint, framing: Framing) -> bytes:
    """Send the raw request and read the first response (head and Content-Length body)."""
    address = urlsplit(endpoint.base_url)
    with socket.create_connection((address.hostname, address.port), timeout=HANG_BOUND_SECONDS) as conn:
        conn.sendall(framing.request)
        if framing.half_close:
            conn.shutdown(socket.SHUT_WR)
        received = b""
        while not complete(received) and (chunk := conn.recv(65536)):
            received += chunk
    return received


def complete(received: bytes) -> bool:
    head, found, body = received.partition(b"\r\n\r\n")
    if not found:
        return False
    lengths = [line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
    return not lengths or len(body) >= int(lengths[0].split(b":")[1])


@pytest.mark.parametrize("framing", FRAMING, ids=lambda framing: framing.name)
def test_http_framing_gets_its_status(http_endpoint: HttpEndpoint, framing: Framing) -> None:
    started = time.monotonic()
    answer = exchange(http_endpoint, framing)
    assert time.monotonic() - started < HANG_BOUND_SECONDS
    status_line = answer.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 %d " % framing.status), answer[:300]
    if framing.json and framing.status >= 400:
        assert b"application/json" in answer.partition(b"\r\n\r\n")[0]
