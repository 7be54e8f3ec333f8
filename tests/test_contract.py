"""The SageMaker hosting contract over HTTP, against the bundled iris demo model.

Every test runs in-process, against a real `./serve` (gunicorn) and against the Docker image.
"""

from __future__ import annotations

import io
import socket
from urllib.parse import urlsplit

import numpy as np
import pytest

from tests.helpers.harness import HttpEndpoint

SETOSA = b"5.1,3.5,1.4,0.2"
VIRGINICA = b"6.2,3.4,5.4,2.3"
CSV = {"Content-Type": "text/csv"}
SIX_MIB = 6 * 1024 * 1024


def invoke(endpoint, body: bytes, content_type: str | None = "text/csv", **headers: str):  # type: ignore[no-untyped-def]
    sent = {key.replace("_", "-"): value for key, value in headers.items()}
    if content_type is not None:
        sent["Content-Type"] = content_type
    return endpoint.request("POST", "/invocations", body, sent)


def assert_error(reply, status: int, code: str, says: str = "") -> None:  # type: ignore[no-untyped-def]
    assert reply.status == status, reply.body
    assert reply.headers["Content-Type"].startswith("application/json")
    body = reply.json()
    assert set(body) == {"error", "message"} and body["error"] == code
    assert says in body["message"]
    assert b"Traceback" not in reply.body and b".py" not in reply.body


def test_ping_is_200_with_an_empty_body(endpoint) -> None:  # type: ignore[no-untyped-def]
    reply = endpoint.request("GET", "/ping")
    assert (reply.status, reply.body) == (200, b"")


def test_execution_parameters_follow_the_settings(endpoint) -> None:  # type: ignore[no-untyped-def]
    body = endpoint.request("GET", "/execution-parameters").json()
    assert body["BatchStrategy"] == "MULTI_RECORD" and body["MaxPayloadInMB"] == 6
    assert body["MaxConcurrentTransforms"] >= 1


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (SETOSA, "text/csv", b"setosa\n"),
        (SETOSA + b"\n" + VIRGINICA + b"\n", "text/csv", b"setosa\nvirginica\n"),
        (SETOSA + b"\r\n" + VIRGINICA + b"\r\n", "text/csv; charset=utf-8", b"setosa\nvirginica\n"),
        (b"\xef\xbb\xbf" + SETOSA, "text/csv; label_size=1", b"setosa\n"),
        (b" 5.1 , 3.5 ,1.4,0.2", "text/csv", b"setosa\n"),
        (b'{"instances": [[5.1, 3.5, 1.4, 0.2]]}', "application/json", b"setosa\n"),
        (b'{"instances": [{"features": [6.2, 3.4, 5.4, 2.3]}]}', "application/json", b"virginica\n"),
        (b"[5.1, 3.5, 1.4, 0.2]", "application/json", b"setosa\n"),
        (b"[5.1,3.5,1.4,0.2]\n[6.2,3.4,5.4,2.3]\n", "application/jsonlines", b"setosa\nvirginica\n"),
        (b"0:5.1 1:3.5 2:1.4 3:0.2", "text/libsvm", b"setosa\n"),
        (b"2 0:6.2 1:3.4 2:5.4 3:2.3", "text/x-libsvm", b"virginica\n"),
    ],
    ids=["csv", "csv-rows", "crlf-charset", "bom-label-size", "spaces", "json", "json-features", "json-flat",
         "jsonlines", "libsvm", "libsvm-label"],
)  # fmt: skip
def test_each_content_type_predicts(endpoint, body: bytes, content_type: str, expected: bytes) -> None:  # type: ignore[no-untyped-def]
    reply = invoke(endpoint, body, content_type)
    assert (reply.status, reply.body) == (200, expected)
    assert reply.headers["Content-Type"].startswith("text/csv")


def test_npy_is_accepted_without_unpickling(endpoint) -> None:  # type: ignore[no-untyped-def]
    buffer = io.BytesIO()
    np.save(buffer, np.array([[5.1, 3.5, 1.4, 0.2], [6.2, 3.4, 5.4, 2.3]]))
    assert invoke(endpoint, buffer.getvalue(), "application/x-npy").body == b"setosa\nvirginica\n"
    pickled = io.BytesIO()
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert_error(invoke(endpoint, pickled.getvalue(), "application/x-npy"), 400, "malformed_request")


@pytest.mark.parametrize(
    ("accept", "content_type", "body"),
    [
        (None, "text/csv", b"setosa\n"),
        ("*/*", "text/csv", b"setosa\n"),
        ("application/json", "application/json", b'{"predictions":["setosa"]}'),
        ("application/jsonlines", "application/jsonlines", b'"setosa"\n'),
        ("text/csv;q=0.2, application/json", "application/json", b'{"predictions":["setosa"]}'),
        ("application/*", "application/json", b'{"predictions":["setosa"]}'),
    ],
)
def test_accept_is_negotiated(endpoint, accept: str | None, content_type: str, body: bytes) -> None:  # type: ignore[no-untyped-def]
    reply = invoke(endpoint, SETOSA, **({"Accept": accept} if accept else {}))
    assert reply.status == 200 and reply.body == body
    assert reply.headers["Content-Type"].startswith(content_type)


def test_repeated_headers_are_answered_alike_and_refused_alike(endpoint) -> None:  # type: ignore[no-untyped-def]
    """Each combination of headers is planned once and the plan reused: interleaved combinations
    keep their own, and a refused one is refused every time."""
    for _ in range(3):
        assert_error(invoke(endpoint, SETOSA, Accept="image/png"), 406, "not_acceptable")
        assert_error(
            invoke(endpoint, SETOSA, "text/csv", Content_Encoding="gzip"), 415, "unsupported_media_type"
        )
        assert invoke(endpoint, SETOSA).body == b"setosa\n"
        assert invoke(endpoint, SETOSA, Accept="application/json").body == b'{"predictions":["setosa"]}'
        reply = invoke(endpoint, VIRGINICA, "text/csv; charset=utf-8", Accept="application/json")
        assert reply.body == b'{"predictions":["virginica"]}'


def test_an_empty_field_is_a_missing_value_for_a_tree(endpoint) -> None:  # type: ignore[no-untyped-def]
    reply = invoke(endpoint, b"5.1,3.5,,0.2\n,,,")
    assert reply.status == 200 and reply.body.count(b"\n") == 2


def test_selected_outputs_per_request(endpoint) -> None:  # type: ignore[no-untyped-def]
    reply = invoke(
        endpoint,
        VIRGINICA,
        Accept="application/json",
        X_Amzn_SageMaker_Custom_Attributes="output=predicted_label,probabilities",
    )
    assert reply.json() == {
        "predictions": [{"predicted_label": "virginica", "probabilities": [0.0, 0.0, 1.0]}]
    }
    csv = invoke(endpoint, SETOSA, X_Amzn_SageMaker_Custom_Attributes="trace=1; output=probability,labels")
    assert csv.body == b"1.0,setosa,versicolor,virginica\n"


def test_an_output_the_model_lacks_is_400(endpoint) -> None:  # type: ignore[no-untyped-def]
    reply = invoke(endpoint, SETOSA, X_Amzn_SageMaker_Custom_Attributes="output=predicted_score")
    assert_error(
        reply, 400, "unsupported_output", "offers predicted_label, labels, probability, probabilities"
    )
    assert_error(
        invoke(endpoint, SETOSA, X_Amzn_SageMaker_Custom_Attributes="output=everything"),
        400,
        "unsupported_output",
    )


def test_a_body_at_the_limit_is_served(endpoint) -> None:  # type: ignore[no-untyped-def]
    row = SETOSA + b"\n"
    body = row * (SIX_MIB // len(row))
    reply = invoke(endpoint, body)
    assert reply.status == 200 and reply.body.count(b"\n") == len(body) // len(row)


def test_a_chunked_body_over_the_limit_is_413(http_endpoint: HttpEndpoint) -> None:
    """The server answers as soon as the limit is passed; like curl, read that early answer."""
    chunk = (SETOSA + b"\n") * 4096
    framed = b"%x\r\n%s\r\n" % (len(chunk), chunk)
    head = b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n"
    with raw_connection(http_endpoint) as conn:
        conn.sendall(head)
        try:
            for _ in range(SIX_MIB // len(chunk) + 2):
                conn.sendall(framed)
            conn.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server stopped reading once it had answered
        answer = read_until_closed(conn)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b'"error": "payload_too_large"' in answer


def raw_connection(endpoint: HttpEndpoint) -> socket.socket:
    address = urlsplit(endpoint.base_url)
    return socket.create_connection((address.hostname, address.port), timeout=10)


def read_until_closed(conn: socket.socket) -> bytes:
    received = b""
    try:
        while chunk := conn.recv(65536):
            received += chunk
    except OSError:
        pass
    return received


def test_a_chunked_body_within_the_limit_is_served(http_endpoint: HttpEndpoint) -> None:
    reply = http_endpoint.request("POST", "/invocations", iter([SETOSA, b"\n", VIRGINICA]), CSV)  # type: ignore[arg-type]
    assert (reply.status, reply.body) == (200, b"setosa\nvirginica\n")


def test_connections_are_kept_alive(http_endpoint: HttpEndpoint) -> None:
    request = (
        b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: 15\r\n\r\n"
        + SETOSA
    )
    with raw_connection(http_endpoint) as conn:
        answers = b""
        for _ in range(3):
            conn.sendall(request)
            while answers.count(b"setosa") < _ + 1:
                answers += conn.recv(65536)
    assert answers.count(b"HTTP/1.1 200") == 3
