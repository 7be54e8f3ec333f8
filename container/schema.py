"""What a model expects of its input, and the check that a decoded table meets it.

Owns: feature count and names, class labels, whether missing values are allowed, and the
`conform` step that turns a decoded Table into the exact matrix the model gets (columns reordered
by name, sparse width padded) or raises InvalidData (422) saying expected vs got. Must not know
HTTP or any model library.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from container.errors import InvalidData
from container.tables import Matrix, Table

Task = Literal["classification", "regression"]


@dataclass(frozen=True)
class Schema:
    task: Task
    n_features: int | None
    feature_names: tuple[str, ...] | None = None
    classes: tuple[Any, ...] | None = None
    accepts_missing: bool = False


def conform(table: Table, schema: Schema) -> Matrix:
    rows = _by_name(table, schema) if table.columns is not None else table.rows
    rows = _fit_width(rows, schema.n_features)
    if not table.finite:  # two numpy passes: 7% of a 1-row XGBoost request's time on the server
        _check_values(rows, schema)
    return rows


def _by_name(table: Table, schema: Schema) -> np.ndarray:
    assert table.columns is not None and isinstance(table.rows, np.ndarray)
    if schema.feature_names is None:
        raise InvalidData(
            "this model was trained without feature names; send instances as plain rows in training order"
        )
    position = {name: index for index, name in enumerate(table.columns)}
    missing = [name for name in schema.feature_names if name not in position]
    unknown = [name for name in table.columns if name not in set(schema.feature_names)]
    if missing or unknown:
        raise InvalidData(f"columns do not match the model's features: missing {missing}, unknown {unknown}")
    return np.asarray(table.rows[:, [position[name] for name in schema.feature_names]])


def _fit_width(rows: Matrix, n_features: int | None) -> Matrix:
    width = rows.shape[1]
    if n_features is None or width == n_features:
        return rows
    if not isinstance(rows, np.ndarray):  # sparse: only the libsvm decoder, which loaded SciPy, makes one
        import scipy.sparse

        if width > n_features:
            raise InvalidData(
                f"feature index {width - 1} is out of range: the model has {n_features} features (0-based)"
            )
        return scipy.sparse.csr_matrix(
            (rows.data, rows.indices, rows.indptr), shape=(rows.shape[0], n_features)
        )
    raise InvalidData(f"expected {n_features} features per row, got {width}")


def _check_values(rows: Matrix, schema: Schema) -> None:
    values = rows if isinstance(rows, np.ndarray) else rows.data
    if np.isinf(values).any():
        raise InvalidData("a value is infinite or too large for a 64-bit float")
    if not schema.accepts_missing and np.isnan(values).any():
        raise InvalidData("this model does not accept missing values (empty field or null)")
