"""Predictions to response bodies: one encoder per MIME type, registered in ENCODERS.

Owns: the response formats. text/csv and application/jsonlines write exactly one line per record
(batch transform's `AssembleWith=Line` relies on it); application/json writes
`{"predictions": [...]}`. Selected outputs become one record per row keyed by output name (JSON)
or columns in the order asked (CSV). float32 outputs are written in their shortest exact decimal
form (0.3, not 0.30000001192092896); NaN and infinities become null in JSON and an empty CSV field.
A line break inside a CSV label is written as the two characters `\\n` (or `\\r`), so a record never
spans two lines.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np

from container.outputs import Prediction

CSV_SPECIALS = frozenset(',"')


def encode_csv(prediction: Prediction) -> bytes:
    columns = [_values(values) for _, values in prediction.columns]
    lines = (",".join(_csv_fields(record)) for record in zip(*columns, strict=True))
    return ("\n".join(lines) + "\n").encode()


def encode_json(prediction: Prediction) -> bytes:
    return json.dumps({"predictions": _records(prediction)}, allow_nan=False).encode()


def encode_jsonlines(prediction: Prediction) -> bytes:
    lines = (json.dumps(record, allow_nan=False) for record in _records(prediction))
    return ("\n".join(lines) + "\n").encode()


Encoder = Callable[[Prediction], bytes]

ENCODERS: dict[str, Encoder] = {
    "text/csv": encode_csv,
    "application/json": encode_json,
    "application/jsonlines": encode_jsonlines,
}


def _records(prediction: Prediction) -> list[Any]:
    if not prediction.selected:
        return _values(prediction.columns[0][1])
    names = [name for name, _ in prediction.columns]
    columns = [_values(values) for _, values in prediction.columns]
    return [dict(zip(names, record, strict=True)) for record in zip(*columns, strict=True)]


def _values(column: np.ndarray) -> list[Any]:
    """One Python value (or list, for 2-D columns) per row, ready for json or CSV."""
    if column.dtype == np.float32:
        column = column.astype(str).astype(np.float64)
    if column.dtype.kind == "f" and not np.isfinite(column).all():
        finite = np.isfinite(column)
        column = column.astype(object)
        column[~finite] = None
    return column.tolist()  # type: ignore[no-any-return]


def _csv_fields(record: tuple[Any, ...]) -> list[str]:
    fields: list[str] = []
    for value in record:
        fields.extend(_csv_field(item) for item in (value if isinstance(value, list) else [value]))
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
