"""Properties over hostile input: no exception but the typed RequestError leaves a decoder, and the
whole request path (headers, decoding, schema, predicting, encoding) answers any request with a
2xx or a 4xx error body, never a 5xx.

tests/test_decoders.py already feeds every decoder arbitrary bytes, arbitrary text and structured
near-misses; this file adds arbitrary Content-Type parameters, hostile .npy headers and libsvm
tokens, and the same bodies through the in-process app with two real models (the demo tree, and
an XGBoost booster, which takes sparse rows and missing values).
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import Client

from container.app import create_app
from container.codecs import DECODERS
from container.errors import RequestError
from container.settings import Settings
from container.tables import Table
from tests.helpers.harness import DEMO_MODEL
from tests.helpers.models import CASES

bounded = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
EVERY_TYPE = sorted(DECODERS)
PARAMS = st.dictionaries(
    st.sampled_from(["charset", "label_size", "header", "CHARSET"]) | st.text(max_size=5),
    st.sampled_from(["utf-8", "UTF8", "latin-1", "ascii", "", "utf-16"]) | st.text(max_size=8),
    max_size=3,
)


def decoded_or_refused(content_type: str, body: bytes, params: dict[str, str]) -> None:
    try:
        table = DECODERS[content_type](body, params)
    except RequestError as error:
        assert 400 <= error.status < 500
        return
    assert isinstance(table, Table) and table.rows.ndim == 2 and table.rows.dtype == np.float64


@pytest.mark.parametrize("content_type", EVERY_TYPE)
@bounded
@given(body=st.binary(max_size=300), params=PARAMS)
def test_any_parameters_decode_or_are_refused(content_type: str, body: bytes, params: dict[str, str]) -> None:
    decoded_or_refused(content_type, body, {key.lower(): value for key, value in params.items()})


def npy_header(fields: dict[str, Any]) -> bytes:
    text = repr(fields).encode("latin1", "replace")
    text += b" " * ((64 - (10 + len(text) + 1) % 64) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text


NPY_FIELDS = st.fixed_dictionaries(
    {
        "descr": st.sampled_from(["<f8", ">f4", "<i8", "|u1", "|O", "<U3", "|V8", "<M8[s]", "?", "bogus", ""])
        | st.lists(st.tuples(st.sampled_from(["a", "b"]), st.sampled_from(["<f8", "|O"])), max_size=2),
        "fortran_order": st.booleans() | st.integers(-1, 2),
        "shape": st.lists(st.integers(-2, 2**62), max_size=4).map(tuple) | st.integers(0, 4),
    },
    optional={"extra": st.integers()},
)


@bounded
@given(fields=NPY_FIELDS, data=st.binary(max_size=256))
def test_any_npy_header_decodes_or_is_refused(fields: dict[str, Any], data: bytes) -> None:
    decoded_or_refused("application/x-npy", npy_header(fields) + data, {})


LIBSVM_TOKENS = st.sampled_from(
    ["0:1", "3:2.5", "1", "-1", ":", "0:", ":0", "0:1:1", "999999999:1", "1e400", "0:1e400", "0:-1e400",
     "0:nan", "0:+1", "0:.", "\u0663:1", "0:\u0663", "0\u00a0:1", "#", "qid:1", "\t", "0:1e-400"]
)  # fmt: skip


@bounded
@given(lines=st.lists(st.lists(LIBSVM_TOKENS, max_size=6).map(" ".join), min_size=1, max_size=4))
def test_libsvm_token_soup_decodes_or_is_refused(lines: list[str]) -> None:
    decoded_or_refused("text/libsvm", "\n".join(lines).encode(), {})


# --- the whole request path, in process ------------------------------------------------------


@pytest.fixture(scope="module")
def clients(tmp_path_factory: pytest.TempPathFactory) -> list[Client]:
    booster = CASES["xgboost-binary-json"](tmp_path_factory.mktemp("booster")).directory
    return [Client(create_app(Settings(model_dir=directory))) for directory in (DEMO_MODEL, booster)]


def npy_body(rows: list[list[float]]) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.array(rows, dtype=np.float64))
    return buffer.getvalue()


NUMBERS = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(10**400), 10**400) | st.none()
ROWS = st.lists(st.lists(NUMBERS, min_size=0, max_size=12), min_size=0, max_size=4)
ENCODERS_BY_TYPE = {
    "text/csv": lambda rows: "\n".join(",".join("" if v is None else str(v) for v in row) for row in rows).encode(),
    "application/json": lambda rows: json.dumps({"instances": rows}).encode(),
    "application/jsonlines": lambda rows: "\n".join(json.dumps(row) for row in rows).encode(),
    "text/libsvm": lambda rows: "\n".join(" ".join(f"{i}:{v}" for i, v in enumerate(row)) for row in rows).encode(),
}  # fmt: skip
BODIES = st.one_of(
    st.binary(max_size=200),
    st.tuples(st.sampled_from(sorted(ENCODERS_BY_TYPE)), ROWS).map(
        lambda pair: ENCODERS_BY_TYPE[pair[0]](pair[1])
    ),
    st.lists(st.lists(st.floats(width=64), min_size=1, max_size=6), min_size=1, max_size=3)
    .filter(lambda rows: len({len(row) for row in rows}) == 1)
    .map(npy_body),
)
CONTENT_TYPES = st.sampled_from([*DECODERS, "text/plain", ""]).flatmap(
    lambda mime: st.sampled_from(["", "; charset=utf-8", "; charset=latin-1", ";;", "; x"]).map(
        lambda p: mime + p
    )
)
ACCEPTS = st.sampled_from(["", "*/*", "text/csv", "application/json", "application/jsonlines", "image/png",
                           "text/*;q=0", "application/*, */*;q=0.1", "???"])  # fmt: skip
ATTRIBUTES = st.sampled_from(["", "output=probabilities", "output=predicted_label,probability", "output=raw_score",
                              "output=", "output=predicted_score", "x=y;output=labels", "output=nothing"])  # fmt: skip


@bounded
@given(
    body=BODIES, content_type=CONTENT_TYPES, accept=ACCEPTS, attributes=ATTRIBUTES, which=st.integers(0, 1)
)
def test_the_request_path_never_answers_5xx(
    clients: list[Client], body: bytes, content_type: str, accept: str, attributes: str, which: int
) -> None:
    headers = {
        "Content-Type": content_type,
        "Accept": accept,
        "X-Amzn-SageMaker-Custom-Attributes": attributes,
    }
    reply = clients[which].post("/invocations", data=body, headers={k: v for k, v in headers.items() if v})
    assert reply.status_code < 500, reply.get_data()[:300]
    if reply.status_code >= 400:
        error = reply.get_json()
        assert set(error) == {"error", "message"} and error["message"]
