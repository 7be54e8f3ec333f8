"""scikit-learn's tree models as TreeSHAP's arrays: which estimators can explain their answers.

Owns: the registry of explainable scikit-learn estimators (EXPLAINABLE: a class and how its trees
and constant add up to its output), what their contributions sum to, and the pipeline rule (a
pipeline whose final step is one of them is explained over its transformed features). Must not
know HTTP or the Shapley arithmetic (container/tree_shap.py).

    decision trees, extra trees     (F + 1) per class probability, or the predicted value
    random forests, extra trees     the same, each tree weighted 1 / n_estimators
    gradient boosting               the raw score (decision_function: log-odds for classifiers),
                                    one set per class when there are more than two
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.pipeline import Pipeline
from sklearn.tree import BaseDecisionTree

from container.tree_shap import Tree, TreeExplainer

Trees = tuple[list[Tree], np.ndarray]  # the trees, and the constant added to their sum


@dataclass(frozen=True)
class Explained:
    """An estimator's explainer: rows are transformed (a pipeline's first steps) and cast to
    float32 as its trees see them; `single` answers (rows, F + 1) for a one-output model."""

    transform: Callable[[np.ndarray], np.ndarray]
    explainer: TreeExplainer
    names: tuple[str, ...] | None
    single: bool

    def contributions(self, rows: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):  # values beyond float32 become +-inf, as the trees see them
            seen = np.asarray(self.transform(rows), dtype=np.float32).astype(np.float64)
        values = self.explainer.contributions(seen)
        return values[:, 0, :] if self.single else values


def explainable(estimator: Any) -> bool:
    final = estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator
    return trees_of(final) is not None


def explain(estimator: Any, names: tuple[str, ...] | None) -> Explained | None:
    """The estimator's explainer, or None when it is not one EXPLAINABLE serves."""
    transform: Callable[[np.ndarray], np.ndarray] = _identity
    final = estimator
    if isinstance(estimator, Pipeline):
        head, final = estimator[:-1], estimator.steps[-1][1]
        transform, names = head.transform, _transformed_names(head, names)
    found = trees_of(final)
    if found is None:
        return None
    trees, base = found
    n_features = int(final.n_features_in_)
    return Explained(transform, TreeExplainer(trees, n_features, base), names, single=len(base) == 1)


def trees_of(estimator: Any) -> Trees | None:
    if getattr(estimator, "n_outputs_", 1) != 1:
        return None
    for kind, build in EXPLAINABLE.items():
        if isinstance(estimator, kind):
            return build(estimator)
    return None


def _identity(rows: np.ndarray) -> np.ndarray:
    return rows


def _transformed_names(head: Pipeline, names: tuple[str, ...] | None) -> tuple[str, ...] | None:
    try:
        return tuple(str(name) for name in head.get_feature_names_out(names))
    except Exception:  # a step without get_feature_names_out: the columns stay unnamed
        return None


def _tree(estimator: Any, scale: float = 1.0, output: int | None = None, width: int = 1) -> Tree:
    """A fitted tree's arrays; `output` puts its value in one column of `width` (boosting)."""
    tree = estimator.tree_
    values = np.asarray(tree.value[:, 0, :], dtype=np.float64) * scale
    if output is not None:
        placed = np.zeros((len(values), width))
        placed[:, output] = values[:, 0]
        values = placed
    missing = getattr(tree, "missing_go_to_left", np.zeros(tree.node_count, dtype=np.uint8))
    return Tree(
        tree.children_left, tree.children_right, tree.feature, tree.threshold,
        np.asarray(missing, dtype=bool), tree.weighted_n_node_samples, values,
    )  # fmt: skip


def _single_tree(estimator: Any) -> Trees:
    tree = _tree(estimator)
    return [tree], np.zeros(tree.values.shape[1])


def _forest(forest: Any) -> Trees:
    trees = [_tree(member, 1.0 / len(forest.estimators_)) for member in forest.estimators_]
    return trees, np.zeros(trees[0].values.shape[1])


def _boosting(model: Any) -> Trees | None:
    """Gradient boosting from a constant start (the default prior, or `init="zero"`)."""
    if not (model.init_ == "zero" or isinstance(model.init_, DummyClassifier | DummyRegressor)):
        return None
    stages = model.estimators_
    width = stages.shape[1]
    trees = [
        _tree(stages[stage, k], model.learning_rate, k, width)
        for stage in range(stages.shape[0])
        for k in range(width)
    ]
    base = np.asarray(model._raw_predict_init(np.zeros((1, model.n_features_in_))), dtype=np.float64)[0]
    return trees, base


EXPLAINABLE: dict[type, Callable[[Any], Trees | None]] = {
    BaseDecisionTree: _single_tree,
    RandomForestClassifier: _forest,
    RandomForestRegressor: _forest,
    ExtraTreesClassifier: _forest,
    ExtraTreesRegressor: _forest,
    GradientBoostingClassifier: _boosting,
    GradientBoostingRegressor: _boosting,
}


def tree_count(estimator: Any) -> int:
    final = estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator
    return int(np.size(getattr(final, "estimators_", [final])))
