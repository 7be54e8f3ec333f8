"""conform(): a decoded Table to the exact matrix the model gets, or InvalidData (422)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse

from container.errors import InvalidData
from container.schema import Schema, conform
from container.tables import Matrix, Table

NAN = float("nan")
INF = float("inf")


def schema(
    n_features: int | None = 3, names: tuple[str, ...] | None = None, accepts_missing: bool = False
) -> Schema:
    return Schema("regression", n_features, feature_names=names, accepts_missing=accepts_missing)


def sparse(rows: list[list[float]]) -> scipy.sparse.csr_matrix:
    return scipy.sparse.csr_matrix(np.array(rows, dtype=np.float64))


def refusal(table: Table, model: Schema) -> str:
    with pytest.raises(InvalidData) as caught:
        conform(table, model)
    assert caught.value.status == 422
    return caught.value.message


# --- feature count -------------------------------------------------------------------------------


def test_rows_of_the_right_width_pass_unchanged() -> None:
    rows = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])

    assert conform(Table(rows), schema(3)) is rows


@pytest.mark.parametrize(
    ("width", "message"),
    [
        pytest.param(2, "expected 3 features per row, got 2", id="too-few"),
        pytest.param(4, "expected 3 features per row, got 4", id="too-many"),
        pytest.param(0, "expected 3 features per row, got 0", id="none"),
    ],
)
def test_feature_count_mismatch_says_expected_and_got(width: int, message: str) -> None:
    assert refusal(Table(np.ones((2, width))), schema(3)) == message


def test_unknown_feature_count_accepts_any_width() -> None:
    rows = np.ones((1, 7))

    assert conform(Table(rows), schema(None)) is rows


# --- columns by name -----------------------------------------------------------------------------


def test_named_columns_are_reordered_to_the_model_order() -> None:
    table = Table(np.array([[3.0, 1.0, 2.0], [6.0, 4.0, 5.0]]), columns=("c", "a", "b"))

    rows = conform(table, schema(3, names=("a", "b", "c")))

    np.testing.assert_array_equal(rows, [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        pytest.param(("a", "b"), "missing ['c'], unknown []", id="missing"),
        pytest.param(("a", "b", "c", "d"), "missing [], unknown ['d']", id="unknown"),
        pytest.param(("a", "b", "x"), "missing ['c'], unknown ['x']", id="both"),
        pytest.param(("A", "b", "c"), "missing ['a'], unknown ['A']", id="case-matters"),
    ],
)
def test_missing_or_unknown_column_names_are_refused(columns: tuple[str, ...], message: str) -> None:
    table = Table(np.ones((1, len(columns))), columns=columns)

    assert refusal(table, schema(3, names=("a", "b", "c"))) == (
        f"columns do not match the model's features: {message}"
    )


def test_columns_for_a_model_without_feature_names_are_refused() -> None:
    table = Table(np.ones((1, 3)), columns=("a", "b", "c"))

    assert "trained without feature names" in refusal(table, schema(3, names=None))


def test_plain_rows_for_a_model_with_feature_names_are_taken_in_order() -> None:
    rows = np.array([[1.0, 2.0, 3.0]])

    np.testing.assert_array_equal(conform(Table(rows), schema(3, names=("c", "b", "a"))), rows)


# --- sparse width --------------------------------------------------------------------------------


def test_narrower_sparse_rows_are_padded_to_n_features() -> None:
    rows = sparse([[1.0, 0.0], [0.0, 2.0]])

    conformed = conform(Table(rows), schema(5))

    assert scipy.sparse.issparse(conformed)
    assert conformed.shape == (2, 5)
    assert conformed.nnz == 2
    np.testing.assert_array_equal(conformed.toarray(), [[1, 0, 0, 0, 0], [0, 2, 0, 0, 0]])


def test_sparse_rows_of_the_right_width_pass() -> None:
    rows = sparse([[1.0, 0.0, 3.0]])

    assert conform(Table(rows), schema(3)).shape == (1, 3)


@pytest.mark.parametrize(
    ("width", "message"),
    [
        pytest.param(4, "feature index 3 is out of range: the model has 3 features (0-based)", id="one-over"),
        pytest.param(
            10, "feature index 9 is out of range: the model has 3 features (0-based)", id="far-over"
        ),
    ],
)
def test_too_wide_sparse_rows_are_refused(width: int, message: str) -> None:
    rows = scipy.sparse.csr_matrix(([1.0], ([0], [width - 1])), shape=(1, width))

    assert refusal(Table(rows), schema(3)) == message


# --- values ------------------------------------------------------------------------------------


def infinite(kind: str, value: float) -> Matrix:
    rows = [[1.0, value, 3.0]]
    return sparse(rows) if kind == "sparse" else np.array(rows)


@pytest.mark.parametrize("kind", ["dense", "sparse"])
@pytest.mark.parametrize("value", [INF, -INF], ids=["inf", "-inf"])
@pytest.mark.parametrize("accepts_missing", [False, True], ids=["strict", "accepts-missing"])
def test_infinite_values_are_refused(kind: str, value: float, accepts_missing: bool) -> None:
    message = refusal(Table(infinite(kind, value)), schema(3, accepts_missing=accepts_missing))

    assert message == "a value is infinite or too large for a 64-bit float"


@pytest.mark.parametrize("kind", ["dense", "sparse"])
def test_nan_is_refused_unless_the_model_accepts_missing(kind: str) -> None:
    table = Table(infinite(kind, NAN))

    assert refusal(table, schema(3)) == "this model does not accept missing values (empty field or null)"

    rows = conform(table, schema(3, accepts_missing=True))
    values = rows.toarray() if scipy.sparse.issparse(rows) else rows
    np.testing.assert_array_equal(values, [[1.0, NAN, 3.0]])


def test_named_columns_are_checked_for_values_after_reordering() -> None:
    table = Table(np.array([[NAN, 1.0]]), columns=("b", "a"))

    assert "missing values" in refusal(table, schema(2, names=("a", "b")))


def test_width_is_checked_before_values() -> None:
    assert refusal(Table(np.array([[INF]])), schema(3)) == "expected 3 features per row, got 1"


def test_a_table_its_decoder_says_finite_is_not_checked_again() -> None:
    """The check costs two numpy passes; decode_csv's one-line route knows its numbers are finite."""
    table = Table(infinite("dense", INF), finite=True)
    assert conform(table, schema(3)) is table.rows
