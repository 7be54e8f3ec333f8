"""scikit-learn decision trees exported at training time, served without importing scikit-learn.

Owns: the export file that training writes beside a single-output scikit-learn decision tree
(`<artifact>.tree.npz`: the tree's nodes and leaf values, its schema, the artifact's SHA-256, and
probe rows with scikit-learn's own answers to them), the model served from it, and the proof
that loading it runs before serving.

Why: importing the estimator flavour (scikit-learn, which imports SciPy and pandas) took 1.4-1.7 s
(`python -X importtime`), most of the demo model's 1.5-2.2 s cold start; this module's imports
took 0.46 s, and a tree needs no more to predict.

Exactness, by doing scikit-learn's arithmetic: the row is cast to float32, and a split sends a
value left when it is `<=` the float64 threshold (the float32 value widened, as scikit-learn's C
compares them); a missing value goes its node's recorded way. The answer is the leaf's row of
scikit-learn's `tree_.value`: probabilities as they are, labels `classes_[argmax]`, a regression's
value. The probes reach every leaf (up to MAX_LEAF_PROBES) at both float32 edges of each split on
its path (or with a missing value, where only one gets there), plus random rows drawn from every
threshold's float32 neighbours (and missing values, where the model takes them). Loading replays them one row at a time and as one batch; any bit
that differs, a checksum that does not match the artifact, or a file this module cannot read
raises ExportRejected, and the server loads the artifact with scikit-learn instead.

Contributions (TreeSHAP, container/tree_shap.py) need each node's training cover: exports
written since they were added hold it (`cover`); an older export serves without them.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from container.errors import UnsupportedOutput
from container.flavours import export_path
from container.flavours.tree_checks import BadTrees, check_children, check_splits
from container.flavours.tree_walk import threshold_probes
from container.manifest import file_sha256
from container.outputs import offered_outputs
from container.schema import Schema
from container.tree_shap import Tree, TreeExplainer

if TYPE_CHECKING:
    from container.tables import Matrix

FORMAT_VERSION = 1
MAX_LEAF_PROBES = 2048
SMALL_BATCH = 8  # up to this many rows are walked in Python, node by node; more, in numpy
F32 = np.float32
F32_MAX = float(np.finfo(F32).max)


class ExportRejected(Exception):
    """No export can stand in for this artifact, or this one cannot; the reason says why."""


class ExportedTree:
    """A tree's nodes as flat arrays. A leaf points to itself on both sides, with threshold +inf
    and missing values sent left, so a walk of `depth` steps ends on a row's leaf whatever the
    path's length (and ends, whatever the file holds)."""

    def __init__(self, arrays: dict[str, np.ndarray], schema: Schema) -> None:
        self.schema = schema
        self.depth = int(arrays["depth"])
        self.left, self.right = arrays["left"], arrays["right"]
        self.feature, self.threshold = arrays["feature"], arrays["threshold"]
        self.missing_left, self.values = arrays["missing_left"], arrays["values"]
        self.cover = arrays.get("cover")
        _check_nodes(self, schema)
        self._nodes = tuple(a.tolist() for a in (self.left, self.right, self.feature, self.threshold))
        self._missing_left = self.missing_left.tolist()
        classes = np.asarray(schema.classes) if schema.classes is not None else None
        # Each node's answer to predict, worked out once: a classifier's label is its leaf's
        # argmax class (the first of a tie, as scikit-learn's), a regressor's its value.
        self._labels = (
            self.values[:, 0] if classes is None else classes.take(self.values.argmax(axis=1), axis=0)
        )
        self.outputs = offered_outputs(
            schema,
            has_probabilities=classes is not None,
            has_margins=False,
            has_contributions=self.cover is not None,
        )
        self.contribution_names = schema.feature_names
        self._explainer: TreeExplainer | None = None

    def native(self, rows: Matrix) -> np.ndarray:
        return self.labels(rows)

    def labels(self, rows: Matrix) -> np.ndarray:
        """scikit-learn's predict: a classifier's labels, a regressor's values."""
        return self._labels.take(self._leaves(rows), axis=0)

    def probabilities(self, rows: Matrix) -> np.ndarray:
        return self.leaf_values(rows)

    def margins(self, rows: Matrix) -> np.ndarray:
        raise UnsupportedOutput("a decision tree has no raw scores")

    def contributions(self, rows: Matrix) -> np.ndarray:
        """(rows, classes, features + 1) summing to the probabilities, or (rows, features + 1)
        summing to a regressor's value."""
        if self._explainer is None:  # built once per worker, at its first request that asks
            n_features, width = self.schema.n_features or 0, self.values.shape[1]
            self._explainer = TreeExplainer([self._shap_tree()], n_features, np.zeros(width))
        values = self._explainer.contributions(_widened_float32(rows))
        return values[:, 0, :] if self.schema.classes is None else values

    def contribution_row_trees(self, n_rows: int) -> int:
        return n_rows

    def _shap_tree(self) -> Tree:
        assert self.cover is not None  # offered only with it
        leaf = self.left == np.arange(len(self.left))
        return Tree(
            np.where(leaf, -1, self.left), self.right, self.feature, self.threshold,
            self.missing_left, self.cover, self.values,
        )  # fmt: skip

    def leaf_values(self, rows: Matrix) -> np.ndarray:
        return self.values.take(self._leaves(rows), axis=0)

    def _leaves(self, rows: Matrix) -> list[int] | np.ndarray:
        widened = _widened_float32(rows)
        if len(widened) <= SMALL_BATCH:
            return [self._leaf_of(row) for row in widened.tolist()]
        return self._leaves_of(widened)

    def _leaf_of(self, row: list[float]) -> int:
        left, right, feature, threshold = self._nodes
        node = 0
        for _ in range(self.depth):
            value = row[feature[node]]
            goes_left = value <= threshold[node] or (value != value and self._missing_left[node])
            node = left[node] if goes_left else right[node]
        return node

    def _leaves_of(self, rows: np.ndarray) -> np.ndarray:
        node = np.zeros(len(rows), dtype=np.intp)
        row_index = np.arange(len(rows))
        for _ in range(self.depth):
            value = rows[row_index, self.feature.take(node)]
            goes_left = value <= self.threshold.take(node)
            goes_left |= np.isnan(value) & self.missing_left.take(node)
            node = np.where(goes_left, self.left.take(node), self.right.take(node))
        return node


def _check_nodes(tree: ExportedTree, schema: Schema) -> None:
    """Refuse (ValueError) nodes that would walk out of the arrays, or a depth beyond them."""
    n_nodes = len(tree.left)
    for name, array, limit in (
        ("left", tree.left, n_nodes), ("right", tree.right, n_nodes), ("feature", tree.feature, schema.n_features)
    ):  # fmt: skip
        if array.dtype.kind != "i" or array.shape != (n_nodes,) or not np.all((array >= 0) & (array < limit)):
            raise ValueError(f"{name} holds entries outside 0..{limit}")
    if tree.threshold.shape != (n_nodes,) or tree.missing_left.shape != (n_nodes,):
        raise ValueError("the thresholds or missing directions do not fit the nodes")
    if not 0 <= tree.depth < n_nodes or tree.values.ndim != 2 or len(tree.values) != n_nodes:
        raise ValueError("the depth or the values do not fit the nodes")
    if tree.cover is not None and (tree.cover.shape != (n_nodes,) or not np.all(tree.cover > 0)):
        raise ValueError("the cover does not fit the nodes")
    inner = tree.left != np.arange(n_nodes)  # a leaf points to itself
    if np.any(inner != (tree.right != np.arange(n_nodes))):
        raise BadTrees("a node that is a leaf on one side only")
    check_children(tree.left, tree.right, ~inner)  # else TreeSHAP's walk from the root would loop
    check_splits(tree.feature, tree.threshold, inner, schema.n_features or 0)


def _widened_float32(rows: Matrix) -> np.ndarray:
    """The rows as scikit-learn's trees see them (float32; absent sparse entries are 0), widened
    to float64 exactly, so comparing them with the float64 thresholds is scikit-learn's compare."""
    dense = rows.toarray() if hasattr(rows, "toarray") else rows
    return np.asarray(dense, dtype=F32).astype(np.float64)


# --- loading: the export proven against its artifact and its probes


def load_export(path: Path, artifact: Path) -> ExportedTree:
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
        meta = json.loads(arrays.pop("meta").tobytes())
        if meta.get("format_version") != FORMAT_VERSION:
            raise ExportRejected(
                f"format version {meta.get('format_version')}, this server reads {FORMAT_VERSION}"
            )
        if meta["artifact_sha256"] != file_sha256(artifact):
            raise ExportRejected(f"it was exported from another {artifact.name} (checksums differ)")
        tree = ExportedTree(arrays, _schema(meta["schema"]))
        _prove(tree, arrays)
    except ExportRejected:
        raise
    except BadTrees as reason:
        raise ExportRejected(f"its nodes cannot be walked safely: {reason}") from None
    except Exception as error:  # a damaged or foreign file: missing members, wrong types, not a zip
        raise ExportRejected(f"it cannot be read: {error!r}") from None
    return tree


def _prove(tree: ExportedTree, arrays: dict[str, np.ndarray]) -> None:
    probes = arrays["probes"]
    for how, answer in (
        ("as one batch", tree.leaf_values(probes)),
        ("one row at a time", _singly(tree, probes)),
    ):
        if not _identical(_answers(tree, answer), arrays):
            raise ExportRejected(f"its walk differs from scikit-learn on its probe rows {how}")


def _singly(tree: ExportedTree, probes: np.ndarray) -> np.ndarray:
    return np.concatenate([tree.leaf_values(probes[row : row + 1]) for row in range(len(probes))])


def _answers(tree: ExportedTree, leaf_values: np.ndarray) -> dict[str, np.ndarray]:
    """What scikit-learn answered, in the export's terms: a classifier's probabilities and the
    index of its label in classes_, a regressor's value."""
    if tree.schema.classes is None:
        return {"predicted": leaf_values[:, 0]}
    return {"probabilities": leaf_values, "label_index": np.argmax(leaf_values, axis=1)}


def _identical(answers: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> bool:
    """Bit for bit: same shape, dtype and bytes (so NaN equals NaN, and -0.0 differs from 0.0)."""
    return all(
        answer.dtype == expected[key].dtype
        and answer.shape == expected[key].shape
        and answer.tobytes() == expected[key].tobytes()
        for key, answer in answers.items()
    )


def _schema(fields: dict[str, Any]) -> Schema:
    names, classes = fields["feature_names"], fields["classes"]
    return Schema(
        task=fields["task"],
        n_features=fields["n_features"],
        feature_names=tuple(names) if names is not None else None,
        classes=tuple(classes) if classes is not None else None,
        accepts_missing=fields["accepts_missing"],
    )


# --- writing, at training time (the estimator is a fitted scikit-learn tree)


def exportable(estimator: Any) -> bool:
    return (
        type(estimator).__module__.startswith("sklearn.tree.")
        and hasattr(estimator, "tree_")
        and getattr(estimator, "n_outputs_", 0) == 1
    )


def write_export(estimator: Any, schema: Schema, artifact: Path) -> Path | None:
    """Write the export beside the saved artifact; None when the estimator is not a tree this
    module serves. The probes' answers come from the estimator's own predict methods, and the
    export is loaded once, so a walk that does not reproduce them raises ExportRejected (and
    leaves no file)."""
    if not exportable(estimator):
        return None
    arrays = _node_arrays(estimator.tree_)
    probes = _probe_rows(arrays, schema)
    rows = probes.astype(F32)  # as scikit-learn's input check would, which also refuses inf
    if schema.classes is None:
        answers = {"predicted": np.asarray(estimator.predict(rows, check_input=False), dtype=np.float64)}
    else:
        probabilities = np.asarray(estimator.predict_proba(rows, check_input=False), dtype=np.float64)
        labels = np.asarray(estimator.predict(rows, check_input=False))
        label_index = np.searchsorted(np.asarray(estimator.classes_), labels)
        answers = {"probabilities": probabilities, "label_index": label_index.astype(np.intp)}
    meta = {
        "format_version": FORMAT_VERSION,
        "artifact_sha256": file_sha256(artifact),
        "schema": asdict(schema),
    }
    path = export_path(artifact)
    meta_bytes = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with path.open("wb") as file:
        np.savez(file, allow_pickle=False, meta=meta_bytes, probes=probes, **arrays, **answers)
    try:
        load_export(path, artifact)
    except ExportRejected:
        path.unlink()
        raise
    return path


def _node_arrays(tree: Any) -> dict[str, np.ndarray]:
    """scikit-learn's Tree as walk-ready arrays; its leaves made to point to themselves."""
    nodes = np.arange(tree.node_count)
    leaf = tree.children_left == -1
    missing_left = getattr(tree, "missing_go_to_left", np.zeros(tree.node_count, dtype=np.uint8))
    return {
        "depth": np.asarray(tree.max_depth),
        "left": np.where(leaf, nodes, tree.children_left).astype(np.intp),
        "right": np.where(leaf, nodes, tree.children_right).astype(np.intp),
        "feature": np.where(leaf, 0, tree.feature).astype(np.intp),
        "threshold": np.where(leaf, np.inf, tree.threshold).astype(np.float64),
        "missing_left": np.where(leaf, True, np.asarray(missing_left, dtype=bool)),
        "values": np.ascontiguousarray(tree.value[:, 0, :], dtype=np.float64),
        "cover": np.asarray(tree.weighted_n_node_samples, dtype=np.float64),
    }


def _probe_rows(arrays: dict[str, np.ndarray], schema: Schema) -> np.ndarray:
    n_features = schema.n_features or 0
    inner = arrays["left"] != np.arange(len(arrays["left"]))
    at_most = np.array([_highest_at_most(cut) for cut in arrays["threshold"][inner]], dtype=F32)
    near = threshold_probes(arrays["feature"][inner], at_most, n_features, schema.accepts_missing)
    return np.concatenate([_leaf_rows(arrays, n_features), near]).astype(np.float64)


def _leaf_rows(arrays: dict[str, np.ndarray], n_features: int) -> np.ndarray:
    """For each leaf (up to MAX_LEAF_PROBES, evenly chosen), two float32 rows that reach it: the
    splits on its path bound each of their features to an interval (low, high], and one row sits
    at the top of every interval (the largest float32 <= high), the other at its bottom (the
    smallest > low), finite both. A feature whose interval holds no finite float32 (a split of
    missing values from the rest has threshold +inf) is missing in both, if every split on it
    sends missing values this way. Other features are 0."""
    left, right, feature, threshold, missing_left = (
        arrays[name] for name in ("left", "right", "feature", "threshold", "missing_left")
    )
    paths: list[dict[int, tuple[float, float, bool]]] = []  # per leaf: feature -> (low, high, missing ok)
    pending: list[tuple[int, dict[int, tuple[float, float, bool]]]] = [(0, {})]
    while pending:
        node, bounds = pending.pop()
        if left[node] == node:
            paths.append(bounds)
            continue
        f, cut, missing_goes_left = int(feature[node]), float(threshold[node]), bool(missing_left[node])
        low, high, missing = bounds.get(f, (-np.inf, np.inf, True))
        pending.append((int(left[node]), {**bounds, f: (low, min(high, cut), missing and missing_goes_left)}))
        pending.append(
            (int(right[node]), {**bounds, f: (max(low, cut), high, missing and not missing_goes_left)})
        )
    chosen = [paths[i] for i in np.linspace(0, len(paths) - 1, min(len(paths), MAX_LEAF_PROBES)).astype(int)]
    rows = np.zeros((2 * len(chosen), n_features), dtype=F32)
    for index, bounds in enumerate(chosen):
        for f, (low, high, missing) in bounds.items():
            top, bottom = _highest_at_most(min(high, F32_MAX)), _lowest_above(low)
            if missing and not bottom <= top:  # no finite float32 gets there, a missing value does
                top = bottom = F32(np.nan)
            rows[2 * index, f], rows[2 * index + 1, f] = top, bottom
    return rows


def _highest_at_most(bound: float) -> F32:
    """The largest float32 that is <= the float64 bound: the last value a split sends left."""
    value = F32(bound)
    return value if float(value) <= bound else F32(np.nextafter(value, F32(-np.inf)))


def _lowest_above(bound: float) -> F32:
    """The smallest float32 that is > the float64 bound: the first value a split sends right."""
    return F32(np.nextafter(_highest_at_most(bound), F32(np.inf)))
