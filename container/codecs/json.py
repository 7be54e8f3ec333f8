"""application/json: `{"instances": [...]}`, a bare array, `{"columns": ..., "data": ...}`.

Owns: what a JSON body is, deliberately and no more, its routes and its answer. Accepted on
purpose: a bare row, rows, either under `{"instances": ...}`, `{"features": [...]}` instances, null
as a missing value. Refused on purpose: booleans and strings as numbers, NaN/Infinity constants,
duplicate keys. An integer beyond float64 is read as infinite, valid JSON that `schema.conform`
refuses with 422.

`decode_json_strict` is the definition (the json module, checked value by value). The routes
(ROUTES, tried in order; see container/codecs/routes.py):
- `fast_json_row`: a body of one row of numbers, `[...]`, `[[...]]` or either under
  `{"instances": ...}` alone, read by the C reader `_row_reader.json_row` where it was built, each
  number as the json module reads it (30 numbers: 1.9 us, the array included, against 9.3 in
  `fast_json_rows`); anything else (a null, a second row, another key) goes on.
- `fast_json_rows`: `{"instances": ...}` or a bare array, of rows or of one row of numbers and
  nulls, whose only string is that one key (so no duplicate keys, no string values) and with no
  true/false. Without a null, simdjson writes the numbers straight into a float64 buffer (RFC
  8259, correctly rounded; 3x faster than a Python float per number on 10,000 rows); with one, or
  an integer beyond 64 bits, orjson parses (also correctly rounded) and numpy converts. Values of
  magnitude 1e308 or more go strict, which reads an integer beyond float64 as infinite (refused
  later, 422) where orjson fails.

The answer (`encode_json`) is `{"predictions": [...]}`: numbers in their shortest exact form,
non-finite ones as null, selected outputs as one record per row keyed by output name.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson
import simdjson

from container.codecs import routes
from container.codecs.predictions import NUMPY, bare_numbers, records
from container.codecs.routes import Route, always
from container.codecs.text import UTF8_BOM, declares_utf8, decoded_text
from container.errors import InvalidData, MalformedRequest
from container.outputs import Prediction
from container.tables import Table

INSTANCES_KEY = b'"instances"'
JSON_NUMBER_TYPES = frozenset({int, float, type(None)})  # what orjson makes of numbers and null
OVERLONG_INTEGER_MAGNITUDE = 1e308  # beyond it the fast path leaves integers to the strict path
FLOAT64_INTEGER_DIGITS = 309  # no integer of more digits fits a float64: it is infinite, unconverted


def _one_row_table(body: bytes, params: Mapping[str, str]) -> Table | None:
    row = fast_json_row(body, params)  # the C reader's numbers: it refuses any beyond float64
    return None if row is None else Table(row, finite=True)


def _number_rows_table(body: bytes, params: Mapping[str, str]) -> Table | None:
    rows = fast_json_rows(body, params)
    return None if rows is None else Table(rows)


ROUTES = (
    Route("C reader: one row of numbers", always, _one_row_table),
    Route("simdjson, then orjson: rows of numbers and nulls", always, _number_rows_table),
)


def decode_json(body: bytes, params: Mapping[str, str]) -> Table:
    return routes.decode(ROUTES, decode_json_strict, body, params)


def decode_json_strict(body: bytes, params: Mapping[str, str]) -> Table:
    document = parse_strict(decoded_text(body, params))
    if isinstance(document, list):
        return Table(_instances(document))
    if not isinstance(document, dict):
        raise MalformedRequest("expected a JSON object or array at the top level")
    if "instances" in document:
        return Table(_instances(_expect_list(document["instances"], "instances")))
    if "columns" in document and "data" in document:
        return _columns_and_data(document["columns"], document["data"])
    if "features" in document:
        return Table(matrix_of([instance_row(document)]))
    raise MalformedRequest(
        'expected {"instances": [...]}, {"columns": [...], "data": [[...]]} or a JSON array'
    )


# --- the routes: a plainly well-formed subset, or None for the strict path to decide ----------


def fast_json_row(body: bytes, params: Mapping[str, str]) -> np.ndarray | None:
    """The row of a JSON body of one row of numbers, read by the C reader; None where it was not
    built or when fast_json_rows and the strict path must decide (a null, a second row...)."""
    if routes.ROW_READER is None or not declares_utf8(params):
        return None
    values = routes.ROW_READER.json_row(body)
    return None if values is None else np.frombuffer(values, dtype=np.float64).reshape(1, -1)


def fast_json_rows(body: bytes, params: Mapping[str, str]) -> np.ndarray | None:
    """The rows of `{"instances": [...]}` or a bare array holding only numbers and nulls, parsed
    by orjson; None when the strict path must decide."""
    if not declares_utf8(params):
        return None
    data = body.removeprefix(UTF8_BOM)
    matrix_start = _json_matrix_start(data)
    if matrix_start is None or data.find(b"t", matrix_start) >= 0 or data.find(b"f", matrix_start) >= 0:
        return None  # another string (a duplicate key, a string value...) or true/false
    rows = None if data.find(b"n", matrix_start) >= 0 else _simdjson_number_rows(data, matrix_start)
    return rows if rows is not None else _orjson_number_rows(data, matrix_start)


def _simdjson_number_rows(data: bytes, matrix_start: int) -> np.ndarray | None:
    """The rows of a matrix of numbers only, written as float64 by simdjson without a Python
    object per number; None for anything else (a null, a ragged or nested matrix, an integer
    beyond 64 bits, a number beyond float64, invalid JSON)."""
    if data.startswith(UTF8_BOM):
        return None  # simdjson skips a BOM: a second one, which JSON refuses
    try:  # a parser per call: no state shared between a worker's threads, no memory kept
        document = simdjson.Parser().parse(data)
        items = document if matrix_start == 0 else _instances_value(document)
        if not isinstance(items, simdjson.Array) or not items:
            return None
        values = np.frombuffer(items.as_buffer(of_type="d"), dtype=np.float64)
        shape = _simdjson_shape(items, data.count(b"[", matrix_start))
    except (ValueError, TypeError, RuntimeError):  # simdjson's errors, or len() of a number
        return None
    if shape is None or values.size != shape[0] * shape[1]:
        return None
    return _finite_enough(values.reshape(shape))


def _simdjson_shape(items: Any, brackets: int) -> tuple[int, int] | None:
    """(rows, width) of an array of equally long rows, or of one flat row. as_buffer flattens
    any nesting, so the bracket count rules it out: one for the outer array and one per row."""
    rows = len(items)
    if brackets == 1:
        return 1, rows
    if brackets != rows + 1:
        return None  # a row holds an array
    widths = set(map(len, items))  # TypeError for a number among the rows
    return (rows, widths.pop()) if len(widths) == 1 and 0 not in widths else None


def _orjson_number_rows(data: bytes, matrix_start: int) -> np.ndarray | None:
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError:  # the strict path finds and words the error
        return None
    items = document if matrix_start == 0 else _instances_value(document)
    return _json_number_rows(items) if isinstance(items, list) else None


def _json_matrix_start(data: bytes) -> int | None:
    """Where the rows begin: after the body's only string, which must be `"instances"`, or at 0
    when the body holds no string at all (a bare array); None for any other string."""
    first_quote = data.find(b'"')
    if first_quote < 0:
        return 0
    if not data.startswith(INSTANCES_KEY, first_quote):
        return None
    key_end = first_quote + len(INSTANCES_KEY)
    return None if data.find(b'"', key_end) >= 0 else key_end


def _instances_value(document: Any) -> Any:
    return document.get("instances") if isinstance(document, dict | simdjson.Object) else None


def _json_number_rows(items: list[Any]) -> np.ndarray | None:
    """A float64 matrix of equally long lists of numbers and nulls (null is NaN), or of one such
    list of scalars as one row, else None."""
    kinds = set(map(type, items))
    if kinds and kinds <= JSON_NUMBER_TYPES:
        items = [items]
    elif kinds != {list}:
        return None
    widths = set(map(len, items))
    if len(widths) != 1 or 0 in widths:
        return None
    width = widths.pop()
    values = itertools.chain.from_iterable(items)
    try:  # booleans and strings were ruled out on the bytes; a nested list or object raises here
        matrix = np.fromiter(values, dtype=np.float64, count=len(items) * width).reshape(-1, width)
    except (TypeError, ValueError):
        return None
    return _finite_enough(matrix)


def _finite_enough(matrix: np.ndarray) -> np.ndarray | None:
    """The matrix, or None when a value is near float64's end: the strict path decides those."""
    return None if (np.abs(matrix) >= OVERLONG_INTEGER_MAGNITUDE).any() else matrix


# --- the strict path's helpers (JSON Lines shares them) ---------------------------------------


def parse_strict(text: str) -> Any:
    try:
        return json.loads(
            text, object_pairs_hook=_unique_keys, parse_constant=_no_constants, parse_int=_integer
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


def _integer(digits: str) -> float:
    """The integer as the nearest float, or infinite beyond float64 (as 1e400 is): valid JSON, so
    `schema.conform` refuses it with 422 like any infinite value. Overlong digit strings are never
    converted to int, which would cost quadratic time."""
    infinite = -math.inf if digits.startswith("-") else math.inf
    if len(digits.lstrip("-")) > FLOAT64_INTEGER_DIGITS:
        return infinite
    try:
        return float(int(digits))
    except OverflowError:
        return infinite


def _expect_list(value: Any, name: str) -> list[Any]:
    if not isinstance(value, list):
        raise MalformedRequest(f'"{name}" must be a JSON array')
    return value


def _instances(items: list[Any]) -> np.ndarray:
    if items and all(_is_scalar(item) for item in items):
        return matrix_of([_row(items)])
    return matrix_of([instance_row(item) for item in items])


def instance_row(item: Any) -> list[float]:
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
    return Table(matrix_of(rows, width=len(names)), tuple(names))


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (int, float, str, bool))


def _row(values: list[Any]) -> list[float]:
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float, type(None))):
            raise InvalidData(f"{json.dumps(value)[:40]} is not a number (or null for missing)")
    return [np.nan if value is None else value for value in values]


def matrix_of(rows: list[list[float]], width: int | None = None) -> np.ndarray:
    if not rows:
        raise MalformedRequest("the request holds no instances")
    expected = len(rows[0]) if width is None else width
    for number, row in enumerate(rows, start=1):
        if len(row) != expected:
            raise MalformedRequest(
                f"instance {number} has {len(row)} values, expected {expected} like the first"
            )
    return np.array(rows, dtype=np.float64).reshape(len(rows), expected)


# --- the answer ------------------------------------------------------------------------------


def encode_json(prediction: Prediction) -> bytes:
    numbers = bare_numbers(prediction)
    return orjson.dumps({"predictions": records(prediction) if numbers is None else numbers}, option=NUMPY)
