"""text/libsvm (and text/x-libsvm): `[label] index:value ...` per line, 0-based indices.

Owns: what a libsvm body is. Absent entries stay absent: the table is a sparse matrix. Refused: an
index that is not plain digits or appears twice in a line, a value that is not a plain number.
One route only, the strict one: libsvm bodies are rare and small next to CSV's.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import scipy.sparse

from container.codecs.text import decoded_text, record_lines
from container.errors import InvalidData
from container.tables import Table

MAX_LIBSVM_INDEX_DIGITS = 9  # indices below 10**9; the model's own width is checked in schema


def decode_libsvm(body: bytes, params: Mapping[str, str]) -> Table:
    """`[label] index:value ...` per line, 0-based indices; absent entries stay absent (sparse)."""
    indptr, indices, values = [0], [], []
    for number, line in enumerate(record_lines(decoded_text(body, params)), start=1):
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
