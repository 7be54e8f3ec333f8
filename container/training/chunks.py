"""One channel file, read as blocks of rows: a few MiB of text at a time, never the whole file.

Owns: opening a file (gzip when it starts with gzip's magic bytes, whatever its name), cutting its
text at line ends into pieces of about PIECE_BYTES, parsing the pieces on a few threads (one per
usable core; at most that many pieces read ahead, so memory stays bounded) and handing them back
in the file's order, each as a Block: float32 features (dense for CSV, CSR for libsvm) and the
labels as written (float64 numbers, or text when a CSV label is not a number). Every refusal is a
TrainingError naming the channel, file and line, raised while the piece holding the first bad row
is parsed (a later piece's error waits until every piece before it is handed back): a ragged row,
a field that is not a number, a missing label, a libsvm `qid:` token, and (for regression) a
label that is not a number.

Pieces go to the C readers (codecs/row_reader.c) whole, label column included, with the GIL
released: every number exactly as float() reads it, then float32, on every core (see
bench/results/training-data.md). A piece they decline takes the Python path: for CSV the labels
are split off in Python (a label that is not a number, or a bad row), and a piece whose features
the serving decoder still declines is checked line by line to word the error; for libsvm
scikit-learn's svmlight reader (C, strtod: correctly rounded like float()), 0-based as serving
reads them, and the serving decoder words its errors. Where the C readers were not built, every
piece takes that path, with the same values. Must not know XGBoost, tasks' classes, or which
channel a file belongs to beyond its name in messages.
"""

from __future__ import annotations

import functools
import gzip
import io
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import scipy.sparse
from sklearn.datasets import load_svmlight_file

from container.codecs import routes
from container.codecs.csv import decode_csv, decode_csv_strict
from container.codecs.libsvm import decode_libsvm
from container.errors import RequestError, TrainingError
from container.settings import usable_cpu_count
from container.tables import Matrix

PIECE_BYTES = 8 * 1024 * 1024  # ~0.8 M numbers: small beside the data, large beside a call's cost
GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"
PLAIN_LABEL = frozenset(b"0123456789+-.eE ")


@dataclass(frozen=True)
class Block:
    """Consecutive rows of one file: float32 features and the labels (float64, or str when one of
    them is not a number), starting at line `first_line` of `path`."""

    features: Matrix
    labels: np.ndarray
    path: Path
    first_line: int

    @property
    def rows(self) -> int:
        return int(self.features.shape[0])


def where(path: Path, line: int | None = None) -> str:
    place = f"channel '{path.parent.name}', file {path.name}"
    return place if line is None else f"{place}, line {line}"


def read_blocks(path: Path, kind: str, numeric_labels: bool, threads: int | None = None) -> Iterator[Block]:
    """The file's blocks in order. `numeric_labels` refuses a label that is not a number (a
    regression target) where it is read; `threads` parse pieces (one per usable core unless
    given; 1 parses each where it is read)."""
    parse = functools.partial(_csv_block if kind == "csv" else _libsvm_block, path=path)
    for block in _parsed_in_order(parse, _pieces(path), threads or usable_cpu_count()):
        if numeric_labels and block.labels.dtype.kind != "f":
            _refuse_text_label(block)
        yield block


def _parsed_in_order(
    parse: Callable[..., Block], pieces: Iterable[tuple[bytes, int]], threads: int
) -> Iterator[Block]:
    """Each piece's block, in the pieces' order; with several threads, up to `threads` pieces are
    read ahead and parsed meanwhile, and pending ones are cancelled when the reader stops."""
    if threads <= 1:
        for piece, first_line in pieces:
            yield parse(piece, first_line=first_line)
        return
    pending: deque[Future[Block]] = deque()
    with ThreadPoolExecutor(threads, thread_name_prefix="byom-read") as pool:
        try:
            for piece, first_line in pieces:
                pending.append(pool.submit(parse, piece, first_line=first_line))
                if len(pending) > threads:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


def _pieces(path: Path) -> Iterator[tuple[bytes, int]]:
    """The file's text in pieces that end at a line end, each with the number of its first line:
    PIECE_BYTES read, then the rest of the line they end in (one copy of the text, not two)."""
    line, first = 1, True
    with _open(path) as stream:
        while data := stream.read(PIECE_BYTES):
            if first:
                data, first = data.removeprefix(UTF8_BOM), False
            if not data.endswith(b"\n"):
                data += stream.readline()
            if not data.endswith(b"\n"):  # the file's last line, without a line end
                cut = data.rfind(b"\n") + 1
                data = data + b"\n" if data[cut:].strip(b"\r\n \t") else data[:cut]
            if data:
                yield data, line
                line += data.count(b"\n")


def _open(path: Path) -> BinaryIO:
    try:
        with path.open("rb") as probe:
            compressed = probe.read(2) == GZIP_MAGIC
        return gzip.open(path, "rb") if compressed else path.open("rb")  # type: ignore[return-value]
    except OSError as error:
        raise TrainingError(f"{where(path)}: cannot be read: {error.strerror}") from None


# --- CSV -----------------------------------------------------------------------------------------


def _csv_block(piece: bytes, path: Path, first_line: int) -> Block:
    whole = _plain_csv(piece)
    if whole is not None:
        return Block(whole[1], whole[0], path, first_line)
    lines = _lines(piece)
    labels, rests = _split_labels(lines, path, first_line)
    features = _numbers(b"\n".join(rests) + b"\n")
    if features is None:
        _locate_csv_error(rests, path, first_line)
        raise TrainingError(f"{where(path, first_line)}: a number beyond float64, or not plain CSV")
    return Block(_float32(features), _labels(labels), path, first_line)


def _plain_csv(piece: bytes) -> tuple[np.ndarray, np.ndarray] | None:
    """The labels and float32 features of a piece of plain numbers with every label written; None
    when the labels must be split off first."""
    if routes.ROW_READER is not None:
        read = routes.ROW_READER.csv_block(piece)
        if read is None:
            return None
        labels, features, rows, width = read
        return np.frombuffer(labels, np.float64), np.frombuffer(features, np.float32).reshape(rows, width)
    values = _numbers(piece)
    if values is None or values.shape[1] < 2 or np.isnan(values[:, 0]).any():
        return None
    return values[:, 0].copy(), _float32(values[:, 1:])


def _float32(values: np.ndarray) -> np.ndarray:
    """XGBoost's own cast, done once here: a number beyond float32 becomes infinite, as served."""
    with np.errstate(over="ignore"):
        return values.astype(np.float32)


def _numbers(text: bytes) -> np.ndarray | None:
    """The rows of plain CSV numbers (empty fields NaN), float() exact; None if any is not."""
    if routes.ROW_READER is not None:
        read = routes.ROW_READER.csv_rows(text)
        if read is None:
            return None
        values, rows, _ = read
        return np.frombuffer(values, dtype=np.float64).reshape(rows, -1)
    try:  # not built: the serving decoder's routes, then its strict path
        return np.asarray(decode_csv(text, {}).rows)
    except RequestError:
        return None


def _lines(piece: bytes) -> list[bytes]:
    lines = piece.split(b"\n")
    lines.pop()  # a piece ends with a line end
    return [line[:-1] if line.endswith(b"\r") else line for line in lines]


def _split_labels(lines: list[bytes], path: Path, first_line: int) -> tuple[list[str], list[bytes]]:
    labels, rests = [], []
    for number, line in enumerate(lines, start=first_line):
        label, comma, rest = line.partition(b",")
        if not comma:
            raise TrainingError(f"{where(path, number)}: expected a label and at least one feature")
        text = _text(label, path, number).strip()
        if not text:
            raise TrainingError(f"{where(path, number)}: the label (first column) is missing")
        labels.append(text)
        rests.append(rest)
    return labels, rests


def _text(field: bytes, path: Path, line: int) -> str:
    try:
        return field.decode("utf-8")
    except UnicodeDecodeError:
        raise TrainingError(f"{where(path, line)}: not UTF-8 text") from None


def _labels(labels: list[str]) -> np.ndarray:
    """Numbers when every label is written as one (the C reader declined for another reason)."""
    if all(map(is_number, labels)):
        return np.array([float(label) for label in labels], dtype=np.float64)
    return np.array(labels, dtype=str)


def is_number(label: str) -> bool:
    """A plain decimal number, as CSV features are written (not `nan`, `inf` or `1_0`)."""
    return bool(label) and PLAIN_LABEL.issuperset(label.encode()) and _floats(label)


def _floats(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _locate_csv_error(rests: list[bytes], path: Path, first_line: int) -> None:
    """Raises the error of the first line whose features the strict serving decoder refuses, or
    whose width differs from the piece's first line."""
    width = rests[0].count(b",") + 1
    for number, rest in enumerate(rests, start=first_line):
        count = rest.count(b",") + 1
        if count != width:
            raise TrainingError(
                f"{where(path, number)}: {count} features where line {first_line} has {width}: "
                "every row needs its label and the same features"
            )
        try:
            decode_csv_strict(rest, {})
        except RequestError as error:
            detail = error.message.split(": ", 1)[-1]
            raise TrainingError(f"{where(path, number)}: {detail} (label in the first column)") from None


def _refuse_text_label(block: Block) -> None:
    for offset, label in enumerate(block.labels.tolist()):
        if not is_number(label):
            raise TrainingError(
                f"{where(block.path, block.first_line + offset)}: label {label[:40]!r} is not a number; a "
                "regression target must be numeric (for class labels choose a classification objective or task)"
            )


# --- libsvm --------------------------------------------------------------------------------------


def _libsvm_block(piece: bytes, path: Path, first_line: int) -> Block:
    if routes.ROW_READER is not None:
        read = routes.ROW_READER.libsvm_block(piece)
        if read is not None:
            labels, data, indices, indptr, rows, width = read
            parts = (
                np.frombuffer(data, np.float32),
                np.frombuffer(indices, np.int32),
                np.frombuffer(indptr, np.int32),
            )
            matrix = scipy.sparse.csr_matrix(parts, shape=(rows, width))
            return Block(matrix, np.frombuffer(labels, np.float64), path, first_line)
    if b"qid:" in piece:
        _refuse_qid(piece, path, first_line)
    try:
        features, labels = load_svmlight_file(io.BytesIO(piece), zero_based=True, dtype=np.float32)
    except (ValueError, RuntimeError):
        _locate_libsvm_error(piece, path, first_line)
        raise TrainingError(f"{where(path, first_line)}: not valid libsvm") from None
    matrix = scipy.sparse.csr_matrix(features, dtype=np.float32)
    return Block(matrix, np.asarray(labels, dtype=np.float64), path, first_line)


def _refuse_qid(piece: bytes, path: Path, first_line: int) -> None:
    for number, line in enumerate(_lines(piece), start=first_line):
        if any(token.startswith(b"qid:") for token in line.split()):
            raise TrainingError(
                f"{where(path, number)}: a qid: token (ranking groups) is not supported; "
                "write the rows without it"
            )


def _locate_libsvm_error(piece: bytes, path: Path, first_line: int) -> None:
    for number, line in enumerate(_lines(piece), start=first_line):
        head = line.split(None, 1)[0] if line.strip() else b""
        if not head or b":" in head:
            raise TrainingError(f"{where(path, number)}: the label (first field) is missing")
        try:
            decode_libsvm(line, {})
        except RequestError as error:
            detail = error.message.split(": ", 1)[-1]
            raise TrainingError(f"{where(path, number)}: {detail}") from None
