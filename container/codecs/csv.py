"""text/csv: plain decimal numbers, one record per line, no header row.

Owns: what a CSV body is, deliberately and no more, its routes and its answer. Accepted on
purpose: spaces around numbers, an empty field as a missing value, CRLF. Refused on purpose: header
rows, quoted fields, other delimiters, `1_000`, `infinity`/`nan` words, non-ASCII digits.

`decode_csv_strict` is the definition: it checks field by field in Python. The routes (ROUTES,
tried in order; see container/codecs/routes.py) each take a plainly well-formed subset:
- the C reader `_row_reader.csv_rows` (row_reader.c), where it was built: every body of up to
  C_CSV_BYTES of plain numbers and empty fields that the strict path takes, except numbers beyond
  float64, each number read as float() does (one row of 30 fields: 3.1 us, against 6.3 by the
  routes below); what it declines goes strict. Larger bodies, and every body where it was not
  built, take the two routes below, as many fields as the body holds decides which.
- `fast_csv_rows`, for bodies with enough fields to repay their checks: only the CSV bytes above
  (CRLF normalised first), every line with as many fields as the first, no `+` sign (an
  exponent's is fine). When every field is a JSON number, simdjson reads the lines as the rows of
  one JSON array (10,000 x 30: 5-7 ms against pandas' 10-11); an integer `-0` is left to pandas,
  since simdjson drops its sign. Otherwise pandas' C reader, whose float parser (fast_float) rounds
  correctly, like float(); but pandas 3.1 still reads a `+`-signed number beside a space with its
  legacy parser, which does not. A field of spaces only, or a one-column body with an empty line,
  goes strict. A body of one line is read as one column (its commas made line ends) and
  reshaped: the same fields, in the direction pandas is fast.
- `fast_csv_row`, for a body of one line with fewer fields (the usual real-time request), when
  every field is a JSON number: simdjson reads it as one JSON array, without the numpy checks
  above (30 fields: 4.4 us against the strict path's 13.1, which spends 6.5 in float() per field).
  An integer `-0` goes strict, as do an empty field, `.5`, `+1` and what simdjson refuses.

The answer (`encode_csv`) is one line per record (batch transform's `AssembleWith=Line` relies on
it): numbers in their shortest exact form, a non-finite one as an empty field, selected outputs as
columns in the order asked; a line break inside a label is written as the two characters `\\n` (or
`\\r`), so a record never spans two lines.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson
import pandas as pd
import simdjson

from container.codecs import routes
from container.codecs.predictions import NUMPY, bare_numbers, values_of
from container.codecs.routes import Route
from container.codecs.text import UTF8_BOM, declares_utf8, decoded_text, record_lines
from container.errors import InvalidData, MalformedRequest
from container.outputs import Prediction
from container.tables import Table

CSV_ALPHABET = b"0123456789+-.eE, \r\n"
FAST_CSV_ALPHABET = CSV_ALPHABET.replace(b"\r", b"")  # CRLF is normalised before the check
COMMA, NEWLINE, SPACE, PLUS, MINUS, ZERO = (ord(c) for c in ",\n +-0")
EXPONENT_MARKS = np.frombuffer(b"eE", dtype=np.uint8)
A_SEPARATOR = np.frombuffer(b",", dtype=np.uint8)
# simdjson reads it as 0.0, float() as -0.0. An exponent's `e-0` is not one. (A look-behind first
# would cost the search its quick scan for `-0`: 5 us on a row of 30 fields, against 0.45.)
NEGATIVE_INTEGER_ZERO = re.compile(rb"-0(?![0-9.eE])(?<![eE]-0)")
CSV_SPECIALS = frozenset(',"')


def fast_csv_table(body: bytes, params: Mapping[str, str]) -> Table | None:
    """The table of a CSV body of plain numbers and empty fields, read by the C reader (NaN for
    an empty field, so `finite` only without one); None where it was not built or when the strict
    path must decide."""
    if routes.ROW_READER is None or not declares_utf8(params):
        return None
    read = routes.ROW_READER.csv_rows(body)
    if read is None:
        return None
    values, rows, missing = read
    return Table(np.frombuffer(values, dtype=np.float64).reshape(rows, -1), finite=not missing)


# The C reader takes CSV bodies up to this size: beyond it simdjson's SIMD parse, with its checks,
# is faster (rows of 30 fields: 5 rows 6.2 us against 34, 100 rows (22 KB) 96 against 104, 300
# rows (68 KB) 293 against 253, 10,000 rows 9.9 ms against 8.7).
C_CSV_BYTES = 32 * 1024
# What each Python route costs beyond its fields, in fields the strict path reads meanwhile
# (below that the strict path is faster): simdjson, with the checks before it, about 100 (rows of
# 30 fields: 3 rows 34 us against the strict path's 30, 5 rows 34 against 48, 100 rows 109
# against 898); pandas 1,500 once per call, plus 48 rows' worth of each column (it builds its
# frame column by column).
SIMDJSON_CSV_FIELDS = 100
FAST_CSV_CALL_FIELDS = 1500
FAST_CSV_COLUMN_ROWS = 48


def _for_the_c_reader(body: bytes) -> bool:
    return routes.ROW_READER is not None and len(body) <= C_CSV_BYTES


def _many_fields(body: bytes) -> bool:
    if _for_the_c_reader(body):
        return False
    rows, width = _csv_size_estimate(body)
    return rows * width >= SIMDJSON_CSV_FIELDS


def _few_fields(body: bytes) -> bool:
    if _for_the_c_reader(body):
        return False
    rows, width = _csv_size_estimate(body)
    return rows * width < SIMDJSON_CSV_FIELDS


def _many_fields_table(body: bytes, params: Mapping[str, str]) -> Table | None:
    rows, width = _csv_size_estimate(body)
    fast = _fast_csv_any_shape(body, params, _pandas_pays_off(rows, width))
    return None if fast is None else Table(fast)


def _one_row_table(body: bytes, params: Mapping[str, str]) -> Table | None:
    row = fast_csv_row(body, params)  # simdjson's numbers: it refuses any beyond float64
    return None if row is None else Table(row, finite=True)


ROUTES = (  # at most one applies to a body: the C reader's size decides, then the count of fields
    Route("C reader", _for_the_c_reader, fast_csv_table),
    Route("simdjson, then pandas: many fields", _many_fields, _many_fields_table),
    Route("simdjson: one line of few fields", _few_fields, _one_row_table),
)


def decode_csv(body: bytes, params: Mapping[str, str]) -> Table:
    return routes.decode(ROUTES, decode_csv_strict, body, params)


def decode_csv_strict(body: bytes, params: Mapping[str, str]) -> Table:
    lines = record_lines(decoded_text(body, params))
    _reject_foreign_bytes(lines)
    fields = [line.split(",") for line in lines]
    width = len(fields[0])
    for number, row in enumerate(fields, start=1):
        if len(row) != width:
            raise MalformedRequest(
                f"row {number} has {len(row)} fields, row 1 has {width}: every row needs the same count"
            )
    return Table(_csv_numbers(fields, width))


# --- the Python routes: a plainly well-formed subset, or None for the strict path to decide ----


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
    if not declares_utf8(params):
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


# --- the strict path's helpers ---------------------------------------------------------------


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


# --- the answer ------------------------------------------------------------------------------


def encode_csv(prediction: Prediction) -> bytes:
    numbers = bare_numbers(prediction)
    if numbers is not None:
        array = orjson.dumps(numbers, option=NUMPY)
        records = (
            array[1:-1].replace(b",", b"\n") if numbers.ndim == 1 else array[2:-2].replace(b"],[", b"\n")
        )
        return records.replace(b"null", b"") + b"\n"
    labels = _bare_labels(prediction)
    if labels is not None:
        return ("\n".join(map(_csv_field, labels)) + "\n").encode()
    columns = [values_of(values) for _, values in prediction.columns]
    lines = (",".join(_csv_fields(record)) for record in zip(*columns, strict=True))
    return ("\n".join(lines) + "\n").encode()


def _bare_labels(prediction: Prediction) -> list[Any] | None:
    """The framework's own output when it is one label per row (numbers were taken before)."""
    column = prediction.columns[0][1]
    return None if prediction.selected or column.ndim != 1 else column.tolist()


def _csv_fields(record: tuple[Any, ...] | list[Any]) -> list[str]:
    """A record's values flattened in order: a list (probabilities, contributions) or a list of
    lists (contributions, one set per class) gives its numbers one field each."""
    fields: list[str] = []
    for value in record:
        fields.extend(_csv_fields(value) if isinstance(value, list) else [_csv_field(value)])
    return fields


def _csv_field(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value) if isinstance(value, float) else str(value)
    text = text.replace("\r", "\\r").replace("\n", "\\n")
    if CSV_SPECIALS.intersection(text):
        return '"' + text.replace('"', '""') + '"'
    return text
