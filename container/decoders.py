"""Request bodies to tables: one decoder per MIME type, registered in DECODERS.

Owns: what each content type accepts, deliberately and no more. Every decoder takes the body bytes
and the Content-Type parameters and returns a Table, or raises MalformedRequest (400: not valid
in its declared format) or InvalidData (422: valid, but not numeric input). Must not know the
model: feature counts and missing-value rules are checked later, in `schema.conform`.

Accepted on purpose: UTF-8 with or without BOM, CRLF, a trailing newline, spaces around numbers,
an empty CSV field or JSON null as a missing value. Refused on purpose: header rows, quoted
fields, other delimiters, `1_000`, `infinity`/`nan` words, non-ASCII digits, booleans and
strings as numbers, NaN/Infinity JSON constants, duplicate JSON keys, pickled .npy arrays.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import scipy.sparse

from container.errors import InvalidData, MalformedRequest, UnsupportedMediaType

Matrix: TypeAlias = np.ndarray | scipy.sparse.csr_matrix
BOM = "\ufeff"
CSV_ALPHABET = b"0123456789+-.eE, \r\n"
UTF8_CHARSETS = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})
MAX_LIBSVM_INDEX_DIGITS = 9  # indices below 10**9; the model's own width is checked in schema


@dataclass(frozen=True)
class Table:
    """Decoded rows (2-D, float64 or CSR) and, when the request named them, column names."""

    rows: Matrix
    columns: tuple[str, ...] | None = None


def decode_csv(body: bytes, params: Mapping[str, str]) -> Table:
    lines = _lines(_text(body, params))
    _reject_foreign_bytes(lines)
    fields = [line.split(",") for line in lines]
    width = len(fields[0])
    for number, row in enumerate(fields, start=1):
        if len(row) != width:
            raise MalformedRequest(
                f"row {number} has {len(row)} fields, row 1 has {width}: every row needs the same count"
            )
    return Table(_csv_numbers(fields, width))


def decode_json(body: bytes, params: Mapping[str, str]) -> Table:
    document = _json(_text(body, params))
    if isinstance(document, list):
        return Table(_instances(document))
    if not isinstance(document, dict):
        raise MalformedRequest("expected a JSON object or array at the top level")
    if "instances" in document:
        return Table(_instances(_expect_list(document["instances"], "instances")))
    if "columns" in document and "data" in document:
        return _columns_and_data(document["columns"], document["data"])
    if "features" in document:
        return Table(_matrix([_instance_row(document)]))
    raise MalformedRequest(
        'expected {"instances": [...]}, {"columns": [...], "data": [[...]]} or a JSON array'
    )


def decode_jsonlines(body: bytes, params: Mapping[str, str]) -> Table:
    rows = [_instance_row(_json(line)) for line in _lines(_text(body, params))]
    return Table(_matrix(rows))


def decode_libsvm(body: bytes, params: Mapping[str, str]) -> Table:
    """`[label] index:value ...` per line, 0-based indices; absent entries stay absent (sparse)."""
    indptr, indices, values = [0], [], []
    for number, line in enumerate(_lines(_text(body, params)), start=1):
        for index, value in _libsvm_pairs(line, number):
            indices.append(index)
            values.append(value)
        indptr.append(len(indices))
    width = max(indices, default=-1) + 1
    rows = scipy.sparse.csr_matrix(
        (np.array(values, dtype=np.float64), np.array(indices, dtype=np.int64), indptr),
        shape=(len(indptr) - 1, width),
    )
    return Table(rows)


def decode_npy(body: bytes, params: Mapping[str, str]) -> Table:
    """A .npy array, checked from its header before anything is allocated: the declared size must
    be exactly the bytes sent, so a small body cannot claim a huge array."""
    stream = io.BytesIO(body)
    shape, fortran_order, dtype = _npy_header(stream)
    if dtype.hasobject:
        raise MalformedRequest("the .npy array holds pickled objects, which are refused")
    if dtype.kind not in "iuf":
        raise InvalidData("the .npy array must hold integers or floats")
    if len(shape) not in (1, 2):
        raise InvalidData(f"the .npy array must be 1-D (one row) or 2-D, got {len(shape)}-D")
    data = body[stream.tell() :]
    declared = math.prod(shape) * dtype.itemsize
    if declared != len(data):
        raise MalformedRequest(f"the .npy header declares {declared} bytes of data, the body has {len(data)}")
    array = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran_order else "C")
    if array.size == 0:
        raise MalformedRequest("the request holds no instances")
    return Table(np.atleast_2d(array).astype(np.float64))


def _npy_header(stream: io.BytesIO) -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            return np.lib.format.read_array_header_1_0(stream)
        return np.lib.format.read_array_header_2_0(stream)
    except Exception as error:  # the header is a Python literal: any parse failure is the client's
        raise MalformedRequest(f"not a readable .npy array: {error}") from None


Decoder = Callable[[bytes, Mapping[str, str]], Table]

DECODERS: dict[str, Decoder] = {
    "text/csv": decode_csv,
    "application/json": decode_json,
    "application/jsonlines": decode_jsonlines,
    "application/x-jsonlines": decode_jsonlines,
    "text/libsvm": decode_libsvm,
    "text/x-libsvm": decode_libsvm,
    "application/x-npy": decode_npy,
}


def _text(body: bytes, params: Mapping[str, str]) -> str:
    charset = params.get("charset", "utf-8").lower()
    if charset not in UTF8_CHARSETS:
        raise UnsupportedMediaType(f"charset {charset!r} is not supported; send UTF-8")
    if b"\x00" in body:
        raise MalformedRequest("the body contains a NUL byte")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise MalformedRequest(f"the body is not valid UTF-8 (byte {error.start})") from None
    return text.removeprefix(BOM)


def _lines(text: str) -> list[str]:
    """Non-empty body split into lines; CRLF and trailing newlines allowed, inner blank lines not."""
    lines = text.rstrip("\r\n").split("\n")
    lines = [line.removesuffix("\r") for line in lines]
    if lines == [""]:
        raise MalformedRequest("the body is empty")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            raise MalformedRequest(f"line {number} is blank; every line must be one record")
    return lines


def _reject_foreign_bytes(lines: list[str]) -> None:
    for number, line in enumerate(lines, start=1):
        if line.encode().translate(None, CSV_ALPHABET):
            field = next(f for f in line.split(",") if f.encode().translate(None, CSV_ALPHABET))
            raise InvalidData(
                f"row {number}: {field.strip()[:40]!r} is not a number "
                "(CSV takes plain decimal numbers: no header row, quotes or other delimiters)"
            )


def _csv_numbers(fields: list[list[str]], width: int) -> np.ndarray:
    flat = [field if field.strip() else "nan" for row in fields for field in row]
    try:
        return np.array(flat, dtype=np.float64).reshape(len(fields), width)
    except ValueError:
        for position, field in enumerate(flat):
            try:
                float(field)
            except ValueError:
                row, column = divmod(position, width)
                raise InvalidData(
                    f"row {row + 1}, column {column + 1}: {field.strip()[:40]!r} is not a number"
                ) from None
        raise


def _json(text: str) -> Any:
    try:
        return json.loads(
            text, object_pairs_hook=_unique_keys, parse_constant=_no_constants, parse_int=_bounded_int
        )
    except RecursionError:
        raise MalformedRequest("the JSON document is nested too deeply") from None
    except ValueError as error:
        raise MalformedRequest(f"invalid JSON: {error}") from None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        duplicate = next(key for key in keys if keys.count(key) > 1)
        raise ValueError(f"duplicate key {duplicate!r}")
    return dict(pairs)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON; send null for a missing value")


def _bounded_int(digits: str) -> float:
    if len(digits.lstrip("-")) > 308:
        raise ValueError("integer too large")
    return float(int(digits))


def _expect_list(value: Any, name: str) -> list[Any]:
    if not isinstance(value, list):
        raise MalformedRequest(f'"{name}" must be a JSON array')
    return value


def _instances(items: list[Any]) -> np.ndarray:
    if items and all(_is_scalar(item) for item in items):
        return _matrix([_row(items)])
    return _matrix([_instance_row(item) for item in items])


def _instance_row(item: Any) -> list[float]:
    if isinstance(item, dict):
        if set(item) != {"features"}:
            raise MalformedRequest('an instance object must be {"features": [...]} and nothing else')
        item = item["features"]
    return _row(_expect_list(item, "instance"))


def _columns_and_data(columns: Any, data: Any) -> Table:
    names = _expect_list(columns, "columns")
    if not all(isinstance(name, str) for name in names) or len(set(names)) != len(names):
        raise MalformedRequest('"columns" must be distinct strings')
    rows = [_row(_expect_list(row, "data row")) for row in _expect_list(data, "data")]
    return Table(_matrix(rows, width=len(names)), tuple(names))


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (int, float, str, bool))


def _row(values: list[Any]) -> list[float]:
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float, type(None))):
            raise InvalidData(f"{json.dumps(value)[:40]} is not a number (or null for missing)")
    return [np.nan if value is None else value for value in values]


def _matrix(rows: list[list[float]], width: int | None = None) -> np.ndarray:
    if not rows:
        raise MalformedRequest("the request holds no instances")
    expected = len(rows[0]) if width is None else width
    for number, row in enumerate(rows, start=1):
        if len(row) != expected:
            raise MalformedRequest(
                f"instance {number} has {len(row)} values, expected {expected} like the first"
            )
    return np.array(rows, dtype=np.float64).reshape(len(rows), expected)


def _libsvm_pairs(line: str, number: int) -> list[tuple[int, float]]:
    tokens = line.split()
    if tokens and ":" not in tokens[0]:
        if not _plain_number(tokens[0]):
            raise InvalidData(f"line {number}: the label {tokens[0][:40]!r} is not a number")
        tokens = tokens[1:]
    pairs = []
    for token in tokens:
        index, _, value = token.partition(":")
        if not (index.isascii() and index.isdigit()) or not _plain_number(value):
            raise InvalidData(f"line {number}: {token[:40]!r} is not index:value")
        if len(index) > MAX_LIBSVM_INDEX_DIGITS:
            raise InvalidData(f"line {number}: feature index {index[:40]} is too large")
        pairs.append((int(index), float(value)))
    if len({index for index, _ in pairs}) != len(pairs):
        raise InvalidData(f"line {number}: a feature index appears twice")
    return pairs


def _plain_number(text: str) -> bool:
    if not text or text.encode().translate(None, b"0123456789+-.eE"):
        return False
    try:
        float(text)
    except ValueError:
        return False
    return True
