"""The CSV and JSON fast paths against the strict path, which defines what is accepted and refused.

A fast path may decline (return None) whenever it likes; when it answers, the strict path must
answer the very same array, bit for bit (NaN positions, -0.0 and last bits included). Through the
public decoders, with the fast path forced on, every body must end exactly as in the strict path:
the same array, or the same error class and message. Bodies: valid ones with many rows, in the
plain subset the fast paths must take, and near-valid hostile ones, mutated byte by byte.
Each fast path has two routes: simdjson first, for bodies whose every value is a JSON number,
then pandas (CSV) or orjson (JSON, with nulls); the properties run each route alone, as well as
both as served. The C readers (container/codecs/row_reader.c) come first where they were built: every CSV
body, and JSON bodies of one row; the properties run them, and the Python routes with the C
module made missing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import decimal
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from container.codecs import csv as csv_codec
from container.codecs import json as json_codec
from container.codecs import routes
from container.codecs.csv import decode_csv, decode_csv_strict, fast_csv_row, fast_csv_rows
from container.codecs.json import decode_json, decode_json_strict, fast_json_row, fast_json_rows
from container.codecs.jsonlines import decode_jsonlines, decode_jsonlines_strict, fast_jsonlines_rows
from container.errors import MalformedRequest, RequestError
from container.tables import Table

FastPath = Callable[[bytes, Mapping[str, str]], np.ndarray | None]
Decoder = Callable[[bytes, Mapping[str, str]], Table]
Outcome = tuple[str, Any]

bounded = settings(
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)

# Decimal strings on which a float parser that is not correctly rounded goes wrong.
HARD_NUMBERS = [
    "0.1", "9007199254740993", "9007199254740995", "2.2250738585072011e-308", "2.2250738585072012e-308",
    "4.9406564584124654e-324", "2.4703282292062327e-324", "2.4703282292062328e-324",
    "1.7976931348623157e308", "1.7976931348623158e308", "1.00000000000000011102230246251565404236316680908203125",
    "7.0420557077594588669468784357561207962098443483187940792729600000e59", "0.000000000000000000001234",
    "123456789012345678901234567890", "8.98846567431158e307", "1e22", "1e23", "5e-324", "1e-400",
    "0.30000000000000004", "1.7976931348623159e308", "-0", "-0.0", "0e5", "-0e-5",
]  # fmt: skip


# --- helpers ---------------------------------------------------------------------------------


def same_bits(left: np.ndarray, right: np.ndarray) -> bool:
    return (
        left.dtype == right.dtype == np.float64
        and left.shape == right.shape
        and left.tobytes() == right.tobytes()
    )


def outcome(decoder: Decoder, body: bytes, params: Mapping[str, str] | None = None) -> Outcome:
    """("rows", array) or (error class name, message): everything a client can tell apart."""
    try:
        table = decoder(body, params or {})
    except RequestError as error:
        return type(error).__name__, error.message
    assert isinstance(table.rows, np.ndarray) and table.rows.flags.c_contiguous
    assert table.columns is None
    return "rows", table.rows


def assert_same_outcome(fast: Outcome, strict: Outcome) -> None:
    assert fast[0] == strict[0], (fast, strict)
    if fast[0] == "rows":
        assert same_bits(fast[1], strict[1]), (fast[1], strict[1])
    else:
        assert fast[1] == strict[1]


def assert_fast_agrees(fast_path: FastPath, strict: Decoder, body: bytes, params: Mapping[str, str]) -> bool:
    """The fast path's answer, if it gives one, is the strict path's; True when it answered."""
    rows = fast_path(body, params)
    if rows is None:
        return False
    expected = outcome(strict, body, params)
    assert expected[0] == "rows", f"the fast path accepted a body the strict path refuses: {expected}"
    assert same_bits(rows, expected[1]), (rows, expected[1])
    return True


# Each route of a fast path run alone: the function of the other one is made to decline.
CSV_ROUTES = {"simdjson": "_pandas_csv_rows", "pandas": "_simdjson_csv_rows", "both": None}
JSON_ROUTES = {"simdjson": "_orjson_number_rows", "orjson": "_simdjson_number_rows", "both": None}


@contextmanager
def only_route(route: str, codec: Any, declined: Mapping[str, str | None]) -> Iterator[None]:
    declining = declined[route]
    if declining is None:
        yield
        return
    with mock.patch.object(codec, declining, return_value=None):
        yield


def json_route(route: str) -> contextlib.AbstractContextManager[None]:
    return only_route(route, json_codec, JSON_ROUTES)


@contextmanager
def csv_route(route: str) -> Iterator[None]:
    """One of the Python CSV routes, as served where the C reader was not built."""
    with c_reader("python"), only_route(route, csv_codec, CSV_ROUTES):
        yield


def route_refused(codec: Any, name: str, message: str) -> contextlib.AbstractContextManager[Any]:
    """The codec's routes, with the one called `name` raising AssertionError(message) if taken."""

    def refuse(body: bytes, params: Mapping[str, str]) -> None:
        raise AssertionError(message)

    replaced = tuple(dataclasses.replace(r, read=refuse) if r.name == name else r for r in codec.ROUTES)
    assert replaced != codec.ROUTES, f"no route {name!r}"
    return mock.patch.object(codec, "ROUTES", replaced)


C_ROUTES = ["c", "python"]


@contextmanager
def c_reader(route: str) -> Iterator[None]:
    """The C readers, which must have been built, or ("python") the routes that serve without them."""
    if route == "c":
        assert routes.ROW_READER is not None, (
            "the C readers (container.codecs._row_reader) are missing: `make` builds them"
        )
        yield
        return
    with mock.patch.object(routes, "ROW_READER", None):
        yield


def c_csv_rows(body: bytes, params: Mapping[str, str]) -> np.ndarray | None:
    """The C reader's rows of a CSV body, or None where it declines."""
    table = csv_codec.fast_csv_table(body, params)
    return None if table is None else table.rows


@contextmanager
def fast_csv_for_any_size() -> Iterator[None]:
    """Without the C reader, decode_csv tries the fast path on every body of more than one line."""
    with (
        c_reader("python"),
        mock.patch.object(csv_codec, "SIMDJSON_CSV_FIELDS", 0),
        mock.patch.object(csv_codec, "FAST_CSV_CALL_FIELDS", 0),
        mock.patch.object(csv_codec, "FAST_CSV_COLUMN_ROWS", 0),
    ):
        yield


@st.composite
def halfway_numbers(draw: st.DrawFn) -> str:
    """The exact decimal midway between two neighbouring doubles: a parser that is not correctly
    rounded (round half to even) gets about half of these wrong by one bit."""
    low = draw(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=1e300))
    high = float(np.nextafter(low, np.inf))
    with decimal.localcontext(prec=1200):
        return format((decimal.Decimal(low) + decimal.Decimal(high)) / 2, "e")


# --- CSV strategies --------------------------------------------------------------------------

CSV_NUMBERS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda x: f"{x:.4f}"),
    st.integers(-(10**30), 10**30).map(str),
    st.decimals(allow_nan=False, allow_infinity=False, places=6).map(str),
    st.sampled_from([*HARD_NUMBERS, "+1", "+.5", "5.", ".5", "-.5", "1E5", "1e+5", "1e400", "-1e400", "007"]),
    st.sampled_from(["-0", "-0.0", "1e-0", "-0e1"]),
    st.from_regex(r"\A[+-]?[0-9]{1,30}(\.[0-9]{0,30})?([eE][+-]?[0-9]{1,3})?\Z"),
)
PADDING = st.sampled_from(["", "", "", " ", "  "])
JSON_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")


@st.composite
def plain_csv_field(draw: st.DrawFn, allow_empty: bool) -> str:
    if allow_empty and draw(st.integers(0, 9)) == 0:
        return ""
    return draw(PADDING) + draw(CSV_NUMBERS) + draw(PADDING)


@st.composite
def plain_csv_rows(draw: st.DrawFn, max_rows: int = 60) -> list[list[str]]:
    """Rows of equal width, fields plain numbers or empty (never spaces only, never a blank line)."""
    width = draw(st.integers(1, 8))
    field = plain_csv_field(allow_empty=width > 1)
    return draw(st.lists(st.lists(field, min_size=width, max_size=width), min_size=1, max_size=max_rows))


def csv_text(rows: list[list[str]], newline: str, trailing: str, bom: bool) -> bytes:
    text = newline.join(",".join(row) for row in rows) + trailing
    return (("\ufeff" if bom else "") + text).encode()


PLAIN_CSV = st.builds(
    csv_text,
    plain_csv_rows(),
    st.sampled_from(["\n", "\r\n"]),
    st.sampled_from(["", "\n", "\r\n", "\n\n", "\r\n\r\n\n"]),
    st.booleans(),
)
PLAIN_CSV_LINE = st.builds(
    csv_text, plain_csv_rows(max_rows=1), st.just("\n"), st.sampled_from(["", "\n", "\r\n"]), st.booleans()
)
# One line of up to 40 fields that are all JSON numbers (-0 and numbers beyond float64 included).
JSON_NUMBERS_LINE = st.lists(
    st.builds(
        lambda pad, number: pad + number, PADDING, CSV_NUMBERS.filter(lambda n: JSON_NUMBER.fullmatch(n))
    ),
    min_size=1,
    max_size=40,
).map(lambda fields: ",".join(fields).encode())
# Bytes that matter to a CSV reader, and some that must never pass.
CSV_HOSTILE_BYTES = [
    b"", b",", b"\n", b"\r", b"\r\n", b"\n\n", b" ", b"  \n", b"\t", b";", b'"', b"'", b"#", b"\x00",
    b"\xef\xbb\xbf", b"\xff", "\u00a0".encode(), "\u0661".encode(), b"nan", b"NaN", b"inf", b"-inf",
    b"Infinity", b"1_000", b"0x10", b"e", b"E", b"e5", b".", b"+", b"-", b"--", b"1.2.3", b"true", b"a",
    b"1e", b"1e+", b"\\", b"\n,\n", b",,", b"1,2\n", b"\x0b", b"\x0c", b"\x1c",
]  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn, body: bytes, inserts: list[bytes]) -> bytes:
    """The body with a few bytes deleted, replaced or inserted at random places."""
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(body)))
        cut = draw(st.integers(0, 3))
        body = body[:at] + draw(st.sampled_from(inserts)) + body[at + cut :]
    return body


HOSTILE_CSV = PLAIN_CSV.flatmap(lambda body: mutated(body, CSV_HOSTILE_BYTES))
HOSTILE_CSV_LINE = PLAIN_CSV_LINE.flatmap(lambda body: mutated(body, CSV_HOSTILE_BYTES))
CSV_PARAMS = st.sampled_from([{}, {"charset": "utf-8"}, {"charset": "US-ASCII"}, {"charset": "latin-1"}])
CSV_BYTES_FROM_ANY = bytes((b'0123456789+-.eE, \r\n\t;"a\x00\xef' * 16)[:256])  # for bytes.translate


# --- CSV properties --------------------------------------------------------------------------


@bounded
@pytest.mark.parametrize("route", ["pandas", "both"])
@given(body=PLAIN_CSV)
def test_fast_csv_takes_every_plain_body_and_matches_float(route: str, body: bytes) -> None:
    with csv_route(route):
        answered = assert_fast_agrees(fast_csv_rows, decode_csv_strict, body, {})
        rows = fast_csv_rows(body, {})

    plus_sign = re.search(rb"(^|[^eE])\+", body) is not None  # left to the strict path on purpose
    assert answered != plus_sign
    if plus_sign:
        return
    assert rows is not None
    lines = body.decode().removeprefix("\ufeff").rstrip("\r\n").split("\n")
    expected = [[float(f) if f.strip() else np.nan for f in line.rstrip("\r").split(",")] for line in lines]
    assert same_bits(rows, np.array(expected, dtype=np.float64))


@bounded
@given(body=PLAIN_CSV)
def test_simdjson_takes_every_plain_csv_body_of_json_numbers(body: bytes) -> None:
    with csv_route("simdjson"):
        answered = assert_fast_agrees(fast_csv_rows, decode_csv_strict, body, {})

    lines = body.removeprefix(b"\xef\xbb\xbf").rstrip(b"\r\n").split(b"\n")
    fields = [field for line in lines for field in line.rstrip(b"\r").split(b",")]
    json_numbers = all(JSON_NUMBER.fullmatch(field.strip(b" ").decode()) for field in fields)
    declined = any(field.strip(b" ") == b"-0" or _beyond_float64_or_64_bits(field) for field in fields)
    assert answered == (json_numbers and not declined)
    event(f"simdjson answered: {answered}")


@bounded
@given(body=st.one_of(PLAIN_CSV, PLAIN_CSV_LINE, JSON_NUMBERS_LINE))
def test_the_c_reader_takes_every_plain_body_of_finite_numbers_and_reads_them_like_float(body: bytes) -> None:
    with c_reader("c"):
        answered = assert_fast_agrees(c_csv_rows, decode_csv_strict, body, {})
        rows = c_csv_rows(body, {})

    lines = body.removeprefix(b"\xef\xbb\xbf").rstrip(b"\r\n").split(b"\n")
    fields = [[field.strip(b" ") for field in line.removesuffix(b"\r").split(b",")] for line in lines]
    finite = all(math.isfinite(float(field)) for line in fields for field in line if field)
    assert answered == finite  # plain bodies: empty fields only beside others, no blank line
    if answered:
        expected = [[float(field) if field else np.nan for field in line] for line in fields]
        assert rows is not None and same_bits(rows, np.array(expected, dtype=np.float64))
    event(f"the C reader answered: {answered}")


@bounded
@given(body=st.one_of(PLAIN_CSV_LINE, JSON_NUMBERS_LINE))
def test_simdjson_takes_every_line_of_json_numbers(body: bytes) -> None:
    answered = assert_fast_agrees(fast_csv_row, decode_csv_strict, body, {})

    fields = body.removeprefix(b"\xef\xbb\xbf").rstrip(b"\r\n").split(b",")
    json_numbers = all(JSON_NUMBER.fullmatch(field.strip(b" ").decode()) for field in fields)
    declined = any(field.strip(b" ") == b"-0" or _beyond_float64_or_64_bits(field) for field in fields)
    assert answered == (json_numbers and not declined)
    event(f"simdjson answered: {answered}")


ONE_LINE_READERS = {"c": c_csv_rows, "simdjson": fast_csv_row}


@bounded
@pytest.mark.parametrize("route", ONE_LINE_READERS)
@given(body=st.one_of(HOSTILE_CSV_LINE, HOSTILE_CSV, PLAIN_CSV), params=CSV_PARAMS)
def test_the_c_reader_and_the_one_line_route_never_disagree(
    route: str, body: bytes, params: dict[str, str]
) -> None:
    with c_reader("c"):
        answered = assert_fast_agrees(ONE_LINE_READERS[route], decode_csv_strict, body, params)
    event(f"{route} answered: {answered}")


@bounded
@pytest.mark.parametrize("route", ONE_LINE_READERS)
@given(body=st.binary(max_size=300).map(lambda b: b.translate(CSV_BYTES_FROM_ANY)))
def test_the_c_reader_and_the_one_line_route_never_disagree_on_random_csv_bytes(
    route: str, body: bytes
) -> None:
    with c_reader("c"):
        answered = assert_fast_agrees(ONE_LINE_READERS[route], decode_csv_strict, body, {})
    event(f"{route} answered: {answered}")


@bounded
@pytest.mark.parametrize("route", C_ROUTES)
@given(body=st.one_of(PLAIN_CSV_LINE, HOSTILE_CSV_LINE), params=CSV_PARAMS)
def test_decode_csv_of_one_line_ends_as_the_strict_path(
    route: str, body: bytes, params: dict[str, str]
) -> None:
    with c_reader(route):
        fast = outcome(decode_csv, body, params)
    assert_same_outcome(fast, outcome(decode_csv_strict, body, params))


@bounded
@pytest.mark.parametrize("route", C_ROUTES)
@given(body=st.one_of(PLAIN_CSV_LINE, HOSTILE_CSV_LINE, PLAIN_CSV), params=CSV_PARAMS)
def test_a_table_said_finite_holds_only_finite_numbers(
    route: str, body: bytes, params: dict[str, str]
) -> None:
    """conform skips its checks for such a table: 1e400 must never come through as inf."""
    try:
        with c_reader(route):
            table = decode_csv(body, params)
    except RequestError:
        return
    if table.finite:
        assert np.isfinite(table.rows).all()
    event(f"said finite: {table.finite}")


def _beyond_float64_or_64_bits(field: bytes) -> bool:
    """A number simdjson refuses rather than round: an integer beyond 64 bits, or beyond float64."""
    number = field.strip(b" ")
    return _beyond_64_bits(number) or (number != b"" and abs(float(number)) == np.inf)


@bounded
@pytest.mark.parametrize("route", CSV_ROUTES)
@given(body=HOSTILE_CSV, params=CSV_PARAMS)
def test_fast_csv_never_disagrees_on_hostile_bodies(route: str, body: bytes, params: dict[str, str]) -> None:
    with csv_route(route):
        answered = assert_fast_agrees(fast_csv_rows, decode_csv_strict, body, params)
    event(f"fast path answered: {answered}")


@bounded
@pytest.mark.parametrize("route", CSV_ROUTES)
@given(body=st.one_of(PLAIN_CSV, HOSTILE_CSV), params=CSV_PARAMS)
def test_decode_csv_ends_as_the_strict_path(route: str, body: bytes, params: dict[str, str]) -> None:
    with fast_csv_for_any_size(), csv_route(route):
        fast = outcome(decode_csv, body, params)
    assert_same_outcome(fast, outcome(decode_csv_strict, body, params))


@bounded
@given(body=st.one_of(PLAIN_CSV, HOSTILE_CSV), params=CSV_PARAMS)
def test_decode_csv_with_the_c_reader_ends_as_the_strict_path(body: bytes, params: dict[str, str]) -> None:
    with c_reader("c"):
        fast = outcome(decode_csv, body, params)
    assert_same_outcome(fast, outcome(decode_csv_strict, body, params))


@bounded
@pytest.mark.parametrize("route", CSV_ROUTES)
@given(body=st.binary(max_size=300).map(lambda b: b.translate(CSV_BYTES_FROM_ANY)))
def test_fast_csv_never_disagrees_on_random_csv_bytes(route: str, body: bytes) -> None:
    with csv_route(route):
        answered = assert_fast_agrees(fast_csv_rows, decode_csv_strict, body, {})
    event(f"fast path answered: {answered}")


# --- CSV examples ----------------------------------------------------------------------------


def bench_csv(rows: int, width: int = 30) -> tuple[bytes, np.ndarray]:
    values = np.round(np.random.default_rng(13).normal(size=(rows, width)), 4)
    return "\n".join(",".join(f"{v:.4f}" for v in row) for row in values).encode(), values


@pytest.mark.parametrize("route", C_ROUTES)
def test_a_large_csv_body_takes_the_fast_path(route: str) -> None:
    body, values = bench_csv(2_000)

    with (
        c_reader(route),
        mock.patch.object(csv_codec, "decode_csv_strict", side_effect=AssertionError("took the strict path")),
        mock.patch.object(csv_codec, "_pandas_csv_rows", side_effect=AssertionError("took pandas")),
    ):
        table = decode_csv(body, {})

    assert same_bits(table.rows, values)
    assert table.rows.flags.c_contiguous


@pytest.mark.parametrize("body", [b"1,-0\n2,3", b"1,-0 \n2,3", b"1,2\n3,-0", b"-0,1", b"1,\n2,3", b".5,1"])
def test_what_simdjson_declines_pandas_reads_like_float(body: bytes) -> None:
    with fast_csv_for_any_size(), csv_route("simdjson"):
        assert fast_csv_rows(body, {}) is None
    with fast_csv_for_any_size():
        assert_same_outcome(outcome(decode_csv, body), outcome(decode_csv_strict, body))


@pytest.mark.parametrize("body", [b"5.1,3.5,1.4,0.2", b"5.1,3.5,1.4,0.2\n", bench_csv(2)[0]])
def test_small_csv_bodies_skip_the_fast_path(body: bytes) -> None:
    fast_path = mock.patch.object(
        csv_codec, "fast_csv_rows", side_effect=AssertionError("took the fast path")
    )
    with c_reader("python"), fast_path:
        decode_csv(body, {})


ONE_LINE_BODIES = [b"5.1,3.5,1.4,0.2", b"5.1,3.5,1.4,0.2\r\n", bench_csv(1)[0], b"-0.0,1e-0,-0e1"]
DECLINED_BY_BOTH = [
    b"1e400,1",
    b"1 2,3",
    b"1,\t2",
    b"1\r,2",
    b"1,2\n3",
    b"1\n\n2",
    b"1\n \n2",
    b" \n",
    b"",
    b"\r\n",
]
# What only the C reader takes: float()'s numbers that are not JSON's, empty fields, many lines.
NOT_JSON_NUMBERS = [b"1,-0", b"-0 ,1", b".5,1", b"+1,2", b"5.,007", b"-.5E+3,+0", b"1,,2", b"1,2,", b" ,1"]
MANY_LINES = [b"1,2\n3,4", b"1,2\r\n3,4\r\n\r\n", b"1\n2", b" , \n1,2"]


@pytest.mark.parametrize(
    ("route", "body"),
    [
        *(("c", body) for body in ONE_LINE_BODIES + NOT_JSON_NUMBERS + MANY_LINES),
        *(("python", body) for body in ONE_LINE_BODIES),
    ],
)
def test_small_bodies_take_the_c_reader_or_the_one_line_route(route: str, body: bytes) -> None:
    expected = decode_csv_strict(body, {}).rows
    strict = mock.patch.object(
        csv_codec, "decode_csv_strict", side_effect=AssertionError("took the strict path")
    )
    with c_reader(route), strict:
        assert same_bits(decode_csv(body, {}).rows, expected)


@pytest.mark.parametrize(
    ("route", "body"),
    [
        *(("c", body) for body in DECLINED_BY_BOTH),
        *(("python", body) for body in DECLINED_BY_BOTH + NOT_JSON_NUMBERS + MANY_LINES),
    ],
)
def test_the_c_reader_and_the_one_line_route_leave_the_rest_to_the_strict_path(
    route: str, body: bytes
) -> None:
    with c_reader(route):
        assert (c_csv_rows if route == "c" else fast_csv_row)(body, {}) is None
        fast = outcome(decode_csv, body)
    assert_same_outcome(fast, outcome(decode_csv_strict, body))


@st.composite
def numbers_near_the_exact_limits(draw: st.DrawFn) -> str:
    """Significands about 2**53 and decimal exponents about 22, where the C reader's exact
    arithmetic gives way to float()'s parser; leading zeros and the point anywhere."""
    significand = draw(st.one_of(st.integers(0, 2**54), st.integers(2**53 - 64, 2**53 + 64)))
    digits = str(significand).zfill(draw(st.integers(1, 24)))
    point = draw(st.integers(0, len(digits)))
    if draw(st.booleans()):
        digits = digits[:point] + "." + digits[point:]
    exponent = draw(st.one_of(st.just(""), st.integers(-30, 30).map(lambda e: f"e{e}")))
    return draw(st.sampled_from(["", "-", "+"])) + digits + exponent


@bounded
@given(
    numbers=st.lists(st.one_of(halfway_numbers(), numbers_near_the_exact_limits()), min_size=1, max_size=30)
)
def test_the_c_reader_reads_numbers_near_its_limits_like_float(numbers: list[str]) -> None:
    with c_reader("c"):
        row = c_csv_rows(",".join(numbers).encode(), {})
    assert row is not None and same_bits(row, np.array([[float(number) for number in numbers]]))


def test_the_c_reader_reads_hard_numbers_like_float() -> None:
    finite = [number for number in HARD_NUMBERS if math.isfinite(float(number))]
    with c_reader("c"):
        row = c_csv_rows(",".join(finite).encode(), {})
    assert row is not None and same_bits(row, np.array([[float(number) for number in finite]]))


def test_csv_bodies_over_the_c_readers_size_take_the_python_routes() -> None:
    body, values = bench_csv(csv_codec.C_CSV_BYTES // 200)  # rows of 30 fields: ~225 bytes each
    within = body[: csv_codec.C_CSV_BYTES].rpartition(b"\n")[0]  # the whole lines that fit
    assert len(body) > csv_codec.C_CSV_BYTES
    c_route = route_refused(csv_codec, "C reader", "took the C reader")
    python_routes = mock.patch.object(
        csv_codec, "_csv_size_estimate", side_effect=AssertionError("took the Python routes")
    )

    with c_reader("c"), c_route:
        assert same_bits(decode_csv(body, {}).rows, values)
    with c_reader("c"), python_routes:
        rows = decode_csv(within, {}).rows
    assert same_bits(rows, values[: len(rows)])


def test_the_c_readers_take_bytes_only() -> None:
    assert routes.ROW_READER is not None, (
        "the C readers (container.codecs._row_reader) are missing: `make` builds them"
    )
    with pytest.raises(TypeError):
        routes.ROW_READER.csv_rows(bytearray(b"1,2"))
    with pytest.raises(TypeError):
        routes.ROW_READER.json_row("[1]")


@pytest.mark.parametrize("rows", [5, 20, 90])
def test_middling_csv_bodies_take_simdjson_but_never_pandas(rows: int) -> None:
    body, values = bench_csv(rows)
    with (
        c_reader("python"),
        mock.patch.object(csv_codec, "decode_csv_strict", side_effect=AssertionError("took the strict path")),
        mock.patch.object(csv_codec, "_pandas_csv_rows", side_effect=AssertionError("took pandas")),
    ):
        assert same_bits(decode_csv(body, {}).rows, values)

    with (
        c_reader("python"),
        mock.patch.object(csv_codec, "_pandas_csv_rows", side_effect=AssertionError("took pandas")),
    ):
        assert same_bits(decode_csv(body.replace(b"0.", b".", 1), {}).rows, values)


def test_a_csv_body_across_pandas_chunks_matches_the_strict_path() -> None:
    """pandas converts 2**20 // width rows at a time, rounded down to a power of two: 128 here."""
    fields = [b"", b"-0", b"1.5", b" 2.5e-3 ", b"7", b"123456789012345678901234567890", b"0.1"]
    lines = (b",".join(fields[(row + column) % len(fields)] for column in range(4096)) for row in range(130))
    body = b"\n".join(lines)

    rows = fast_csv_rows(body, {})

    assert rows is not None and rows.shape == (130, 4096)
    assert same_bits(rows, decode_csv_strict(body, {}).rows)


def test_csv_hard_numbers_are_rounded_like_float() -> None:
    body = "\n".join(f"{number},{number}" for number in HARD_NUMBERS).encode()

    rows = fast_csv_rows(body, {})

    expected = np.array([[float(number)] * 2 for number in HARD_NUMBERS])
    assert rows is not None and same_bits(rows, expected)


def test_a_plus_sign_beside_a_space_is_rounded_like_float() -> None:
    """pandas 3.1 reads `+4000000000000.0020 ` with its legacy parser: one bit off."""
    body = large(b"+4000000000000.0020 ,1")

    table = decode_csv(body, {})

    assert (table.rows[:, 0] == float("+4000000000000.0020 ")).all()
    assert fast_csv_rows(body, {}) is None


@bounded
@given(numbers=st.lists(halfway_numbers(), min_size=2, max_size=40))
def test_halfway_numbers_are_rounded_like_float(numbers: list[str]) -> None:
    expected = np.array([[float(number) for number in numbers]])
    csv_body = ",".join(numbers).encode()
    json_body = ("[" + ", ".join(numbers) + "]").encode()

    csv_rows, json_rows = fast_csv_rows(csv_body, {}), fast_json_rows(json_body, {})

    assert csv_rows is not None and same_bits(csv_rows, expected)
    assert json_rows is not None and same_bits(json_rows, expected)


def large(row: bytes, repeat: int = 400) -> bytes:
    return b"\n".join([row] * repeat)


@pytest.mark.parametrize(
    "body",
    [
        large(b"1,2,3") + b"\n1,2",  # a short last row: pandas would pad it with NaN
        large(b"1,2,3") + b"\n1,2,3,4",
        large(b"1,2") + b"\n\n" + large(b"1,2"),  # an inner blank line
        large(b"1,2") + b"\n   \n" + large(b"1,2"),
        large(b"1") + b"\n\n" + large(b"1"),  # a blank line in a one-column body
        large(b"1") + b"\n  \n" + large(b"1"),
        b"\n" + large(b"1"),
        large(b"1,2") + b"\n1,nan",
        large(b"1,2") + b"\n1,1e",
        large(b"1,2") + b"\n1,2\x00",
        large(b"1,2") + b"\n1\r,2",  # a lone CR: pandas would end a line there
        large(b"1,2\r") + b"\r",
        large(b'"1",2'),
        large(b"1, ,3"),  # a field of spaces: NaN for the strict path, an error for pandas
        large(b"1,2", 5_000),
    ],
    ids=lambda body: repr(body[-12:]),
)
def test_decode_csv_ends_as_the_strict_path_on_large_bodies(body: bytes) -> None:
    assert_same_outcome(outcome(decode_csv, body), outcome(decode_csv_strict, body))
    assert_fast_agrees(fast_csv_rows, decode_csv_strict, body, {})


def test_a_refusal_found_by_the_strict_path_names_the_row() -> None:
    body = large(b"1,2,3") + b"\n1,2"

    with pytest.raises(MalformedRequest, match="row 401 has 2 fields, row 1 has 3"):
        decode_csv(body, {})


# --- JSON strategies -------------------------------------------------------------------------

JSON_NUMBER_TEXT = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(-(10**25), 10**25).map(str),
    st.sampled_from([n for n in HARD_NUMBERS if not n.startswith(("+", "."))] + ["1E+400", "-1e400", "null"]),
    st.from_regex(r"\A-?(0|[1-9][0-9]{0,30})(\.[0-9]{1,30})?([eE][+-]?[0-9]{1,3})?\Z"),
    st.just("null"),
)
SEPARATORS = st.sampled_from([", ", ",", " , ", ",\n  ", ",\r\n\t"])


@st.composite
def json_matrix_text(draw: st.DrawFn) -> str:
    """The text of a JSON array of equally long rows, or of one flat row, of number tokens."""
    width = draw(st.integers(1, 6))
    rows = draw(st.lists(st.lists(JSON_NUMBER_TEXT, min_size=width, max_size=width), min_size=1, max_size=40))
    comma = draw(SEPARATORS)
    if len(rows) == 1 and draw(st.booleans()):
        return "[" + comma.join(rows[0]) + "]"
    return "[" + comma.join("[" + comma.join(row) + "]" for row in rows) + "]"


def json_document(matrix: str, wrapped: bool, space: str, bom: bool) -> bytes:
    text = f'{space}{{{space}"instances"{space}:{space}{matrix}{space}}}{space}' if wrapped else matrix
    return (("\ufeff" if bom else "") + text).encode()


PLAIN_JSON = st.builds(
    json_document,
    json_matrix_text(),
    st.booleans(),
    st.sampled_from(["", " ", "\n", "\r\n\t"]),
    st.booleans(),
)
JSON_HOSTILE_BYTES = [
    b"", b",", b"[", b"]", b"{", b"}", b":", b'"', b'"x"', b'"instances"', b'"instances": [[1]], ', b"true",
    b"false", b"null", b"nul", b"NaN", b"Infinity", b"-Infinity", b"01", b"+1", b".5", b"1.", b"-", b"-0",
    b"1e400", b"1" + b"0" * 308, b"-" + b"9" * 309, b"9" * 400, b"\\", b'"\\u0069"', b"\x00", b"\xff",
    b"\xef\xbb\xbf", b" ", b"\t", b"\x0c", b"[]", b"[[]]", b"{}", b'{"features": [1]}', b"[[1, 2]]", b"[1]",
]  # fmt: skip
HOSTILE_JSON = PLAIN_JSON.flatmap(lambda body: mutated(body, JSON_HOSTILE_BYTES))


@st.composite
def json_row_text(draw: st.DrawFn) -> str:
    """The text of one row of up to 40 number tokens (null among them), flat or nested once."""
    comma = draw(SEPARATORS)
    row = "[" + comma.join(draw(st.lists(JSON_NUMBER_TEXT, min_size=1, max_size=40))) + "]"
    return f"[{row}]" if draw(st.booleans()) else row


ONE_ROW_JSON = st.builds(
    json_document, json_row_text(), st.booleans(), st.sampled_from(["", " ", "\n", "\r\n\t"]), st.booleans()
)
HOSTILE_ONE_ROW_JSON = ONE_ROW_JSON.flatmap(lambda body: mutated(body, JSON_HOSTILE_BYTES))


# --- JSON properties -------------------------------------------------------------------------


@bounded
@given(body=PLAIN_JSON)
def test_fast_json_takes_every_plain_body_but_huge_numbers(body: bytes) -> None:
    answered = assert_fast_agrees(fast_json_rows, decode_json_strict, body, {})

    huge = (np.abs(decode_json_strict(body, {}).rows) >= 1e308).any()  # left to the strict path
    assert answered != huge


@bounded
@given(body=PLAIN_JSON)
def test_simdjson_takes_every_plain_body_of_numbers_that_fit_64_bits(body: bytes) -> None:
    with json_route("simdjson"):
        answered = assert_fast_agrees(fast_json_rows, decode_json_strict, body, {})

    numbers = re.findall(rb"-?[0-9][0-9.eE+-]*|null", body.removeprefix(b"\xef\xbb\xbf"))
    declined = b"null" in numbers or any(_beyond_64_bits(n) for n in numbers)
    huge = (np.abs(decode_json_strict(body, {}).rows) >= 1e308).any()
    assert answered != (declined or huge)


def _beyond_64_bits(number: bytes) -> bool:
    """An integer simdjson cannot hold: it declines those rather than round them."""
    return number.lstrip(b"-").isdigit() and not -(2**63) <= int(number) < 2**64


@bounded
@pytest.mark.parametrize("route", JSON_ROUTES)
@given(body=HOSTILE_JSON)
def test_fast_json_never_disagrees_on_hostile_bodies(route: str, body: bytes) -> None:
    with json_route(route):
        answered = assert_fast_agrees(fast_json_rows, decode_json_strict, body, {})
    event(f"fast path answered: {answered}")


@bounded
@pytest.mark.parametrize("route", JSON_ROUTES)
@given(body=st.one_of(PLAIN_JSON, HOSTILE_JSON), params=CSV_PARAMS)
def test_decode_json_ends_as_the_strict_path(route: str, body: bytes, params: dict[str, str]) -> None:
    with json_route(route):
        fast = outcome(decode_json, body, params)
    assert_same_outcome(fast, outcome(decode_json_strict, body, params))


@bounded
@given(body=ONE_ROW_JSON)
def test_the_c_reader_takes_every_one_row_json_body_of_finite_numbers(body: bytes) -> None:
    with c_reader("c"):
        answered = assert_fast_agrees(fast_json_row, decode_json_strict, body, {})

    strict = decode_json_strict(body, {}).rows
    assert answered == bool(np.isfinite(strict).all())  # a null (NaN) or a number beyond float64 is left
    event(f"the C reader answered: {answered}")


@bounded
@given(body=st.one_of(HOSTILE_ONE_ROW_JSON, HOSTILE_JSON, PLAIN_JSON), params=CSV_PARAMS)
def test_the_c_json_reader_never_disagrees(body: bytes, params: dict[str, str]) -> None:
    with c_reader("c"):
        answered = assert_fast_agrees(fast_json_row, decode_json_strict, body, params)
    event(f"the C reader answered: {answered}")


@bounded
@pytest.mark.parametrize("route", C_ROUTES)
@given(body=st.one_of(ONE_ROW_JSON, HOSTILE_ONE_ROW_JSON), params=CSV_PARAMS)
def test_decode_json_of_one_row_ends_as_the_strict_path(
    route: str, body: bytes, params: dict[str, str]
) -> None:
    with c_reader(route):
        fast = outcome(decode_json, body, params)
        table = decode_json(body, params) if fast[0] == "rows" else None
    assert_same_outcome(fast, outcome(decode_json_strict, body, params))
    assert table is None or not table.finite or np.isfinite(table.rows).all()


# --- JSON examples ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"[5.1, 3.5, 1.4, 0.2]", b'{"instances": [[5.1, 3.5, 1.4, 0.2]]}', b' { "instances" :[ 1 ,-0, 2e-3 ] }\n',
     b"\xef\xbb\xbf[[1E+5, -0.0, 0]]", b"[-0]"],
)  # fmt: skip
def test_a_json_body_of_one_row_takes_the_c_reader(body: bytes) -> None:
    expected = decode_json_strict(body, {}).rows
    fast_path = mock.patch.object(
        json_codec, "fast_json_rows", side_effect=AssertionError("took the fast path")
    )
    with c_reader("c"), fast_path:
        table = decode_json(body, {})
    assert same_bits(table.rows, expected) and table.finite


@pytest.mark.parametrize(
    "body",
    [b"[1, null]", b"[[1], [2]]", b'{"instances": [[1]], "x": 1}', b'{"\\u0069nstances": [1]}', b"[01]", b"[1.]", b"[1., 2]", b"[1.e5, 2]", b"[1e, 2]", b"[-, 2]", b"[1e+]",
     b"[.5]", b"[+1]", b"[]", b"[[]]", b"[1e400]", b"[1,]", b"[1 2]", b"[[1]", b"[1]]", b"[1]\x00", b"[1]x", b"[1]\x0c",
     b'{"instances": [1]', b'{"features": [1]}', b"[true]", b'["1"]', b"\xef\xbb\xbf\xef\xbb\xbf[1]", b"1"],
)  # fmt: skip
def test_the_c_json_reader_leaves_the_rest_to_the_other_routes(body: bytes) -> None:
    with c_reader("c"):
        assert fast_json_row(body, {}) is None
        fast = outcome(decode_json, body)
    assert_same_outcome(fast, outcome(decode_json_strict, body))


def test_the_c_json_reader_reads_numbers_like_the_json_module() -> None:
    tokens = [n for n in HARD_NUMBERS if not n.startswith(("+", ".")) and math.isfinite(float(n))]
    body = ("[" + ", ".join(tokens) + "]").encode()
    with c_reader("c"):
        row = fast_json_row(body, {})
    assert row is not None and same_bits(row, np.array([json.loads(body)], dtype=np.float64))


@pytest.mark.parametrize("separators", [(",", ":"), (", ", ": ")])
def test_a_large_json_body_takes_the_fast_path(separators: tuple[str, str]) -> None:
    values = np.round(np.random.default_rng(13).normal(size=(2_000, 30)), 4)
    body = json.dumps({"instances": values.tolist()}, separators=separators).encode()

    with (
        mock.patch.object(
            json_codec, "decode_json_strict", side_effect=AssertionError("took the strict path")
        ),
        mock.patch.object(json_codec, "_orjson_number_rows", side_effect=AssertionError("took orjson")),
    ):
        table = decode_json(body, {})

    assert same_bits(table.rows, values)


def test_a_large_json_body_with_nulls_takes_orjson_without_trying_simdjson() -> None:
    values = np.round(np.random.default_rng(13).normal(size=(2_000, 30)), 4)
    values[::7, 3] = np.nan
    body = json.dumps({"instances": values.tolist()}).replace("NaN", "null").encode()

    with mock.patch.object(json_codec, "_simdjson_number_rows", side_effect=AssertionError("tried simdjson")):
        rows = fast_json_rows(body, {})

    assert rows is not None and same_bits(rows, values)


@pytest.mark.parametrize(
    "body", [b'{"instances": [[5.1, 3.5, 1.4, 0.2]]}', b'{"instances": [5.1, 3.5, 1.4, 0.2]}', b"[[1, null]]"]
)
def test_one_row_json_takes_the_fast_path(body: bytes) -> None:
    assert fast_json_rows(body, {}) is not None
    assert_fast_agrees(fast_json_rows, decode_json_strict, body, {})


def test_json_hard_numbers_are_rounded_like_the_strict_path() -> None:
    tokens = [number for number in HARD_NUMBERS if abs(float(number)) < 1e308]
    body = ("[[" + ", ".join(tokens) + "]]").encode()

    rows = fast_json_rows(body, {})

    assert rows is not None
    assert same_bits(rows, decode_json_strict(body, {}).rows)


@pytest.mark.parametrize(
    "body",
    [
        b'{"instances": [[1]], "instances": [[2]]}',
        b'{"instances": [[1, true]]}',
        b'{"instances": [[1, "2"]]}',
        b"[[" + b"1" + b"0" * 308 + b"]]",  # 309 digits: 1e308, left to the strict path
        b"[[" + b"9" * 308 + b"]]",  # 308 digits: accepted
        b"[[1e400]]",
        b"[[-0]]",
        b'{"instances": [[1]]}\x00',
        b'{"\\u0069nstances": [[1]]}',
        b'{"instances": [[1], [1, 2]]}',
        b'{"instances": [[[1]]]}',
        b'{"instances": [{}]}',
        b'{"instances": 3}',
        b'{"instances": []}',
        b'{"instances": [[]]}',
        b"[[1], 2]",
        b"\xef\xbb\xbf\xef\xbb\xbf[[1]]",
        b"[[1, 2], [[3]]]",
        b"[[[1]], [2]]",
        b"[[[1, 2]], [[3, 4]]]",
        b"[1, [2]]",
        b"[[1], {}]",
        b"[[1, {}]]",
        b"[[18446744073709551615, -9223372036854775808]]",
        b"[[18446744073709551616]]",
        b"[[1e-400, -0, 0e0]]",
    ],
    ids=lambda body: repr(body[:24]),
)
@pytest.mark.parametrize("route", JSON_ROUTES)
def test_decode_json_ends_as_the_strict_path_on_tricky_bodies(route: str, body: bytes) -> None:
    with json_route(route):
        assert_same_outcome(outcome(decode_json, body), outcome(decode_json_strict, body))
        assert_fast_agrees(fast_json_rows, decode_json_strict, body, {})


@pytest.mark.parametrize(
    "body",
    [b"0,", b"0,,1", b",0", b"1, ,2", b"1,2\r\n", b"\xef\xbb\xbf1,2,", b"+1,2", b"1,x", b"1,2\n"],
)
def test_one_line_read_as_a_column_ends_as_the_strict_path(body: bytes) -> None:
    with fast_csv_for_any_size():
        fast = outcome(decode_csv, body)
    assert_same_outcome(fast, outcome(decode_csv_strict, body))


def test_a_long_single_line_takes_the_fast_path() -> None:
    values = np.round(np.random.default_rng(5).normal(size=5_000), 4)
    body = ",".join(f"{v:.4f}" for v in values).encode()

    with mock.patch.object(
        csv_codec, "decode_csv_strict", side_effect=AssertionError("took the strict path")
    ):
        table = decode_csv(body, {})

    assert same_bits(table.rows, values.reshape(1, -1)) and table.rows.flags.c_contiguous


# --- JSON Lines: one flat array per line, joined for the JSON fast path ----------------------


@st.composite
def jsonlines_text(draw: st.DrawFn) -> bytes:
    """Lines of flat arrays of number tokens, equally long, with JSON whitespace around them;
    some or all of them as SageMaker's `{"features": [...]}` records."""
    width = draw(st.integers(1, 5))
    rows = draw(st.lists(st.lists(JSON_NUMBER_TEXT, min_size=width, max_size=width), min_size=1, max_size=30))
    space = draw(st.sampled_from(["", " ", "\t", " \r"]))
    comma = draw(st.sampled_from([",", ", ", " , "]))
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    records = draw(st.sampled_from(["arrays", "objects", "both"]))
    wrap = draw(st.sampled_from(['{{"features": {}}}', '{{ "features" :{} }}', '{{"features":{}}}\t']))
    arrays = [f"{space}[{comma.join(row)}]{space}" for row in rows]
    as_object = [records == "objects" or (records == "both" and draw(st.booleans())) for _ in rows]
    text = ending.join(
        wrap.format(array) if wrapped else array for array, wrapped in zip(arrays, as_object, strict=True)
    )
    return (("\ufeff" if draw(st.booleans()) else "") + text + draw(st.sampled_from(["", ending]))).encode()


PLAIN_JSONL = jsonlines_text()
JSONL_HOSTILE_BYTES = [
    *JSON_HOSTILE_BYTES, b"\n", b"\r\n", b"\n\n", b"],[", b"][", b"\r", b" \n ",
    b"{", b"}", b":", b'"features"', b'{"features":', b'"feature"', b'"x": 1, ', b"\\u0066",
]  # fmt: skip
HOSTILE_JSONL = PLAIN_JSONL.flatmap(lambda body: mutated(body, JSONL_HOSTILE_BYTES))


@bounded
@given(body=PLAIN_JSONL)
def test_fast_jsonlines_takes_every_plain_body_but_huge_numbers(body: bytes) -> None:
    answered = assert_fast_agrees(fast_jsonlines_rows, decode_jsonlines_strict, body, {})

    huge = (np.abs(decode_jsonlines_strict(body, {}).rows) >= 1e308).any()  # left to the strict path
    assert answered != huge


@bounded
@given(body=HOSTILE_JSONL)
def test_fast_jsonlines_never_disagrees_on_hostile_bodies(body: bytes) -> None:
    answered = assert_fast_agrees(fast_jsonlines_rows, decode_jsonlines_strict, body, {})
    event(f"fast path answered: {answered}")


@bounded
@given(body=st.one_of(PLAIN_JSONL, HOSTILE_JSONL), params=CSV_PARAMS)
def test_decode_jsonlines_ends_as_the_strict_path(body: bytes, params: dict[str, str]) -> None:
    assert_same_outcome(
        outcome(decode_jsonlines, body, params), outcome(decode_jsonlines_strict, body, params)
    )


@pytest.mark.parametrize(
    "body",
    [b"[1]\n[2", b"[1],[2]", b"[1]\n\n[2]", b"[[1]]\n[2]", b"[1]\n[2]]", b"[1] [2]", b"[1]\n{\"features\": [2]}",
     b"[1]\n[]", b"[1,]\n[2]", b"[1]\x00", b"[1]\r\r\n[2]", b"[NaN]", b"[1]\n[true]", b"\xef\xbb\xbf[1]\n[2]\n\n"],
)  # fmt: skip
def test_jsonlines_edge_cases_end_as_the_strict_path(body: bytes) -> None:
    assert_same_outcome(outcome(decode_jsonlines, body), outcome(decode_jsonlines_strict, body))
