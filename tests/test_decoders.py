"""What each request decoder accepts and what it refuses, and with which error (400, 415 or 422).

Two halves: tables of hand-picked bodies with their exact result, then properties: for any body,
a decoder either returns a 2-D float64 Table or raises a RequestError, never anything else.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
import scipy.sparse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from container.codecs import DECODERS
from container.codecs.csv import decode_csv
from container.codecs.json import decode_json
from container.codecs.jsonlines import decode_jsonlines
from container.codecs.libsvm import decode_libsvm
from container.codecs.npy import decode_npy
from container.errors import InvalidData, MalformedRequest, RequestError, UnsupportedMediaType
from container.tables import Table
from tests.helpers.bodies import NPY_SHAPE_HEADER, npy_with_header

CSV = "text/csv"
JSON = "application/json"
JSONL = "application/jsonlines"
LIBSVM = "text/libsvm"
NPY = "application/x-npy"

NAN = float("nan")
INF = float("inf")
STATUS = {MalformedRequest: 400, UnsupportedMediaType: 415, InvalidData: 422}


# --- helpers ---------------------------------------------------------------------------------


def decode(content_type: str, body: bytes, params: Mapping[str, str] | None = None) -> Table:
    return DECODERS[content_type](body, params or {})


def dense(rows: Any) -> np.ndarray:
    return rows.toarray() if scipy.sparse.issparse(rows) else rows


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def accepts(content_type: str, body: bytes, expected: Any, id: str, **params: str) -> Any:
    return pytest.param(content_type, body, params, expected, id=id)


def refuses(
    content_type: str, body: bytes, error: type[RequestError], id: str, marks: Any = (), **params: str
) -> Any:
    return pytest.param(content_type, body, params, error, id=id, marks=marks)


# --- what is accepted ------------------------------------------------------------------------

ACCEPTED = [
    # text/csv
    accepts(CSV, b"1,2,3", [[1, 2, 3]], "csv-single-row-stays-2d"),
    accepts(CSV, b"1,2\n3,4", [[1, 2], [3, 4]], "csv-two-rows"),
    accepts(CSV, b"7", [[7]], "csv-single-value-is-1x1"),
    accepts(CSV, b"1,2\r\n3,4\r\n", [[1, 2], [3, 4]], "csv-crlf"),
    accepts(CSV, b"1,2\n3,4\n", [[1, 2], [3, 4]], "csv-trailing-newline"),
    accepts(CSV, b"1,2\n\n\n", [[1, 2]], "csv-several-trailing-newlines"),
    accepts(CSV, b"\xef\xbb\xbf1,2", [[1, 2]], "csv-utf8-bom"),
    accepts(CSV, b"1,2", [[1, 2]], "csv-charset-utf-8", charset="utf-8"),
    accepts(CSV, b"1,2", [[1, 2]], "csv-charset-UTF-8-any-case", charset="UTF-8"),
    accepts(CSV, b"1,2", [[1, 2]], "csv-charset-us-ascii", charset="us-ascii"),
    accepts(CSV, b" 1 , 2 ", [[1, 2]], "csv-spaces-around-numbers"),
    accepts(CSV, b"1,,3", [[1, NAN, 3]], "csv-empty-field-is-nan"),
    accepts(CSV, b"1, ,3", [[1, NAN, 3]], "csv-blank-field-is-nan"),
    accepts(CSV, b",", [[NAN, NAN]], "csv-only-empty-fields"),
    accepts(CSV, b"-1.5,+.5,5.,1e3,-2E-2", [[-1.5, 0.5, 5.0, 1000.0, -0.02]], "csv-number-forms"),
    accepts(CSV, b"1e400,-1e400", [[INF, -INF]], "csv-overflow-decodes-to-inf"),
    # application/json
    accepts(JSON, b'{"instances": [[1, 2], [3, 4]]}', [[1, 2], [3, 4]], "json-instances-lists"),
    accepts(JSON, b'{"instances": [1, 2]}', [[1, 2]], "json-instances-flat-is-one-row"),
    accepts(
        JSON,
        b'{"instances": [{"features": [1, 2]}, {"features": [3, 4]}]}',
        [[1, 2], [3, 4]],
        "json-features",
    ),
    accepts(JSON, b'{"features": [1, 2]}', [[1, 2]], "json-single-features-object"),
    accepts(JSON, b"[[1, 2], [3, 4]]", [[1, 2], [3, 4]], "json-bare-2d-array"),
    accepts(JSON, b"[1, 2, 3]", [[1, 2, 3]], "json-flat-array-is-one-row"),
    accepts(JSON, b"[[1, null], [null, 4]]", [[1, NAN], [NAN, 4]], "json-null-is-nan"),
    accepts(JSON, b"[1.5, -2, 1e-3]", [[1.5, -2, 0.001]], "json-number-forms"),
    accepts(JSON, b"[1e400]", [[INF]], "json-overflow-decodes-to-inf"),
    accepts(
        JSON,
        b"[1" + b"0" * 400 + b", -1" + b"0" * 5000 + b"]",
        [[INF, -INF]],
        "json-huge-integers-decode-to-inf",
    ),
    accepts(JSON, f"[{10**308}]".encode(), [[1e308]], "json-309-digit-integer-within-float64"),
    accepts(JSON, b"\xef\xbb\xbf[1, 2]", [[1, 2]], "json-utf8-bom"),
    accepts(JSON, b"[1, 2]\r\n", [[1, 2]], "json-trailing-crlf"),
    accepts(JSON, b"[1, 2]", [[1, 2]], "json-charset-utf8", charset="utf8"),
    # application/jsonlines
    accepts(JSONL, b"[1, 2]\n[3, 4]\n", [[1, 2], [3, 4]], "jsonl-multi-line"),
    accepts(JSONL, b'{"features": [1, 2]}\r\n[3, null]', [[1, 2], [3, NAN]], "jsonl-crlf-features-null"),
    accepts(JSONL, b"[5]", [[5]], "jsonl-single-line"),
    # text/libsvm (dense view; sparsity is checked separately)
    accepts(LIBSVM, b"1 0:1.5 3:2\n0 1:-1\n", [[1.5, 0, 0, 2], [0, -1, 0, 0]], "libsvm-with-label"),
    accepts(LIBSVM, b"0:1.5 3:2\n1:-1", [[1.5, 0, 0, 2], [0, -1, 0, 0]], "libsvm-without-label"),
    accepts(LIBSVM, b"0:7", [[7]], "libsvm-indices-are-0-based"),
    accepts(LIBSVM, b"3:1 1:2", [[0, 2, 0, 1]], "libsvm-unsorted-indices"),
    accepts(LIBSVM, b"1 0:1\r\n0 1:1\r\n", [[1, 0], [0, 1]], "libsvm-crlf"),
    accepts(LIBSVM, b"1 0:1e400", [[INF]], "libsvm-overflow-decodes-to-inf"),
    # application/x-npy
    accepts(NPY, npy_bytes(np.array([1.0, 2.0, 3.0])), [[1, 2, 3]], "npy-1d-is-one-row"),
    accepts(NPY, npy_bytes(np.array([[1.0, 2.0], [3.0, 4.0]])), [[1, 2], [3, 4]], "npy-2d"),
    accepts(NPY, npy_bytes(np.array([[1, 2]], dtype=np.int32)), [[1, 2]], "npy-int32-becomes-float"),
    accepts(NPY, npy_bytes(np.array([[1, 2]], dtype=np.uint8)), [[1, 2]], "npy-uint8"),
    accepts(NPY, npy_bytes(np.array([[0.5]], dtype=np.float32)), [[0.5]], "npy-float32"),
    accepts(NPY, npy_bytes(np.array([[1.0, 2.0]], dtype=">f8")), [[1, 2]], "npy-big-endian"),
    accepts(NPY, npy_bytes(np.asfortranarray([[1.0, 2.0], [3.0, 4.0]])), [[1, 2], [3, 4]], "npy-fortran"),
    accepts(NPY, npy_bytes(np.array([[np.nan, 1.0]])), [[NAN, 1]], "npy-nan-kept"),
]


@pytest.mark.parametrize(("content_type", "body", "params", "expected"), ACCEPTED)
def test_accepted_bodies(content_type: str, body: bytes, params: dict[str, str], expected: Any) -> None:
    table = decode(content_type, body, params)

    expected = np.array(expected, dtype=np.float64)
    assert table.rows.dtype == np.float64
    assert table.rows.shape == expected.shape
    np.testing.assert_array_equal(dense(table.rows), expected)  # NaN == NaN here
    assert table.columns is None


def test_json_columns_and_data_keeps_the_names() -> None:
    table = decode(JSON, b'{"columns": ["b", "a"], "data": [[1, 2], [3, null]]}')

    assert table.columns == ("b", "a")
    np.testing.assert_array_equal(table.rows, [[1, 2], [3, NAN]])


def test_libsvm_result_is_sparse_with_absent_entries_absent() -> None:
    rows = decode(LIBSVM, b"1 0:1.5 3:0\n0 2:-1\n1\n").rows

    assert isinstance(rows, scipy.sparse.csr_matrix)
    assert rows.shape == (3, 4)
    assert rows.nnz == 3  # the two entries of line 1 (an explicit 0 included) and one of line 2
    coo = rows.tocoo()
    stored = sorted(zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist(), strict=True))
    assert stored == [(0, 0, 1.5), (0, 3, 0.0), (1, 2, -1.0)]
    assert rows.indptr.tolist() == [0, 2, 3, 3]  # the label-only line 3 holds nothing


def test_libsvm_width_is_the_largest_index_plus_one() -> None:
    assert decode(LIBSVM, b"0:1\n9:1").rows.shape == (2, 10)


@pytest.mark.parametrize(
    ("content_type", "decoder"),
    [
        (CSV, decode_csv),
        (JSON, decode_json),
        (JSONL, decode_jsonlines),
        ("application/x-jsonlines", decode_jsonlines),
        (LIBSVM, decode_libsvm),
        ("text/x-libsvm", decode_libsvm),
        (NPY, decode_npy),
    ],
)
def test_registry_maps_each_type_to_its_decoder(content_type: str, decoder: Any) -> None:
    assert DECODERS[content_type] is decoder


def test_registry_has_no_other_types() -> None:
    assert len(DECODERS) == 7


# --- what is refused -------------------------------------------------------------------------


REFUSED = [
    # charset and bytes, for every text decoder
    refuses(CSV, b"1,2", UnsupportedMediaType, "csv-charset-latin-1", charset="latin-1"),
    refuses(CSV, b"1,2", UnsupportedMediaType, "csv-charset-utf-16", charset="utf-16"),
    refuses(JSON, b"[1]", UnsupportedMediaType, "json-charset-latin-1", charset="latin-1"),
    refuses(JSONL, b"[1]", UnsupportedMediaType, "jsonl-charset-latin-1", charset="latin-1"),
    refuses(LIBSVM, b"0:1", UnsupportedMediaType, "libsvm-charset-latin-1", charset="latin-1"),
    refuses(CSV, b"1,\xff", MalformedRequest, "csv-invalid-utf8"),
    refuses(CSV, b"1,\xc3", MalformedRequest, "csv-truncated-utf8"),
    refuses(CSV, b"1,2\x00", MalformedRequest, "csv-nul-byte"),
    refuses(JSON, b"[1, \xff]", MalformedRequest, "json-invalid-utf8"),
    refuses(JSON, b"[1]\x00", MalformedRequest, "json-nul-byte"),
    refuses(LIBSVM, b"0:1\xff", MalformedRequest, "libsvm-invalid-utf8"),
    refuses(CSV, b"", MalformedRequest, "csv-empty-body"),
    refuses(CSV, b"\n", MalformedRequest, "csv-only-newline"),
    refuses(CSV, b"\xef\xbb\xbf", MalformedRequest, "csv-only-bom"),
    refuses(JSON, b"", MalformedRequest, "json-empty-body"),
    refuses(JSONL, b"", MalformedRequest, "jsonl-empty-body"),
    refuses(LIBSVM, b"", MalformedRequest, "libsvm-empty-body"),
    refuses(NPY, b"", MalformedRequest, "npy-empty-body"),
    # text/csv structure
    refuses(CSV, b"1,2\n3", MalformedRequest, "csv-ragged-rows"),
    refuses(CSV, b"1,2\n3,4,5", MalformedRequest, "csv-ragged-rows-longer"),
    refuses(CSV, b"1,2\n\n3,4", MalformedRequest, "csv-blank-inner-line"),
    refuses(CSV, b"1,2\r\n\r\n3,4", MalformedRequest, "csv-blank-inner-crlf-line"),
    refuses(CSV, b"1,2\n   \n3,4", MalformedRequest, "csv-whitespace-inner-line"),
    refuses(CSV, b"   ", MalformedRequest, "csv-whitespace-only"),
    # text/csv fields that are not plain decimal numbers
    refuses(CSV, b"a,b\n1,2", InvalidData, "csv-header-row"),
    refuses(CSV, b'"1","2"', InvalidData, "csv-quoted-fields"),
    refuses(CSV, b"1;2", InvalidData, "csv-semicolon-delimiter"),
    refuses(CSV, b"1\t2", InvalidData, "csv-tab-delimiter"),
    refuses(CSV, b"1_000", InvalidData, "csv-underscore-digits"),
    refuses(CSV, b"infinity", InvalidData, "csv-infinity-word"),
    refuses(CSV, b"1,inf", InvalidData, "csv-inf-word"),
    refuses(CSV, b"nan,1", InvalidData, "csv-nan-word"),
    refuses(CSV, b"NaN", InvalidData, "csv-NaN-word"),
    refuses(CSV, "\u0661\u0662,3".encode(), InvalidData, "csv-arabic-indic-digits"),
    refuses(CSV, "\uff11".encode(), InvalidData, "csv-fullwidth-digit"),
    refuses(CSV, "1\u00a0".encode(), InvalidData, "csv-no-break-space"),
    refuses(CSV, b"0x10", InvalidData, "csv-hex"),
    refuses(CSV, b"1e", InvalidData, "csv-bare-exponent"),
    refuses(CSV, b"1.2.3", InvalidData, "csv-two-points"),
    refuses(CSV, b"--1", InvalidData, "csv-double-sign"),
    refuses(CSV, b"1 2", InvalidData, "csv-space-inside-number"),
    refuses(CSV, b".", InvalidData, "csv-lone-point"),
    refuses(CSV, b"1,2\n3,true", InvalidData, "csv-boolean-word"),
    # application/json
    refuses(JSON, b"[true, 1]", InvalidData, "json-boolean-as-number"),
    refuses(JSON, b'["1", 2]', InvalidData, "json-string-as-number"),
    refuses(JSON, b'{"instances": [[1, "2"]]}', InvalidData, "json-string-in-instances"),
    refuses(JSON, b'{"columns": ["a"], "data": [[false]]}', InvalidData, "json-boolean-in-data"),
    refuses(JSON, b"[NaN]", MalformedRequest, "json-NaN-constant"),
    refuses(JSON, b"[Infinity]", MalformedRequest, "json-Infinity-constant"),
    refuses(JSON, b"[-Infinity]", MalformedRequest, "json-minus-Infinity-constant"),
    refuses(JSON, b'{"instances": [[1]], "instances": [[2]]}', MalformedRequest, "json-duplicate-keys"),
    refuses(JSON, b'{"instances": [{"features": [1], "features": [2]}]}', MalformedRequest, "json-dup-inner"),
    refuses(JSON, b"[" * 100_000, MalformedRequest, "json-100000-open-brackets"),
    refuses(JSON, b"[" * 5_000 + b"1" + b"]" * 5_000, MalformedRequest, "json-deeply-nested-closed"),
    refuses(JSON, b'{"a":' * 100_000, MalformedRequest, "json-deeply-nested-objects"),
    refuses(JSON, b"[1, 2", MalformedRequest, "json-truncated"),
    refuses(JSON, b"[1] [2]", MalformedRequest, "json-two-documents"),
    refuses(JSON, b"[]", MalformedRequest, "json-no-instances"),
    refuses(JSON, b'{"instances": []}', MalformedRequest, "json-empty-instances"),
    refuses(JSON, b"{}", MalformedRequest, "json-object-without-known-keys"),
    refuses(JSON, b"42", MalformedRequest, "json-scalar-document"),
    refuses(JSON, b'"1,2"', MalformedRequest, "json-string-document"),
    refuses(JSON, b'{"instances": 3}', MalformedRequest, "json-instances-not-a-list"),
    refuses(JSON, b'{"instances": [[1], [1, 2]]}', MalformedRequest, "json-ragged-instances"),
    refuses(JSON, b"[[1], 2]", MalformedRequest, "json-mixed-rows-and-scalars"),
    refuses(JSON, b'[{"features": [1], "id": 7}]', MalformedRequest, "json-features-with-extra-key"),
    refuses(JSON, b'[{"values": [1]}]', MalformedRequest, "json-object-without-features"),
    refuses(JSON, b'{"columns": ["a", "a"], "data": [[1, 2]]}', MalformedRequest, "json-duplicate-columns"),
    refuses(JSON, b'{"columns": ["a", 1], "data": [[1, 2]]}', MalformedRequest, "json-non-string-column"),
    refuses(JSON, b'{"columns": ["a"], "data": [[1, 2]]}', MalformedRequest, "json-data-wider-than-columns"),
    refuses(JSON, b'{"columns": ["a"], "data": []}', MalformedRequest, "json-columns-without-data"),
    refuses(JSON, b'{"columns": ["a"], "data": [1]}', MalformedRequest, "json-data-row-not-a-list"),
    # application/jsonlines
    refuses(JSONL, b"[1, 2]\n\n[3, 4]", MalformedRequest, "jsonl-blank-inner-line"),
    refuses(JSONL, b"[1, 2]\n[3]", MalformedRequest, "jsonl-ragged"),
    refuses(JSONL, b"[1, 2]\n42", MalformedRequest, "jsonl-scalar-line"),
    refuses(JSONL, b"[1, 2]\n[3, 4", MalformedRequest, "jsonl-truncated-line"),
    refuses(JSONL, b'{"instances": [[1]]}', MalformedRequest, "jsonl-instances-object"),
    refuses(JSONL, b"[1, true]", InvalidData, "jsonl-boolean"),
    refuses(JSONL, b"[NaN]", MalformedRequest, "jsonl-NaN-constant"),
    refuses(JSONL, b"[" * 100_000, MalformedRequest, "jsonl-100000-open-brackets"),
    refuses(JSONL, b'{"features": [1], "features": [2]}', MalformedRequest, "jsonl-duplicate-keys"),
    # text/libsvm
    refuses(LIBSVM, b"1 0:abc", InvalidData, "libsvm-bad-value"),
    refuses(LIBSVM, b"1 a:1", InvalidData, "libsvm-bad-index"),
    refuses(LIBSVM, b"1 -1:1", InvalidData, "libsvm-negative-index"),
    refuses(LIBSVM, b"1 0=1", InvalidData, "libsvm-equals-not-colon"),
    refuses(LIBSVM, b"1 0:", InvalidData, "libsvm-missing-value"),
    refuses(LIBSVM, b"1 :1", InvalidData, "libsvm-missing-index"),
    refuses(LIBSVM, b"1 0:1:2", InvalidData, "libsvm-two-colons"),
    refuses(LIBSVM, b"1 0:nan", InvalidData, "libsvm-nan-word"),
    refuses(LIBSVM, b"1 0:inf", InvalidData, "libsvm-inf-word"),
    refuses(LIBSVM, b"1 0:1_0", InvalidData, "libsvm-underscore"),
    refuses(LIBSVM, "1 \u0661:1".encode(), InvalidData, "libsvm-arabic-indic-index"),
    refuses(LIBSVM, "1 0:\u0661".encode(), InvalidData, "libsvm-arabic-indic-value"),
    refuses(LIBSVM, b"1 0:1 0:2", InvalidData, "libsvm-duplicate-index"),
    refuses(LIBSVM, b"1 0:1 00:2", InvalidData, "libsvm-duplicate-index-leading-zero"),
    refuses(LIBSVM, b"1 0:1\n\n1 1:1", MalformedRequest, "libsvm-blank-inner-line"),
    refuses(
        LIBSVM,
        b"1 0:1 99999999999999999999999:2",
        InvalidData,
        "libsvm-index-beyond-int64",
    ),
    refuses(
        LIBSVM,
        b"1 0:1 9223372036854775806:2",
        InvalidData,
        "libsvm-index-near-int64-max",
    ),
    refuses(
        LIBSVM,
        b"abc 0:1",
        InvalidData,
        "libsvm-label-not-a-number",
    ),
    refuses(
        LIBSVM,
        b"1,2,3",
        InvalidData,
        "libsvm-csv-body",
    ),
    # application/x-npy
    refuses(NPY, npy_bytes(np.array([1, "a"], dtype=object)), MalformedRequest, "npy-object-array-pickled"),
    refuses(NPY, npy_bytes(np.zeros((2, 2, 2))), InvalidData, "npy-3d"),
    refuses(NPY, npy_bytes(np.float64(1.0)), InvalidData, "npy-0d"),
    refuses(NPY, npy_bytes(np.array([True, False])), InvalidData, "npy-bool"),
    refuses(NPY, npy_bytes(np.array([1 + 2j])), InvalidData, "npy-complex"),
    refuses(NPY, npy_bytes(np.array(["1", "2"])), InvalidData, "npy-unicode-strings"),
    refuses(NPY, npy_bytes(np.array([1], dtype="datetime64[s]")), InvalidData, "npy-datetime"),
    refuses(NPY, npy_bytes(np.zeros(2, dtype=[("a", "<f8")])), InvalidData, "npy-structured"),
    refuses(NPY, b"definitely not an npy file", MalformedRequest, "npy-garbage-bytes"),
    refuses(NPY, b"1,2,3", MalformedRequest, "npy-csv-body"),
    refuses(NPY, npy_bytes(np.zeros((4, 4)))[:-8], MalformedRequest, "npy-truncated-data"),
    refuses(NPY, npy_bytes(np.zeros(3))[:20], MalformedRequest, "npy-truncated-header"),
    refuses(NPY, npy_with_header("[1, 2]"), MalformedRequest, "npy-header-not-a-dict"),
    refuses(NPY, npy_with_header("{'descr': '<f8'}"), MalformedRequest, "npy-header-missing-keys"),
    refuses(NPY, npy_with_header(NPY_SHAPE_HEADER % "-1"), MalformedRequest, "npy-negative-shape"),
    refuses(
        NPY, npy_with_header(NPY_SHAPE_HEADER % "0, -1"), MalformedRequest, "npy-zero-times-negative-shape"
    ),
    refuses(
        NPY, npy_with_header(NPY_SHAPE_HEADER % "-1, -2"), MalformedRequest, "npy-two-negative-dimensions"
    ),
    refuses(
        NPY,
        b"PK\x03\x04" + b"\x00" * 40,
        MalformedRequest,
        "npy-zip-magic-garbage",
    ),
    refuses(
        NPY,
        npy_with_header("{[]: 1}"),
        MalformedRequest,
        "npy-header-unhashable-key",
    ),
    refuses(
        NPY,
        npy_with_header(NPY_SHAPE_HEADER % 10**20),
        MalformedRequest,
        "npy-shape-beyond-int64",
    ),
    refuses(
        NPY,
        npy_with_header(NPY_SHAPE_HEADER % 2**59),
        MalformedRequest,
        "npy-shape-4-EiB",
    ),
]


@pytest.mark.parametrize(("content_type", "body", "params", "error"), REFUSED)
def test_refused_bodies(
    content_type: str, body: bytes, params: dict[str, str], error: type[RequestError]
) -> None:
    with pytest.raises(RequestError) as caught:
        decode(content_type, body, params)

    assert type(caught.value) is error
    assert caught.value.status == STATUS[error]
    assert caught.value.body() == {"error": error.code, "message": caught.value.message}


MESSAGES = [
    (CSV, b"1,2\n3", "row 2 has 1 fields, row 1 has 2"),
    (CSV, b"1,2\n\n3,4", "line 2 is blank"),
    (CSV, b"1,2\n3,x", "row 2: 'x' is not a number"),
    (CSV, b"1,2\n3,1e", "row 2, column 2: '1e' is not a number"),
    (CSV, b"1,\xff", "byte 2"),
    (JSON, b"[1, true]", "true is not a number"),
    (JSON, b'{"a": 1, "a": 2}', "duplicate key 'a'"),
    (JSON, b"[NaN]", "send null for a missing value"),
    (JSON, b"[" * 100_000, "nested too deeply"),
    (JSON, b"[[1], [2, 3]]", "instance 2 has 2 values, expected 1"),
    (LIBSVM, b"1 0:1\n1 0:x", "line 2: '0:x' is not index:value"),
    (LIBSVM, b"1 0:1 0:2", "line 1: a feature index appears twice"),
    (NPY, npy_bytes(np.zeros((1, 1, 1))), "got 3-D"),
]


@pytest.mark.parametrize(
    ("content_type", "body", "fragment"),
    MESSAGES,
    ids=[f"{content_type.split('/')[1]}: {fragment}" for content_type, _, fragment in MESSAGES],
)
def test_refusals_say_where_and_why(content_type: str, body: bytes, fragment: str) -> None:
    with pytest.raises(RequestError) as caught:
        decode(content_type, body)

    assert fragment in caught.value.message


def test_npy_archive_is_refused_as_not_an_array() -> None:
    buffer = io.BytesIO()
    np.savez(buffer, x=np.zeros(2))

    with pytest.raises(MalformedRequest, match=r"not a readable \.npy array"):
        decode(NPY, buffer.getvalue())


def test_npy_ignores_the_charset_parameter() -> None:
    table = decode(NPY, npy_bytes(np.array([1.0])), {"charset": "latin-1"})

    np.testing.assert_array_equal(table.rows, [[1.0]])


# --- properties: any body decodes to a 2-D table or is refused with a RequestError -----------

bounded = settings(
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
EVERY_TYPE = sorted(DECODERS)
CHARSETS = st.sampled_from([{}, {"charset": "utf-8"}, {"charset": "UTF8"}, {"charset": "latin-1"}])


def decoded_or_refused(
    content_type: str, body: bytes, params: Mapping[str, str] | None = None
) -> Table | None:
    """The decoder's Table (checked 2-D float64), or None when it raised a RequestError."""
    try:
        table = decode(content_type, body, params)
    except RequestError as error:
        assert error.status in {400, 415, 422}
        return None
    assert isinstance(table, Table)
    assert isinstance(table.rows, np.ndarray | scipy.sparse.csr_matrix)
    assert table.rows.ndim == 2
    assert table.rows.dtype == np.float64
    if table.columns is not None:
        assert len(table.columns) == table.rows.shape[1]
    return table


@pytest.mark.parametrize("content_type", EVERY_TYPE)
@bounded
@given(body=st.binary(max_size=400), params=CHARSETS)
def test_any_bytes_decode_or_are_refused(content_type: str, body: bytes, params: dict[str, str]) -> None:
    decoded_or_refused(content_type, body, params)


@pytest.mark.parametrize("content_type", EVERY_TYPE)
@bounded
@given(text=st.text(max_size=200))
def test_any_utf8_text_decodes_or_is_refused(content_type: str, text: str) -> None:
    decoded_or_refused(content_type, text.encode())


NPY_MAGIC = st.sampled_from([b"\x93NUMPY\x01\x00", b"\x93NUMPY\x02\x00", b"\x93NUMPY\x03\x00", b"\x93NUMPY"])


@bounded
@given(magic=NPY_MAGIC, rest=st.binary(max_size=300))
def test_npy_magic_followed_by_any_bytes_decodes_or_is_refused(magic: bytes, rest: bytes) -> None:
    decoded_or_refused(NPY, magic + rest)


@bounded
@given(rest=st.binary(max_size=100))
def test_npy_zip_magic_followed_by_any_bytes_is_refused(rest: bytes) -> None:
    decoded_or_refused(NPY, b"PK\x03\x04" + rest)


# Structured CSV: plain numbers mixed with near-miss tokens, joined into rows of random widths.
CSV_NUMBERS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(-(10**30), 10**30).map(str),
    st.decimals(allow_nan=False, allow_infinity=False, places=4).map(str),
)
CSV_NEAR_MISSES = st.sampled_from(
    ["", " ", "1_000", "nan", "inf", "Infinity", "0x10", "1e", "e5", ".", "+", "-", "1.2.3", '"1"',
     "a", "\u0661", "1 2", "1;2", "1\t2", "true", "\r", "1\r"]
)  # fmt: skip


def csv_body(rows: list[list[str]], newline: str, trailing: bool, bom: bool) -> bytes:
    text = newline.join(",".join(row) for row in rows) + (newline if trailing else "")
    return (("\ufeff" if bom else "") + text).encode()


@bounded
@given(
    rows=st.lists(st.lists(st.one_of(CSV_NUMBERS, CSV_NEAR_MISSES), min_size=1, max_size=5), max_size=5),
    newline=st.sampled_from(["\n", "\r\n", "\r", "\n\n"]),
    trailing=st.booleans(),
    bom=st.booleans(),
)
def test_structured_csv_decodes_or_is_refused(
    rows: list[list[str]], newline: str, trailing: bool, bom: bool
) -> None:
    decoded_or_refused(CSV, csv_body(rows, newline, trailing, bom))


def padded(field: str) -> st.SearchStrategy[str]:
    return st.sampled_from(["", " ", "  "]).map(lambda pad: pad + field + pad)


VALID_CSV_FIELDS = st.one_of(CSV_NUMBERS, st.just("")).flatmap(padded)


@bounded
@given(
    rows=st.integers(1, 6).flatmap(
        lambda width: st.lists(
            st.lists(VALID_CSV_FIELDS, min_size=width, max_size=width).filter(
                lambda row: len(row) > 1 or row[0].strip()  # a lone empty field is a blank line
            ),
            min_size=1,
            max_size=6,
        )
    ),
    newline=st.sampled_from(["\n", "\r\n"]),
    trailing=st.booleans(),
    bom=st.booleans(),
)
def test_valid_csv_decodes_to_exactly_its_numbers(
    rows: list[list[str]], newline: str, trailing: bool, bom: bool
) -> None:
    table = decode(CSV, csv_body(rows, newline, trailing, bom))

    expected = [[float(field) if field.strip() else NAN for field in row] for row in rows]
    np.testing.assert_array_equal(table.rows, np.array(expected, dtype=np.float64))


# Structured JSON: any JSON value, with the keys the decoder looks for made likely.
JSON_KEYS = st.sampled_from(["instances", "features", "columns", "data", "x"]) | st.text(max_size=3)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.integers(-(10**20), 10**20)
    | st.text(max_size=4),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(JSON_KEYS, children, max_size=4),
    max_leaves=25,
)


@bounded
@given(document=JSON_VALUES)
def test_structured_json_decodes_or_is_refused(document: Any) -> None:
    decoded_or_refused(JSON, json.dumps(document).encode())


@bounded
@given(documents=st.lists(JSON_VALUES, min_size=1, max_size=4), newline=st.sampled_from(["\n", "\r\n"]))
def test_structured_jsonlines_decodes_or_is_refused(documents: list[Any], newline: str) -> None:
    body = newline.join(json.dumps(document) for document in documents).encode()
    decoded_or_refused(JSONL, body)


JSON_NUMBERS = st.none() | st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(10**15), 10**15)
MATRICES = st.integers(1, 5).flatmap(
    lambda width: st.lists(st.lists(JSON_NUMBERS, min_size=width, max_size=width), min_size=1, max_size=5)
)
JSON_SHAPES = {
    "instances": lambda rows: {"instances": rows},
    "features": lambda rows: {"instances": [{"features": row} for row in rows]},
    "columns": lambda rows: {"columns": [f"f{i}" for i in range(len(rows[0]))], "data": rows},
    "bare": lambda rows: rows,
}


@bounded
@given(rows=MATRICES, shape=st.sampled_from(sorted(JSON_SHAPES)))
def test_valid_json_decodes_to_exactly_its_numbers(rows: list[list[Any]], shape: str) -> None:
    table = decode(JSON, json.dumps(JSON_SHAPES[shape](rows)).encode())

    expected = np.array([[NAN if value is None else value for value in row] for row in rows], dtype=float)
    np.testing.assert_array_equal(table.rows, expected)


@bounded
@given(rows=MATRICES)
def test_valid_jsonlines_decodes_to_exactly_its_numbers(rows: list[list[Any]]) -> None:
    table = decode(JSONL, "\n".join(json.dumps(row) for row in rows).encode())

    expected = np.array([[NAN if value is None else value for value in row] for row in rows], dtype=float)
    np.testing.assert_array_equal(table.rows, expected)


# Structured libsvm: label, index:value pairs (some with near-miss tokens), random whitespace.
LIBSVM_VALUES = st.floats(allow_nan=False, allow_infinity=False).map(repr)
LIBSVM_LINES = st.dictionaries(st.integers(0, 50), LIBSVM_VALUES, max_size=6)
LIBSVM_NEAR_MISSES = st.sampled_from(
    ["0:", ":1", "a:1", "-1:1", "1:nan", "1:inf", "1:x", "0:1:2", "1", "\u0661:1", "0:1_0", "1e3:1"]
)


def libsvm_line(label: str | None, entries: dict[int, str], extra: list[str]) -> str:
    tokens = [f"{index}:{value}" for index, value in entries.items()] + extra
    return " ".join(([label] if label is not None else []) + tokens)


@bounded
@given(
    lines=st.lists(
        st.tuples(
            st.none() | st.sampled_from(["0", "1", "-1", "2.5"]),
            LIBSVM_LINES,
            st.lists(LIBSVM_NEAR_MISSES, max_size=2),
        ),
        min_size=1,
        max_size=5,
    ),
    newline=st.sampled_from(["\n", "\r\n", "\n\n"]),
)
def test_structured_libsvm_decodes_or_is_refused(
    lines: list[tuple[str | None, dict[int, str], list[str]]], newline: str
) -> None:
    decoded_or_refused(LIBSVM, newline.join(libsvm_line(*line) for line in lines).encode())


@bounded
@given(
    lines=st.lists(
        st.tuples(st.sampled_from(["0", "1", "-1", "2.5"]), LIBSVM_LINES).filter(lambda line: line[1]),
        min_size=1,
        max_size=5,
    ),
    with_labels=st.booleans(),
)
def test_valid_libsvm_decodes_to_exactly_its_entries(
    lines: list[tuple[str, dict[int, str]]], with_labels: bool
) -> None:
    body = "\n".join(libsvm_line(label if with_labels else None, entries, []) for label, entries in lines)
    rows = decode(LIBSVM, body.encode()).rows

    assert scipy.sparse.issparse(rows)
    assert rows.shape == (len(lines), max(max(entries) for _, entries in lines) + 1)
    assert rows.nnz == sum(len(entries) for _, entries in lines)
    for number, (_, entries) in enumerate(lines):
        for index, value in entries.items():
            assert rows[number, index] == float(value)


# Structured npy: real .npy files of many dtypes and dimensions.
NPY_DTYPES = st.sampled_from(["<f8", ">f8", "<f4", "<f2", "<i8", "<i4", "|u1", "|i1", "|b1", "<c16", "<U2"])


@bounded
@given(array=NPY_DTYPES.flatmap(lambda dtype: hnp.arrays(dtype, hnp.array_shapes(min_dims=0, max_dims=3))))
def test_npy_arrays_decode_exactly_when_1d_or_2d_numbers(array: np.ndarray) -> None:
    body = npy_bytes(array)
    if array.dtype.kind in "iuf" and array.ndim in (1, 2):
        table = decode(NPY, body)
        np.testing.assert_array_equal(table.rows, np.atleast_2d(array).astype(np.float64))
    else:
        with pytest.raises(InvalidData):
            decode(NPY, body)
