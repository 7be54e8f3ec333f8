"""The C readers of training pieces (row_reader.c's csv_block and libsvm_block) against the strict
serving decoders, with the GIL held and released, and container/training/chunks.py's threads
against one thread and against its Python path: the same arrays bit for bit, or the same error
naming the same file and line."""

from __future__ import annotations

import gzip
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import scipy.sparse
from hypothesis import given, settings
from hypothesis import strategies as st

from container.codecs import routes
from container.codecs.csv import decode_csv_strict
from container.codecs.libsvm import decode_libsvm
from container.errors import RequestError, TrainingError
from container.training import chunks

UNLOCKED_BYTES = 1024 * 1024  # row_reader.c: from this size the GIL is released, strtod stands in

# Numbers whose double only a correctly rounding parser finds: 17 significant digits, halfway
# cases, subnormals, the fast path's edges, float32's overflow edge, signs, leading dots, -0.
HARD = [
    "0.1", "-0", "+1.5", ".5", "5.", "1e22", "1e23", "9007199254740993", "2.2250738585072011e-308",
    "1.7976931348623157e38", "0.30000000000000004", "123456789012345678901234567890", "4.9e-324",
    "1.00000000000000011102230246251565404236316680908203125", "-7.2057594037927933e16", "3.4028235e38",
    "3.4028235677973366e38", "3.40282356779733661637539395458142568448e38", "1e-45", "7.006492321624085e-46",
    "2.4703282292062327e-324", "2.4703282292062328e-324", "8.98846567431158e307", "1e-400", "0e999999",
    "1.2345678901234567e-5", "9.999999999999999e22", "1E+05", "-.0e-0", "00000000000000000000001.5",
]  # fmt: skip


def needs_c_reader() -> None:
    if routes.ROW_READER is None:
        pytest.skip("the C readers are not built (make)")


def random_numbers(rng: np.random.Generator, count: int) -> list[str]:
    """Hard numbers mixed with random doubles written in full (17 digits: strtod's or dtoa's) and
    short ones (the fast path's)."""
    doubles = rng.standard_normal(count) * 10.0 ** rng.integers(-300, 300, count)
    short = np.round(rng.standard_normal(count), 6)
    pick = rng.integers(0, 3, count)
    return [
        HARD[i % len(HARD)] if kind == 0 else repr(float(d)) if kind == 1 else repr(float(s))
        for i, (kind, d, s) in enumerate(zip(pick.tolist(), doubles.tolist(), short.tolist(), strict=True))
    ]


def csv_body(rng: np.random.Generator, rows: int, width: int, crlf: bool = False) -> bytes:
    numbers = random_numbers(rng, rows * width)
    end = "\r\n" if crlf else "\n"
    return "".join(",".join(numbers[r * width : (r + 1) * width]) + end for r in range(rows)).encode()


def strict_csv(body: bytes) -> np.ndarray:
    return np.asarray(decode_csv_strict(body, {}).rows, dtype=np.float64)


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


# --- csv_rows and csv_block, GIL held and released ------------------------------------------------


@pytest.mark.parametrize("size", ["held", "released"])
def test_csv_rows_reads_like_float_with_the_gil_held_or_released(size: str) -> None:
    needs_c_reader()
    rng = np.random.default_rng(1)
    rows = 40 if size == "held" else 40_000
    body = csv_body(rng, rows, 7)
    assert (len(body) >= UNLOCKED_BYTES) == (size == "released")
    assert routes.ROW_READER is not None
    read = routes.ROW_READER.csv_rows(body)
    assert read is not None
    values, count, _ = read
    got = np.frombuffer(values, dtype=np.float64).reshape(count, -1)
    expected = np.array([[float(v) for v in line.split(b",")] for line in body.splitlines()])
    assert same_bits(got, expected)


@pytest.mark.parametrize("rows", [30, 40_000])
def test_csv_block_is_the_strict_paths_labels_and_float32_features(rows: int) -> None:
    needs_c_reader()
    rng = np.random.default_rng(rows)
    body = csv_body(rng, rows, 6, crlf=rows > 100)
    assert routes.ROW_READER is not None
    read = routes.ROW_READER.csv_block(body)
    assert read is not None
    labels, features, count, width = read
    strict = strict_csv(body)
    assert (count, width) == (rows, 5)
    assert same_bits(np.frombuffer(labels, np.float64), strict[:, 0])
    with np.errstate(over="ignore"):
        expected = strict[:, 1:].astype(np.float32)
    assert same_bits(np.frombuffer(features, np.float32).reshape(count, width), expected)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.sampled_from([*HARD, "", " 1 ", "x", "1e", "--1", "nan", "0x1p3", "\r"]), min_size=1, max_size=4), min_size=1, max_size=5))  # fmt: skip
def test_csv_block_takes_what_the_strict_path_reads_with_labels(rows: list[list[str]]) -> None:
    """Taken: exactly the strict path's values; declined: the strict path refuses, a label is empty,
    a number is beyond float64 (the Python path reads it as infinite) or spelled out (`nan`), or
    a field holds a CR."""
    needs_c_reader()
    body = "".join(",".join(row) + "\n" for row in rows).encode()
    assert routes.ROW_READER is not None
    read = routes.ROW_READER.csv_block(body)
    try:
        strict = strict_csv(body)
    except RequestError:
        assert read is None
        return
    if read is None:
        spelled = b"nan" in body.lower() or b"\r" in body  # `nan`, a stray CR: the strict path's
        assert strict.shape[1] < 2 or np.isnan(strict[:, 0]).any() or np.isinf(strict).any() or spelled
        return
    labels, features, count, width = read
    assert same_bits(np.frombuffer(labels, np.float64), strict[:, 0])
    with np.errstate(over="ignore"):
        assert same_bits(
            np.frombuffer(features, np.float32).reshape(count, width), strict[:, 1:].astype(np.float32)
        )


# --- libsvm_block ---------------------------------------------------------------------------------


def libsvm_body(rng: np.random.Generator, rows: int, width: int, crlf: bool = False) -> bytes:
    numbers = random_numbers(rng, rows * (width + 1))
    present = rng.random((rows, width)) < 0.6
    lines = []
    for r in range(rows):
        pairs = [f"{i}:{numbers[r * (width + 1) + 1 + i]}" for i in range(width) if present[r, i]]
        sep = " " if r % 3 else "\t"
        lines.append(sep.join([f"{r % 2}", *pairs]) + ("  " if r % 5 == 0 else ""))
    end = "\r\n" if crlf else "\n"
    return end.join(lines).encode() + end.encode()


def strict_libsvm(body: bytes) -> tuple[np.ndarray, scipy.sparse.csr_matrix]:
    labels = np.array([float(line.split()[0]) for line in body.splitlines()])
    return labels, decode_libsvm(body, {}).rows


def c_libsvm(body: bytes) -> tuple[np.ndarray, scipy.sparse.csr_matrix] | None:
    assert routes.ROW_READER is not None
    read = routes.ROW_READER.libsvm_block(body)
    if read is None:
        return None
    labels, data, indices, indptr, rows, width = read
    parts = (
        np.frombuffer(data, np.float32),
        np.frombuffer(indices, np.int32),
        np.frombuffer(indptr, np.int32),
    )
    return np.frombuffer(labels, np.float64), scipy.sparse.csr_matrix(parts, shape=(rows, width))


def assert_same_csr(got: scipy.sparse.csr_matrix, strict: scipy.sparse.csr_matrix) -> None:
    assert got.shape == strict.shape
    np.testing.assert_array_equal(got.indptr, strict.indptr)
    np.testing.assert_array_equal(got.indices, strict.indices)
    with np.errstate(over="ignore"):
        assert same_bits(got.data, strict.data.astype(np.float32))


@pytest.mark.parametrize("rows", [30, 30_000])
def test_libsvm_block_is_the_strict_paths_labels_and_float32_values(rows: int) -> None:
    needs_c_reader()
    rng = np.random.default_rng(rows)
    body = libsvm_body(rng, rows, 9, crlf=rows > 100)
    assert (len(body) >= UNLOCKED_BYTES) == (rows > 100)
    read = c_libsvm(body)
    labels, strict = strict_libsvm(body)
    if not np.isfinite(strict.data).all():
        assert read is None
        return
    assert read is not None
    assert same_bits(read[0], labels)
    assert_same_csr(read[1], strict)


DECLINED_LIBSVM = {
    "qid": b"1 qid:3 0:1\n",
    "decreasing": b"1 3:1 1:2\n",
    "repeated": b"1 1:1 1:2\n",
    "blank line": b"1 0:1\n\n0 1:2\n",
    "comment": b"1 0:1 # note\n",
    "no label": b"0:1 1:2\n",
    "text label": b"cat 0:1\n",
    "bad value": b"1 0:x\n",
    "empty value": b"1 0:\n",
    "huge index": b"1 1234567890:1\n",
    "negative index": b"1 -1:1\n",
    "two colons": b"1 0:1:2\n",
    "stray CR": b"1 0:1\r 1:2\n",
    "beyond float64": b"1 0:1e999\n",
    "nan": b"1 0:nan\n",
    "NUL": b"1 0:1\x00\n",
    "empty": b"\n",
}


@pytest.mark.parametrize("case", sorted(DECLINED_LIBSVM))
def test_libsvm_block_declines_what_it_does_not_read_exactly(case: str) -> None:
    needs_c_reader()
    assert c_libsvm(DECLINED_LIBSVM[case]) is None


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.sampled_from([*HARD[:12], "1", "0:1", "2:-3.5", "10:.5", " ", "\t", "x", ":", "1:"]), min_size=1, max_size=5), min_size=1, max_size=4))  # fmt: skip
def test_libsvm_block_takes_only_what_the_strict_path_reads_the_same(lines: list[list[str]]) -> None:
    needs_c_reader()
    body = "".join(" ".join(tokens) + "\n" for tokens in lines).encode()
    read = c_libsvm(body)
    if read is None:
        return
    labels, strict = strict_libsvm(body)
    assert same_bits(read[0], labels)
    assert_same_csr(read[1], strict)


# --- chunks: threads, the C and Python paths --------------------------------------------------------


def blocks(path: Path, kind: str, threads: int, numeric: bool = False) -> list[chunks.Block]:
    return list(chunks.read_blocks(path, kind, numeric_labels=numeric, threads=threads))


def joined(parts: list[chunks.Block]) -> tuple[np.ndarray, np.ndarray]:
    labels = np.concatenate([block.labels for block in parts])
    features = [block.features for block in parts]
    if features and scipy.sparse.issparse(features[0]):
        width = max(matrix.shape[1] for matrix in features)
        wide = [scipy.sparse.csr_matrix(m, shape=(m.shape[0], width)) for m in features]
        return labels, scipy.sparse.vstack(wide, format="csr").toarray()
    return labels, np.vstack(features)


def write(path: Path, body: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(body) if path.suffix == ".gz" else body)
    return path


@pytest.mark.parametrize("kind", ["csv", "libsvm"])
@pytest.mark.parametrize("name", ["a.txt", "a.txt.gz"])
def test_threads_and_one_thread_give_the_same_blocks_bit_for_bit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, name: str
) -> None:
    """Pieces of 1.5 MiB, so the C readers run with the GIL released, on four threads."""
    monkeypatch.setattr(chunks, "PIECE_BYTES", 3 * 512 * 1024)
    rng = np.random.default_rng(7)
    body = csv_body(rng, 60_000, 6) if kind == "csv" else libsvm_body(rng, 80_000, 8)
    path = write(tmp_path / name, body)
    one, four = blocks(path, kind, 1), blocks(path, kind, 4)
    assert len(one) == len(four) > 3
    for a, b in zip(one, four, strict=True):
        assert (a.first_line, a.rows) == (b.first_line, b.rows)
        assert same_bits(a.labels, b.labels)
        if kind == "csv":
            assert same_bits(a.features, b.features)
        else:
            assert_same_csr(a.features, b.features.astype(np.float64))
    assert sum(block.rows for block in four) == body.count(b"\n")


HOSTILE_FILES = {  # (kind, the file's text); errors are compared with the Python path's
    "ragged": ("csv", b"1,2,3\n0,4,5\n1,6\n0,7,8\n"),
    "bad number": ("csv", b"1,2,3\n0,4,1e\n"),
    "text labels": ("csv", b"cat,2,3\ndog,4,5\r\n"),
    "empty label": ("csv", b"1,2,3\n,4,5\n"),
    "crlf": ("csv", b"1,2,3\r\n0,4,5\r\n"),
    "bom and no final newline": ("csv", b"\xef\xbb\xbf1,2,3\n0,.5,-0"),
    "empty fields": ("csv", b"1,,3\n0,4,\n"),
    "one column": ("csv", b"1\n0\n"),
    "hard numbers": ("csv", ("1," + ",".join(HARD) + "\n").encode()),
    "libsvm crlf": ("libsvm", b"1 0:1.5 3:2\r\n0\r\n"),
    "libsvm unsorted": ("libsvm", b"1 3:1 1:2\n0 0:4\n"),
    "libsvm bad value": ("libsvm", b"1 0:1\n0 1:x\n"),
    "libsvm no label": ("libsvm", b"1 0:1\n2:3\n"),
    "libsvm qid": ("libsvm", b"1 0:1\n1 qid:2 0:1\n"),
    "libsvm hard numbers": ("libsvm", "".join(f"1 {i}:{v}\n" for i, v in enumerate(HARD)).encode()),
}


def outcome(path: Path, kind: str, threads: int) -> tuple[np.ndarray, np.ndarray] | str:
    try:
        return joined(blocks(path, kind, threads, numeric=True))
    except TrainingError as error:
        return error.message


@pytest.mark.parametrize("case", sorted(HOSTILE_FILES))
def test_the_c_path_and_the_python_path_agree_on_hostile_files(tmp_path: Path, case: str) -> None:
    needs_c_reader()
    kind, body = HOSTILE_FILES[case]
    path = write(tmp_path / "train" / "f.gz", body)
    fast = outcome(path, kind, 2)
    with mock.patch.object(routes, "ROW_READER", None):
        slow = outcome(path, kind, 1)
    if isinstance(slow, str):
        assert fast == slow
        assert ", line " in slow
        return
    assert not isinstance(fast, str)
    assert same_bits(fast[0], slow[0]) and same_bits(fast[1], slow[1])


def test_a_qid_token_is_refused_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path / "train" / "f.svm", b"1 0:1\n0 1:2\n1 qid:7 0:1\n")
    with pytest.raises(
        TrainingError, match=r"file f\.svm, line 3: a qid: token \(ranking groups\) is not supported"
    ):
        blocks(path, "libsvm", 2)


def test_the_first_bad_piece_is_the_one_reported_on_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two bad rows in different pieces: the earlier is reported, after every piece before it."""
    monkeypatch.setattr(chunks, "PIECE_BYTES", 256)
    good = "".join(f"{i % 2},{i}.5,{i}.25\n" for i in range(60))
    path = write(tmp_path / "train" / "f.csv", (good + "1,x,2\n" + good + "1,2\n" + good).encode())
    read = []
    with pytest.raises(TrainingError, match=r"file f\.csv, line 61: 'x' is not a number"):
        for block in chunks.read_blocks(path, "csv", numeric_labels=True, threads=4):
            read.append(block)
    assert sum(block.rows for block in read) <= 60 and read[-1].first_line + read[-1].rows <= 61


def test_an_empty_file_gives_no_blocks(tmp_path: Path) -> None:
    path = write(tmp_path / "train" / "empty.csv.gz", b"")
    assert blocks(path, "csv", 2) == [] and blocks(path, "libsvm", 2) == []
