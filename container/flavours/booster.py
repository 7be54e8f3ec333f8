"""XGBoost Boosters in JSON, UBJSON or the legacy binary format (SageMaker's `xgboost-model`).

Owns: loading a Booster, limiting its threads, reading its objective and class count, and its
labels, probabilities and margins. Prediction uses `inplace_predict`, which XGBoost documents as
safe to call from several threads at once, except for small dense batches of models that
`tree_walk` reproduces bit for bit: those walk the trees in C (`compiled_walk`) or numpy, without
XGBoost's ~210 us per call. Sparse rows keep XGBoost's meaning: absent is missing.
Contributions are XGBoost's own exact TreeSHAP (`Booster.predict(pred_contribs=True)` on a
DMatrix: inplace_predict cannot, and the scikit-learn wrappers refuse it): they sum to the margin.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import xgboost

from container.errors import ModelLoadError
from container.flavours import tree_checks, tree_walk
from container.flavours.compiled_walk import CompiledWalk, compile_walk
from container.outputs import offered_outputs
from container.schema import Schema
from container.tables import Matrix

PROBABILITY_OBJECTIVES = frozenset({"binary:logistic", "multi:softprob", "multi:softmax"})
log = logging.getLogger("byom")
Walk = tree_walk.TreeWalk | CompiledWalk


class BoosterModel:
    """An XGBoost Booster. `from_sklearn_api` models answer labels by default, like XGBClassifier.

    XGBoost knows classes only as 0..k-1; `classes` (from the training manifest) names them, and
    labels are answered in those names.
    """

    def __init__(
        self, booster: xgboost.Booster, model_threads: int, classes: tuple[Any, ...] | None = None
    ) -> None:
        booster.set_param({"nthread": model_threads})
        self.model_threads = model_threads
        dump = checked_dump(booster)  # before anything walks the trees: XGBoost's own walks trust them
        config = json.loads(booster.save_config())["learner"]
        self.booster = booster
        self.objective: str = config["objective"]["name"]
        n_classes = int(config["learner_model_param"].get("num_class", "0"))
        self.from_sklearn_api = "scikit_learn" in booster.attributes()
        self.schema = _schema(booster, self.objective, n_classes, classes)
        self._names = np.asarray(classes) if classes is not None else None
        self.outputs = offered_outputs(
            self.schema,
            has_probabilities=self.objective in PROBABILITY_OBJECTIVES,
            has_margins=self.schema.task == "classification",
            has_contributions=True,
        )
        self.contribution_names = self.schema.feature_names
        self.n_trees = len(booster.get_dump())
        self.walk = verified_walk(booster, self.schema.n_features or 0, model_threads == 1, dump)

    def native(self, rows: Matrix) -> np.ndarray:
        if self.schema.task == "classification" and (
            self.from_sklearn_api or self.objective == "multi:softmax"
        ):
            return self.labels(rows)
        return self._predict(rows)

    def labels(self, rows: Matrix) -> np.ndarray:
        indices = self._label_indices(rows)
        return indices if self._names is None else np.asarray(self._names[indices])

    def _label_indices(self, rows: Matrix) -> np.ndarray:
        if self.objective == "multi:softmax":
            return self._predict(rows).astype(np.int64)
        if self.objective.startswith("multi:"):
            return np.asarray(self.probabilities(rows).argmax(axis=1))
        if self.objective == "binary:logistic":
            return (self._predict(rows) > 0.5).astype(np.int64)
        return (self.margins(rows) > 0).astype(np.int64)

    def probabilities(self, rows: Matrix) -> np.ndarray:
        if self.objective == "binary:logistic":
            positive = self._predict(rows)
            return np.column_stack([1 - positive, positive])
        if self.objective == "multi:softmax":
            return _softmax(self.margins(rows))
        return self._predict(rows)

    def margins(self, rows: Matrix) -> np.ndarray:
        return self._predict(rows, margin=True)

    def contributions(self, rows: Matrix) -> np.ndarray:
        """(rows, features + 1), or (rows, classes, features + 1) for multi-class; bias last."""
        matrix = xgboost.DMatrix(rows, missing=np.nan, nthread=self.model_threads)
        return np.asarray(self.booster.predict(matrix, pred_contribs=True, validate_features=False))

    def contribution_row_trees(self, n_rows: int) -> int:
        return n_rows * self.n_trees

    def _predict(self, rows: Matrix, margin: bool = False) -> np.ndarray:
        if self.walk is not None and self.walk.suits(rows):
            return self.walk.predict(rows, margin)
        return _inplace_predict(self.booster, rows, margin)


def load_booster(path: Path, model_threads: int, classes: tuple[Any, ...] | None = None) -> BoosterModel:
    booster = xgboost.Booster()
    try:
        booster.load_model(str(path))
    except xgboost.core.XGBoostError as error:
        reason = _xgboost_reason(error)
        raise ModelLoadError(f"{path.name} is not an XGBoost model XGBoost can read: {reason}") from None
    return BoosterModel(booster, model_threads, classes)


def _xgboost_reason(error: Exception) -> str:
    """XGBoost's message without its timestamp, C++ source position and native stack trace."""
    first_line = str(error).strip().splitlines()[0]
    return re.sub(r"^\[[\d:]+\]\s+\S+:\d+:\s*", "", first_line)


def checked_dump(booster: xgboost.Booster) -> dict[str, Any]:
    """The Booster as XGBoost's JSON, its trees checked walkable (tree_checks), or ModelLoadError.
    XGBoost writes it from what it loaded, so one check covers JSON, UBJSON and the legacy format."""
    dump: dict[str, Any] = json.loads(booster.save_raw("json"))
    try:
        tree_checks.check_booster_trees(dump)
    except tree_checks.BadTrees as reason:
        raise ModelLoadError(f"the model's trees cannot be walked safely: {reason}") from None
    return dump


def verified_walk(
    booster: xgboost.Booster, n_features: int, whole_batches: bool = False, dump: dict[str, Any] | None = None
) -> Walk | None:
    """The model's tree walk, in C if built, that answers probe rows exactly like XGBoost; else
    None (logged). With `whole_batches` the C walk takes every dense batch (see compiled_walk).
    `dump` is the Booster's JSON (checked_dump), when the caller has it already."""
    try:
        walk = tree_walk.build(dump if dump is not None else json.loads(booster.save_raw("json")))
    except tree_walk.Unsupported as reason:
        log.info("XGBoost predicts every batch: the tree walk does not support %s", reason)
        return None
    probes = tree_walk.probe_rows(walk, n_features)
    expected = {margin: _inplace_predict(booster, probes, margin) for margin in (True, False)}
    compiled = compile_walk(walk, whole_batches)
    for candidate in (compiled, walk):
        if candidate is None:
            continue
        language = "C" if candidate is compiled else "numpy"
        if all(_answers(candidate, probes, margin, want) for margin, want in expected.items()):
            log.info(
                "the model's %d trees are walked in %s for %s", walk.n_trees - 1, language, _scope(candidate)
            )
            return candidate
        log.warning("the tree walk in %s differs from XGBoost on probe rows", language)
    log.warning("XGBoost predicts every batch")
    return None


def _answers(walk: Walk, probes: np.ndarray, margin: bool, expected: np.ndarray) -> bool:
    """Whether the walk answers `expected` for the probes as one batch and one row at a time: the
    C walk takes a few rows another way than a batch (tree_walk.c)."""
    singly = np.concatenate([walk.predict(probes[row : row + 1], margin) for row in range(len(probes))])
    return np.array_equal(walk.predict(probes, margin), expected) and np.array_equal(singly, expected)


def _scope(walk: Walk) -> str:
    if isinstance(walk, CompiledWalk) and walk.whole_batches:
        return "every dense batch"
    return f"dense batches of up to {max(1, tree_walk.MAX_ROW_TREES // walk.n_trees)} rows"


def _inplace_predict(booster: xgboost.Booster, rows: Matrix, margin: bool) -> np.ndarray:
    return np.asarray(booster.inplace_predict(rows, predict_type="margin" if margin else "value"))


def _schema(
    booster: xgboost.Booster, objective: str, n_classes: int, names: tuple[Any, ...] | None
) -> Schema:
    is_classifier = objective.startswith(("binary:", "multi:"))
    classes = (names or tuple(range(max(n_classes, 2)))) if is_classifier else None
    names = tuple(booster.feature_names) if booster.feature_names else None
    return Schema(
        task="classification" if is_classifier else "regression",
        n_features=booster.num_features(),
        feature_names=names,
        classes=classes,
        accepts_missing=True,
    )


def _softmax(margins: np.ndarray) -> np.ndarray:
    shifted = np.exp(margins - margins.max(axis=1, keepdims=True))
    return np.asarray(shifted / shifted.sum(axis=1, keepdims=True), dtype=np.float32)
