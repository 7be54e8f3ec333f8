"""Request bodies to tables: one decoder per MIME type, registered in DECODERS.

Owns: what each content type accepts, deliberately and no more. Every decoder takes the body bytes
and the Content-Type parameters and returns a Table, or raises MalformedRequest (400: not valid
in its declared format) or InvalidData (422: valid, but not numeric input). Must not know the
model: feature counts and missing-value rules are checked later, in `schema.conform`.

Accepted on purpose: UTF-8 with or without BOM, CRLF, a trailing newline, spaces around numbers,
an empty CSV field or JSON null as a missing value. Refused on purpose: header rows, quoted
fields, other delimiters, `1_000`, `infinity`/`nan` words, non-ASCII digits, booleans and
strings as numbers, NaN/Infinity JSON constants, duplicate JSON keys, pickled .npy arrays.

CSV, JSON and JSON Lines each have two routes and one behaviour. The strict path
(`decode_csv_strict`, `decode_json_strict`, `decode_jsonlines_strict`) is the definition: it
checks field by field in Python, and it alone refuses and words the refusal. Every body first
tries a fast path: it takes only a plainly well-formed subset and returns None on anything else or
any error, and the strict path then decides. So what is accepted or refused, with which error and
message, is the strict path's by construction; tests/test_decoders_fast.py checks that the two
routes agree, bit for bit.
- `fast_csv_table`: where `make` or the Dockerfile built it, the C reader `_row_reader.csv_rows`
  (container/row_reader.c) takes every CSV body of up to C_CSV_BYTES of plain numbers and empty
  fields that the strict path takes, except numbers beyond float64, and reads each number as
  float() does (one row of 30 fields: 3.1 us in decode_csv, against 6.3 by the routes below); what
  it declines goes strict. Larger bodies, and every body where it was not built, take the routes
  below: each CSV body with enough fields to repay their checks, and each of one line with fewer.
- `fast_csv_rows`: only the CSV bytes above (CRLF normalised first), every line with as many
  fields as the first, no `+` sign (an exponent's is fine). When every field is a JSON number,
  simdjson reads the lines as the rows of one JSON array (10,000 x 30: 5-7 ms against pandas'
  10-11); an integer `-0` is left to pandas, since simdjson drops its sign. Otherwise pandas' C
  reader, whose float parser (fast_float) rounds correctly, like float(); but pandas 3.1 still
  reads a `+`-signed number beside a space with its legacy parser, which does not. A field of
  spaces only, or a one-column body with an empty line, goes strict. A body of one line is read
  as one column (its commas made line ends) and reshaped: the same fields, in the direction
  pandas is fast.
- `fast_csv_row`: a body of one line with fewer fields (the usual real-time request), when every
  field is a JSON number: simdjson reads it as one JSON array, without the numpy checks above
  (30 fields: 4.4 us against the strict path's 13.1, which spends 6.5 in float() per field). An
  integer `-0` goes strict, as do an empty field, `.5`, `+1` and what simdjson refuses.
- `fast_json_row`: a JSON body of one row of numbers, `[...]`, `[[...]]` or either under
  `{"instances": ...}` alone, read by the C reader `_row_reader.json_row` where it was built, each
  number as the json module reads it (30 numbers: 1.9 us, the array included, against 9.3 in
  `fast_json_rows`); anything else (a null, a second row, another key) goes on to
  `fast_json_rows`.
- `fast_jsonlines_rows`: lines that are each one flat array, `[...]` with no bracket inside, turned
  into one bare array (newlines made commas) for `fast_json_rows`; anything else goes strict.
- `fast_json_rows`: `{"instances": ...}` or a bare array, of rows or of one row of numbers and
  nulls, whose only string is that one key (so no duplicate keys, no string values) and with no
  true/false. Without a null, simdjson writes the numbers straight into a float64 buffer (RFC
  8259, correctly rounded; 3x faster than a Python float per number on 10,000 rows); with one, or
  an integer beyond 64 bits, orjson parses (also correctly rounded) and numpy converts. Values of
  magnitude 1e308 or more go strict, which reads an integer beyond float64 as infinite (refused
  later, 422) where orjson fails.
"""

from __future__ import annotations

import io
import itertools
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import orjson
import pandas as pd
import scipy.sparse
import simdjson

from container.errors import InvalidData, MalformedRequest, UnsupportedMediaType
from container.tables import Table

try:  # the C readers (container/row_reader.c), built by `make` and the Dockerfile
    from container import _row_reader
except ImportError:  # a checkout before `make`: the Python routes read every body
    _row_reader = None  # type: ignore[assignment]

BOM = "\ufeff"
UTF8_BOM = BOM.encode()
CSV_ALPHABET = b"0123456789+-.eE, \r\n"
FAST_CSV_ALPHABET = CSV_ALPHABET.replace(b"\r", b"")  # CRLF is normalised before the check
COMMA, NEWLINE, SPACE, PLUS, MINUS, ZERO = (ord(c) for c in ",\n +-0")
EXPONENT_MARKS = np.frombuffer(b"eE", dtype=np.uint8)
A_SEPARATOR = np.frombuffer(b",", dtype=np.uint8)
INSTANCES_KEY = b'"instances"'
JSON_NUMBER_TYPES = frozenset({int, float, type(None)})  # what orjson makes of numbers and null
OVERLONG_INTEGER_MAGNITUDE = 1e308  # beyond it the fast path leaves integers to the strict path
# simdjson reads it as 0.0, float() as -0.0. An exponent's `e-0` is not one. (A look-behind first
# would cost the search its quick scan for `-0`: 5 us on a row of 30 fields, against 0.45.)
NEGATIVE_INTEGER_ZERO = re.compile(rb"-0(?![0-9.eE])(?<![eE]-0)")
FLOAT64_INTEGER_DIGITS = 309  # no integer of more digits fits a float64: it is infinite, unconverted
# What each CSV fast route costs beyond its fields, in fields the strict path reads meanwhile
# (below that the strict path is faster): simdjson, with the checks before it, about 100 (rows of
# 30 fields: 3 rows 34 us against the strict path's 30, 5 rows 34 against 48, 100 rows 109
# against 898); pandas 1,500 once per call, plus 48 rows' worth of each column (it builds its
# frame column by column).
SIMDJSON_CSV_FIELDS = 100
# The C reader takes CSV bodies up to this size: beyond it simdjson's SIMD parse, with its checks,
# is faster (rows of 30 fields: 5 rows 6.2 us against 34, 100 rows (22 KB) 96 against 104, 300
# rows (68 KB) 293 against 253, 10,000 rows 9.9 ms against 8.7).
C_CSV_BYTES = 32 * 1024
FAST_CSV_CALL_FIELDS = 1500
FAST_CSV_COLUMN_ROWS = 48
FLAT_ARRAY = rb"[ \t\r]*\[[^\[\]\n]*\][ \t\r]*"
# SageMaker's other JSON Lines record: {"features": [...]}, one flat array under that key alone.
FEATURES_OBJECT = rb'\{[ \t\r]*"features"[ \t\r]*:%s\}' % FLAT_ARRAY
FLAT_ARRAY_LINE = rb"(?:%s|[ \t\r]*%s[ \t\r]*)" % (FLAT_ARRAY, FEATURES_OBJECT)
FLAT_ARRAY_LINES = re.compile(rb"(?:%s\n)*%s" % (FLAT_ARRAY_LINE, FLAT_ARRAY_LINE))
UTF8_CHARSETS = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})
MAX_LIBSVM_INDEX_DIGITS = 9  # indices below 10**9; the model's own width is checked in schema


def decode_csv(body: bytes, params: Mapping[str, str]) -> Table:
    if _row_reader is not None and len(body) <= C_CSV_BYTES:
        table = fast_csv_table(body, params)
        return table if table is not None else decode_csv_strict(body, params)
    rows, width = _csv_size_estimate(body)
    if rows * width >= SIMDJSON_CSV_FIELDS:
        fast = _fast_csv_any_shape(body, params, _pandas_pays_off(rows, width))
        return Table(fast) if fast is not None else decode_csv_strict(body, params)
    row = fast_csv_row(body, params)  # simdjson's numbers: it refuses any beyond float64
    return Table(row, finite=True) if row is not None else decode_csv_strict(body, params)


def decode_json(body: bytes, params: Mapping[str, str]) -> Table:
    row = fast_json_row(body, params)  # the C reader's numbers: it refuses any beyond float64
    if row is not None:
        return Table(row, finite=True)
    rows = fast_json_rows(body, params)
    return Table(rows) if rows is not None else decode_json_strict(body, params)


def decode_csv_strict(body: bytes, params: Mapping[str, str]) -> Table:
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


def decode_json_strict(body: bytes, params: Mapping[str, str]) -> Table:
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
    rows = fast_jsonlines_rows(body, params)
    return Table(rows) if rows is not None else decode_jsonlines_strict(body, params)


def decode_jsonlines_strict(body: bytes, params: Mapping[str, str]) -> Table:
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
    if any(size < 0 for size in shape):  # numpy's header reader lets them through
        raise MalformedRequest(f"the .npy header declares a negative dimension: {shape}")
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


# --- fast paths: a plainly well-formed subset, or None for the strict path to decide ----------


def _csv_size_estimate(body: bytes) -> tuple[int, int]:
    """(rows, width) as the fast path will read the body, estimated from the first line's length
    and width; one line is read as one column (correctness never depends on the estimate)."""
    first_line_end = body.find(b"\n", 0, len(body) - 1)
    if first_line_end < 0:
        return body.count(b",") + 1, 1
    width = body.count(b",", 0, first_line_end) + 1
    return len(body) // (first_line_end + 1), width


def _pandas_pays_off(rows: int, width: int) -> bool:
    return rows * width >= FAST_CSV_CALL_FIELDS + FAST_CSV_COLUMN_ROWS * width


def _fast_csv_any_shape(body: bytes, params: Mapping[str, str], with_pandas: bool) -> np.ndarray | None:
    """fast_csv_rows, but a single line is read transposed, as one column, and turned back into
    one row: pandas builds its frame column by column, so one row of 3M fields takes it seconds,
    and one column of them 0.3 s."""
    if body.find(b"\n", 0, len(body) - 1) >= 0:
        return fast_csv_rows(body, params, with_pandas)
    column = fast_csv_rows(body.replace(b",", b"\n"), params, with_pandas)
    if column is None or column.size != body.rstrip(b"\r\n").count(b",") + 1:
        return None  # a trailing empty field became a trailing line end, and was dropped
    return column.reshape(1, -1)


def fast_csv_table(body: bytes, params: Mapping[str, str]) -> Table | None:
    """The table of a CSV body of plain numbers and empty fields, read by the C reader (NaN for
    an empty field, so `finite` only without one); None where it was not built or when the strict
    path must decide."""
    if _row_reader is None or not _declares_utf8(params):
        return None
    read = _row_reader.csv_rows(body)
    if read is None:
        return None
    values, rows, missing = read
    return Table(np.frombuffer(values, dtype=np.float64).reshape(rows, -1), finite=not missing)


def fast_json_row(body: bytes, params: Mapping[str, str]) -> np.ndarray | None:
    """The row of a JSON body of one row of numbers, read by the C reader; None where it was not
    built or when fast_json_rows and the strict path must decide (a null, a second row...)."""
    if _row_reader is None or not _declares_utf8(params):
        return None
    values = _row_reader.json_row(body)
    return None if values is None else np.frombuffer(values, dtype=np.float64).reshape(1, -1)


def fast_csv_row(body: bytes, params: Mapping[str, str]) -> np.ndarray | None:
    """The row of a one-line body of JSON numbers, the usual real-time request, read by simdjson
    as one JSON array without the checks a body of many lines needs; None when the strict path
    must decide (an empty field, `.5`, `+1`, an integer `-0`: see _simdjson_csv_rows)."""
    data = _plain_csv_bytes(body, params)
    if data is None or b"\n" in data or NEGATIVE_INTEGER_ZERO.search(data):
        return None
    values = _simdjson_array_numbers(b"[" + data + b"]")
    if values is None or values.size != data.count(b",") + 1:
        return None
    return values.reshape(1, -1)


def fast_csv_rows(body: bytes, params: Mapping[str, str], with_pandas: bool = True) -> np.ndarray | None:
    """The rows of a plain CSV body, read by simdjson or (`with_pandas`) pandas' C parser; None
    when the strict path must decide."""
    data = _plain_csv_bytes(body, params)
    if data is None:
        return None
    codes = np.frombuffer(data, dtype=np.uint8)
    shape = None if _has_plus_sign(data, codes) else _csv_shape(codes)
    if shape is None:
        return None
    rows = _simdjson_csv_rows(data, codes, shape)
    return rows if rows is not None or not with_pandas else _pandas_csv_rows(data, shape)


def _simdjson_csv_rows(data: bytes, codes: np.ndarray, shape: tuple[int, int]) -> np.ndarray | None:
    """The rows when every field is a JSON number: the lines made the rows of one JSON array
    (the alphabet check left no bracket, letter or quote to make it anything else), which
    simdjson writes straight into float64. An empty field, `.5`, `1.` or `01` is not JSON and
    fails here (pandas reads those)."""
    values = _simdjson_array_numbers(b"[[" + data.replace(b"\n", b"],[") + b"]]")
    if values is None or values.size != shape[0] * shape[1] or _has_negative_integer_zero(codes, values):
        return None
    return values.reshape(shape)


def _simdjson_array_numbers(document: bytes) -> np.ndarray | None:
    """The numbers of a JSON array, nested arrays flattened, written by simdjson straight into
    float64; None when the document is not such an array (not JSON, a number beyond float64, an
    integer beyond 64 bits)."""
    try:
        parsed = simdjson.Parser().parse(document)
        if not isinstance(parsed, simdjson.Array):
            return None
        return np.frombuffer(parsed.as_buffer(of_type="d"), dtype=np.float64)
    except (ValueError, TypeError, RuntimeError):
        return None


def _has_negative_integer_zero(codes: np.ndarray, values: np.ndarray) -> bool:
    """Whether a field is the integer `-0`, which simdjson reads as 0.0 where float() keeps the
    sign: `-0` between two separators (or the body's ends). Looked for only when a 0.0 came out."""
    if np.signbit(values[values == 0]).all():  # no zero, or only -0.0
        return False
    ended = np.concatenate((codes, A_SEPARATOR))  # the body's end ends its last field
    minus_zero_ends = np.flatnonzero((ended[:-2] == MINUS) & (ended[1:-1] == ZERO) & _separators(ended[2:]))
    before = ended[minus_zero_ends[minus_zero_ends > 0] - 1]  # rare: a -0 or an exponent's e-0
    return bool(len(before) < len(minus_zero_ends) or _separators(before).any())


def _separators(codes: np.ndarray) -> np.ndarray:
    separators: np.ndarray = (codes == COMMA) | (codes == NEWLINE) | (codes == SPACE)
    return separators


def _pandas_csv_rows(data: bytes, shape: tuple[int, int]) -> np.ndarray | None:
    """The rows as pandas' C reader reads them: empty fields, `.5`, `1.` and `01` included."""
    try:  # only an empty field is missing: none of pandas' NA words ("nan", "NULL"...) pass
        frame = pd.read_csv(
            io.BytesIO(data), header=None, dtype=np.float64, engine="c", keep_default_na=False, na_values=[""]
        )
    except Exception:  # any complaint of the C parser: the strict path finds and words it
        return None
    matrix = np.ascontiguousarray(frame.to_numpy(dtype=np.float64))
    if matrix.shape != shape or (shape[1] == 1 and np.isnan(matrix).any()):
        return None  # a row went missing, or a one-column body had a blank line
    return matrix


def _plain_csv_bytes(body: bytes, params: Mapping[str, str]) -> bytes | None:
    """The body without BOM, trailing line ends or CRs before LFs, if only CSV bytes remain."""
    if not _declares_utf8(params):
        return None
    data = body.removeprefix(UTF8_BOM).rstrip(b"\r\n")
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n")
    if not data or data.translate(None, FAST_CSV_ALPHABET):
        return None  # empty, a lone CR, or a byte that is not plain CSV (NUL and non-ASCII included)
    return data


def _csv_shape(codes: np.ndarray) -> tuple[int, int] | None:
    """(rows, fields per row) if every line has as many fields as the first."""
    line_starts = np.flatnonzero(codes == NEWLINE) + 1
    line_starts = np.concatenate(([0], line_starts))  # each line counted with the newline ending it
    # uint32 sums run 4x faster than intp, and cannot wrap: bodies are capped far below 4 GiB
    commas = np.add.reduceat(codes == COMMA, line_starts, dtype=np.uint32)
    if (commas != commas[0]).any():
        return None
    return len(commas), int(commas[0]) + 1


def _has_plus_sign(data: bytes, codes: np.ndarray) -> bool:
    """Whether a number has a leading `+`. pandas reads `+1.5` next to a space with its legacy
    parser, which is not correctly rounded; a `+` in an exponent is safe."""
    if b"+" not in data:
        return False
    pluses = np.flatnonzero(codes == PLUS)
    return bool(pluses[0] == 0 or not np.isin(codes[pluses - 1], EXPONENT_MARKS).all())


def fast_json_rows(body: bytes, params: Mapping[str, str]) -> np.ndarray | None:
    """The rows of `{"instances": [...]}` or a bare array holding only numbers and nulls, parsed
    by orjson; None when the strict path must decide."""
    if not _declares_utf8(params):
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


def fast_jsonlines_rows(body: bytes, params: Mapping[str, str]) -> np.ndarray | None:
    """The rows of JSON Lines that are each one flat array (a bracket at each end and none
    inside), or `{"features": ...}` around one, joined into one array for fast_json_rows; None
    when the strict path must decide. With no other bracket, the joined document holds exactly
    the lines' values, or is invalid."""
    data = body.removeprefix(UTF8_BOM).rstrip(b"\r\n")
    if not FLAT_ARRAY_LINES.fullmatch(data):
        return None
    arrays = _unwrapped_features(data) if b"{" in data else data
    if arrays is None:
        return None
    return fast_json_rows(b"[" + arrays.replace(b"\n", b",") + b"]", params)


def _unwrapped_features(data: bytes) -> bytes | None:
    """Lines already matched as flat arrays or `{"features": <flat array>}`, with each object's
    `{`, `"features"`, `:` and `}` removed; None unless those bytes are only the objects' own
    (each object at the start of its line), so no array's content is touched. 300,000 such lines
    of 3 numbers (8.3 MiB), 4 interleaved runs on one core: 2.8-4.8 s parsed one by one by the
    strict path, 0.29-0.50 s unwrapped."""
    objects = data.count(b"\n{") + data.startswith(b"{")
    wrapper_bytes = (data.count(b"{"), data.count(b"}"), data.count(b":"), data.count(b'"features"'))
    if wrapper_bytes != (objects,) * 4 or data.count(b'"') != 2 * objects:
        return None
    return data.replace(b'"features"', b"").translate(None, b"{}:")


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


def _declares_utf8(params: Mapping[str, str]) -> bool:
    charset = params.get("charset")
    return charset is None or charset.lower() in UTF8_CHARSETS


# --- the strict path's helpers -------------------------------------------------------------


def _text(body: bytes, params: Mapping[str, str]) -> str:
    if not _declares_utf8(params):
        raise UnsupportedMediaType(f"charset {params['charset'].lower()!r} is not supported; send UTF-8")
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
