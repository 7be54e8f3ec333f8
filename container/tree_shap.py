"""Exact path-dependent TreeSHAP over the arrays of decision trees, in numpy.

Owns: turning trees (children, feature, threshold, missing direction, cover, leaf values) into
each leaf's path, and the Shapley values of a row from those paths. Must not know scikit-learn,
XGBoost or HTTP: the flavours hand it plain arrays, rows already as their trees compare them.

The game is shap's "tree_path_dependent" one: E[f | x_S] follows x at splits on features in S
and, at the others, averages both children weighted by their training cover. Each leaf adds
v * prod_j (o_j if j in S else z_j) to it, over the distinct features j on its path: z_j is the
product of the cover fractions of the path's edges on j, o_j is 1 when x takes all of them.
That is a product game, whose Shapley values are closed-form: with P(t) = prod_k (o_k t + z_k)
and Q_i = P / (o_i t + z_i), player i gets (o_i - z_i) * sum_k w(k) [t^k] Q_i, w(k) =
k! (d-1-k)! / d!. Dividing by (t + z_i) with z_i <= 1 only shrinks rounding errors (the same
unwinding as TreeSHAP's), so this is exact to float64 rounding; tests check it against shap and
against brute force over every subset of features. Leaves are grouped by their count of distinct
features, so each group is one set of numpy operations over (rows, leaves, features).

The same arithmetic runs in C (tree_shap.c, the extension module `_tree_shap`) when it is built,
row by row without numpy's temporaries; without it, numpy answers, more slowly. Both are checked
against shap and against each other (tests/test_contributions.py).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from math import factorial
from types import ModuleType

import numpy as np

TINY = float(np.finfo(np.float64).tiny)  # a cover fraction of 0 (zero-weight samples) made positive
CHUNK_ELEMENTS = 1 << 16  # rows x leaves x features numpy works on at once: bounds memory, fits caches
MAX_COMPILED_D = 64  # tree_shap.c's MAX_D: longer paths (never seen in practice) go to numpy


def _compiled() -> ModuleType | None:
    try:
        return importlib.import_module("container._tree_shap")
    except ImportError:  # not built (a checkout before `make`): numpy answers
        return None


COMPILED = _compiled()


@dataclass(frozen=True)
class Tree:
    """One tree: `left[node] == -1` marks a leaf; a row goes left when `value <= threshold`, or
    when it is NaN and `missing_left[node]`. `values` holds one row of outputs per node."""

    left: np.ndarray
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    missing_left: np.ndarray
    cover: np.ndarray
    values: np.ndarray  # (nodes, outputs), already scaled as the ensemble adds it


@dataclass(frozen=True)
class _Paths:
    """The leaves with `d` distinct features on their path: for each, those features, the
    interval (low, high] of values that follows the path, whether NaN follows it, z, and v."""

    features: np.ndarray  # (leaves, d)
    low: np.ndarray
    unbounded_low: np.ndarray
    high: np.ndarray
    nan_ok: np.ndarray
    zero: np.ndarray
    values: np.ndarray  # (leaves, outputs)
    weights: np.ndarray  # (d,): w(k)
    by_feature: tuple[tuple[int, np.ndarray], ...]  # feature -> flat (leaf, slot) positions


class TreeExplainer:
    """The Shapley values of an ensemble: a sum of trees plus a constant `base` per output."""

    def __init__(self, trees: Sequence[Tree], n_features: int, base: np.ndarray) -> None:
        self.n_features = n_features
        self.n_trees = len(trees)
        leaves = [leaf for tree in trees for leaf in _leaf_paths(tree)]
        self.n_outputs = len(base)
        self.bias = np.asarray(base, dtype=np.float64) + sum(
            (value * np.prod([z for _, _, _, z in path.values()]) for path, value in leaves),
            np.zeros(self.n_outputs),
        )
        self.groups = tuple(_group(leaves, d) for d in sorted({len(path) for path, _ in leaves}) if d > 0)

    def contributions(self, rows: np.ndarray, in_c: bool = True) -> np.ndarray:
        """(rows, outputs, features + 1): each feature's contribution, then the bias; each row's
        sum over the last axis is the ensemble's output. `in_c=False` takes numpy's path."""
        compiled = COMPILED if in_c else None
        out = np.zeros((len(rows), self.n_outputs, self.n_features + 1))
        out[:, :, -1] = self.bias
        rows = np.ascontiguousarray(rows, dtype=np.float64)
        for group in self.groups:
            if compiled is not None and group.features.shape[1] <= MAX_COMPILED_D:
                _add_group_in_c(compiled, out, rows, group, self.n_features)
                continue
            step = max(1, CHUNK_ELEMENTS // max(1, group.features.size))
            for start in range(0, len(rows), step):
                _add_group(out[start : start + step], rows[start : start + step], group)
        return out


def _leaf_paths(tree: Tree) -> list[tuple[dict[int, tuple[float, float, bool, float]], np.ndarray]]:
    """Each leaf's distinct features, as feature -> (low, high, NaN follows, z), with its value."""
    found = []
    pending: list[tuple[int, dict[int, tuple[float, float, bool, float]]]] = [(0, {})]
    while pending:
        node, path = pending.pop()
        if tree.left[node] == -1:
            found.append((path, np.asarray(tree.values[node], dtype=np.float64)))
            continue
        feature, cut = int(tree.feature[node]), float(tree.threshold[node])
        low, high, nan_ok, zero = path.get(feature, (-np.inf, np.inf, True, 1.0))
        for child, goes_left in ((int(tree.left[node]), True), (int(tree.right[node]), False)):
            fraction = max(float(tree.cover[child]) / float(tree.cover[node]), TINY)
            bounds = (low, min(high, cut)) if goes_left else (max(low, cut), high)
            nan_here = nan_ok and bool(tree.missing_left[node]) == goes_left
            pending.append((child, {**path, feature: (*bounds, nan_here, zero * fraction)}))
    return found


def _group(leaves: list[tuple[dict[int, tuple[float, float, bool, float]], np.ndarray]], d: int) -> _Paths:
    chosen = [(path, value) for path, value in leaves if len(path) == d]
    features = np.array([list(path) for path, _ in chosen], dtype=np.int64)
    fields = np.array([list(path.values()) for path, _ in chosen], dtype=np.float64)
    low, high, nan_ok, zero = (np.ascontiguousarray(fields[:, :, index]) for index in range(4))
    flat = features.ravel()
    return _Paths(
        features=features,
        low=low,
        unbounded_low=low == -np.inf,
        high=high,
        nan_ok=nan_ok.astype(bool),
        zero=zero,
        values=np.array([value for _, value in chosen], dtype=np.float64),
        weights=np.array([factorial(k) * factorial(d - 1 - k) / factorial(d) for k in range(d)]),
        by_feature=tuple((int(f), np.flatnonzero(flat == f)) for f in np.unique(flat)),
    )


def _add_group_in_c(
    compiled: ModuleType, out: np.ndarray, rows: np.ndarray, group: _Paths, width: int
) -> None:
    n_leaves, d = group.features.shape
    arrays = (group.features, group.low, group.unbounded_low, group.high, group.nan_ok, group.zero)
    compiled.add_group(
        rows, *arrays, group.values, group.weights, out, len(rows), width, n_leaves, d, group.values.shape[1]
    )


def _add_group(out: np.ndarray, rows: np.ndarray, group: _Paths) -> None:
    values = rows[:, group.features]  # (rows, leaves, d)
    with np.errstate(invalid="ignore"):  # -inf is above an unbounded low end: `>` alone says not
        above = (values > group.low) | group.unbounded_low
        hot = (above & (values <= group.high) & ~np.isnan(values)) | (np.isnan(values) & group.nan_ok)
    phi = _product_game(hot.astype(np.float64), group.zero, group.weights)
    flat = phi.reshape(len(rows), -1)
    leaf_values = np.repeat(group.values, group.features.shape[1], axis=0)  # (leaves * d, outputs)
    for feature, positions in group.by_feature:
        out[:, :, feature] += flat[:, positions] @ leaf_values[positions]


def _product_game(one: np.ndarray, zero: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Shapley values of v(S) = prod_k (one_k if k in S else zero_k), for each (row, leaf)."""
    d = zero.shape[-1]
    poly = np.zeros((*one.shape[:-1], d + 1))
    poly[..., 0] = 1.0
    for k in range(d):
        poly[..., 1 : k + 2] = (
            poly[..., 1 : k + 2] * zero[..., k, None] + poly[..., : k + 1] * one[..., k, None]
        )
        poly[..., 0] *= zero[..., k]
    quotient = np.broadcast_to(poly[..., d, None], one.shape)  # P / (t + z_i), from the top
    total = weights[d - 1] * quotient
    for k in range(d - 1, 0, -1):
        quotient = poly[..., k, None] - zero * quotient
        total = total + weights[k - 1] * quotient
    cold = (poly[..., :d] @ weights)[..., None] / zero  # P / z_i, for players the row does not take
    return np.asarray((one - zero) * np.where(one > 0, total, cold))
