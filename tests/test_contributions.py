"""The `contributions` output's arithmetic: this project's TreeSHAP (container/tree_shap.py) against
shap's on every scikit-learn model kind it serves, and against brute force over every subset of
features; XGBoost's own, against shap and the margin. Rows include missing values and hostile
ones (huge and infinite values). shap is a test-only dependency (the dev extra), never in the image.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shap
import xgboost
from sklearn.ensemble import (
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from container.flavours.booster import BoosterModel
from container.flavours.estimator import EstimatorModel
from container.flavours.exported_tree import load_export, write_export
from container.flavours.tree_ensembles import trees_of
from container.tree_shap import Tree, TreeExplainer

TOLERANCE = 1e-6
N_FEATURES = 5


def data(missing: bool, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(300, N_FEATURES))
    target = features[:, 0] * 2 + features[:, 1] * features[:, 2] + rng.normal(size=300) * 0.1
    if missing:
        features[rng.random(features.shape) < 0.15] = np.nan
    return features, target


def classes(target: np.ndarray, n_classes: int) -> np.ndarray:
    return np.digitize(target, np.quantile(target, np.linspace(0, 1, n_classes + 1)[1:-1]))


def query_rows(missing: bool) -> np.ndarray:
    """Ordinary rows, rows at the float32 edge and beyond it, and (where allowed) missing values."""
    rows, _ = data(missing=False, seed=1)
    hostile = np.array([
        [1e300, -1e300, 3.4e38, -3.5e38, 0.0],
        [1e-300, -0.0, 5e-324, 1e30, -1e30],
        [3.5e38, 1e300, -1e300, 1e308, -1e308],
    ])  # fmt: skip
    chosen = [rows[:20], hostile]
    if missing:
        gaps = rows[20:30].copy()
        gaps[:, ::2] = np.nan
        chosen.append(gaps)
        chosen.append(np.full((1, N_FEATURES), np.nan))
    return np.concatenate(chosen)


SKLEARN_MODELS: dict[str, Callable[[bool], Any]] = {
    "decision-tree-classifier": lambda missing: DecisionTreeClassifier(max_depth=6, random_state=0).fit(
        data(missing)[0], classes(data(missing)[1], 3)
    ),
    "decision-tree-regressor": lambda missing: DecisionTreeRegressor(max_depth=7, random_state=0).fit(
        *data(missing)
    ),
    "random-forest-classifier": lambda missing: RandomForestClassifier(n_estimators=15, random_state=0).fit(
        data(missing)[0], classes(data(missing)[1], 2)
    ),
    "random-forest-regressor": lambda missing: RandomForestRegressor(n_estimators=10, random_state=0).fit(
        *data(missing)
    ),
    "extra-trees-classifier": lambda missing: ExtraTreesClassifier(n_estimators=10, random_state=0).fit(
        data(missing)[0], classes(data(missing)[1], 3)
    ),
    "gradient-boosting-binary": lambda _: GradientBoostingClassifier(n_estimators=15, random_state=0).fit(
        data(False)[0], classes(data(False)[1], 2)
    ),
    "gradient-boosting-multi": lambda _: GradientBoostingClassifier(n_estimators=10, random_state=0).fit(
        data(False)[0], classes(data(False)[1], 3)
    ),
    "gradient-boosting-regressor": lambda _: GradientBoostingRegressor(n_estimators=15, random_state=0).fit(
        *data(False)
    ),
    "pipeline-scaler-forest": lambda _: make_pipeline(
        StandardScaler(), RandomForestClassifier(n_estimators=10, random_state=0)
    ).fit(data(False)[0], classes(data(False)[1], 3)),
}
WITH_MISSING = {"decision-tree-classifier", "decision-tree-regressor", "random-forest-classifier",
                "random-forest-regressor", "extra-trees-classifier"}  # fmt: skip


def explained_output(estimator: Any, rows: np.ndarray) -> np.ndarray:
    """What the contributions must sum to, (rows, outputs)."""
    final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    if isinstance(final, GradientBoostingClassifier):
        margins = estimator.decision_function(rows)
        return margins[:, None] if margins.ndim == 1 else margins
    if hasattr(estimator, "predict_proba"):
        return np.asarray(estimator.predict_proba(rows))
    return np.asarray(estimator.predict(rows))[:, None]


def shap_values(estimator: Any, rows: np.ndarray) -> np.ndarray:
    """shap's answer as (rows, outputs, features + 1), the bias last."""
    final, seen = estimator, rows
    if hasattr(estimator, "steps"):
        final, seen = estimator.steps[-1][1], estimator[:-1].transform(rows)
    explainer = shap.TreeExplainer(final, feature_perturbation="tree_path_dependent")
    values = np.asarray(explainer.shap_values(seen.astype(np.float32), check_additivity=False))
    values = values[:, :, None] if values.ndim == 2 else values  # (rows, features, outputs)
    bias = np.broadcast_to(np.atleast_1d(explainer.expected_value), (len(rows), values.shape[2]))
    return np.concatenate([values.transpose(0, 2, 1), bias[:, :, None]], axis=2)


def as_three_d(values: np.ndarray) -> np.ndarray:
    return values[:, None, :] if values.ndim == 2 else values


@pytest.mark.parametrize("missing", [False, True], ids=["complete", "missing"])
@pytest.mark.parametrize("kind", SKLEARN_MODELS)
def test_scikit_learn_contributions_equal_shaps_and_sum_to_the_output(kind: str, missing: bool) -> None:
    if missing and kind not in WITH_MISSING:
        pytest.skip("this estimator does not take missing values")
    estimator = SKLEARN_MODELS[kind](missing)
    model = EstimatorModel(estimator)
    assert "contributions" in model.outputs
    rows = np.clip(query_rows(missing), -3e38, 3e38)  # huge, still float32 (beyond: the next test)
    ours = as_three_d(model.contributions(rows))
    np.testing.assert_allclose(ours, reference_values(estimator, rows), atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(ours.sum(axis=2), explained_output(estimator, rows), atol=TOLERANCE, rtol=0)


def reference_values(estimator: Any, rows: np.ndarray) -> np.ndarray:
    """shap's answer; brute force where shap declines (multi-class gradient boosting)."""
    if not (isinstance(estimator, GradientBoostingClassifier) and len(estimator.classes_) > 2):
        return shap_values(estimator, rows)
    found = trees_of(estimator)
    assert found is not None
    trees, base = found
    values = np.array(
        [brute_force(trees, row, N_FEATURES) for row in rows.astype(np.float32).astype(np.float64)]
    )
    values[:, :, -1] += base
    return values


@pytest.mark.parametrize("kind", ["decision-tree-classifier", "random-forest-regressor"])
def test_huge_values_take_the_branch_the_trees_take(kind: str) -> None:
    """Values beyond float32 are infinite to scikit-learn's trees; the contributions still sum to
    what the trees answer for them (shap is not asked: its input check refuses them)."""
    estimator = SKLEARN_MODELS[kind](False)
    rows = np.array([[1e300, -1e300, 3.5e38, -3.5e38, 1e39], [np.inf, -np.inf, 0.0, 1.0, -1.0]])
    ours = as_three_d(EstimatorModel(estimator).contributions(rows))
    trees = estimator.estimators_ if hasattr(estimator, "estimators_") else [estimator]
    seen = rows.astype(np.float32)
    if hasattr(estimator, "predict_proba"):
        expected = np.mean([tree.predict_proba(seen, check_input=False) for tree in trees], axis=0)
    else:
        expected = np.mean([tree.predict(seen, check_input=False) for tree in trees], axis=0)[:, None]
    np.testing.assert_allclose(ours.sum(axis=2), expected, atol=TOLERANCE, rtol=0)


# --- brute force: the definition, over every subset of features


def conditional_expectation(tree: Tree, row: np.ndarray, known: frozenset[int], node: int = 0) -> np.ndarray:
    """E[f | x_S] as path-dependent TreeSHAP defines it."""
    if tree.left[node] == -1:
        return np.asarray(tree.values[node], dtype=np.float64)
    feature = int(tree.feature[node])
    left, right = int(tree.left[node]), int(tree.right[node])
    if feature in known:
        value = row[feature]
        goes_left = bool(tree.missing_left[node]) if math.isnan(value) else value <= tree.threshold[node]
        return conditional_expectation(tree, row, known, left if goes_left else right)
    share = tree.cover[left] / tree.cover[node]
    return share * conditional_expectation(tree, row, known, left) + (1 - share) * conditional_expectation(
        tree, row, known, right
    )


def brute_force(trees: list[Tree], row: np.ndarray, n_features: int) -> np.ndarray:
    players = range(n_features)

    def game(known: frozenset[int]) -> np.ndarray:
        return np.sum([conditional_expectation(tree, row, known) for tree in trees], axis=0)

    phi = np.zeros((len(trees[0].values[0]), n_features + 1))
    for player in players:
        others = [p for p in players if p != player]
        for size in range(n_features):
            weight = math.factorial(size) * math.factorial(n_features - size - 1) / math.factorial(n_features)
            for subset in itertools.combinations(others, size):
                known = frozenset(subset)
                phi[:, player] += weight * (game(known | {player}) - game(known))
    phi[:, -1] = game(frozenset())
    return phi


def sklearn_tree(estimator: Any, scale: float = 1.0) -> Tree:
    tree = estimator.tree_
    return Tree(
        tree.children_left, tree.children_right, tree.feature, tree.threshold,
        tree.missing_go_to_left.astype(bool), tree.weighted_n_node_samples, tree.value[:, 0, :] * scale,
    )  # fmt: skip


def test_tree_shap_equals_brute_force_with_repeated_features_and_missing_values() -> None:
    features, target = data(missing=True)
    forest = RandomForestClassifier(n_estimators=3, max_depth=8, random_state=0)
    forest.fit(features, classes(target, 3))
    trees = [sklearn_tree(member, 1 / 3) for member in forest.estimators_]
    explainer = TreeExplainer(trees, N_FEATURES, np.zeros(3))
    rows = query_rows(missing=True)[[0, 1, 20, 23, 25]].astype(np.float32).astype(np.float64)
    ours = explainer.contributions(rows)
    for index, row in enumerate(rows):
        np.testing.assert_allclose(ours[index], brute_force(trees, row, N_FEATURES), atol=1e-12, rtol=0)


def test_an_explainer_answers_the_same_in_small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    estimator = SKLEARN_MODELS["random-forest-regressor"](True)
    rows = query_rows(missing=True)
    whole = EstimatorModel(estimator).contributions(rows)
    monkeypatch.setattr("container.tree_shap.CHUNK_ELEMENTS", 7)
    monkeypatch.setattr("container.tree_shap.COMPILED", None)  # chunks are numpy's
    np.testing.assert_allclose(EstimatorModel(estimator).contributions(rows), whole, atol=1e-12, rtol=0)


# --- exported trees, served without scikit-learn


@pytest.mark.parametrize("kind", ["decision-tree-classifier", "decision-tree-regressor"])
@pytest.mark.parametrize("missing", [False, True], ids=["complete", "missing"])
def test_an_exported_tree_explains_as_shap_does(tmp_path: Path, kind: str, missing: bool) -> None:
    import skops.io

    estimator = SKLEARN_MODELS[kind](missing)
    artifact = tmp_path / "model.skops"
    skops.io.dump(estimator, artifact)
    export = write_export(estimator, EstimatorModel(estimator).schema, artifact)
    assert export is not None
    tree = load_export(export, artifact)
    rows = query_rows(missing)
    rows = rows if missing else np.where(np.isfinite(rows.astype(np.float32)), rows, 0.0)
    np.testing.assert_allclose(
        as_three_d(tree.contributions(rows)), shap_values(estimator, rows), atol=TOLERANCE
    )


def test_an_export_without_cover_serves_without_contributions(tmp_path: Path) -> None:
    estimator = SKLEARN_MODELS["decision-tree-classifier"](False)
    artifact = tmp_path / "model.skops"
    import skops.io

    skops.io.dump(estimator, artifact)
    export = write_export(estimator, EstimatorModel(estimator).schema, artifact)
    assert export is not None
    with np.load(export) as stored:
        arrays = {name: stored[name] for name in stored.files if name != "cover"}
    with export.open("wb") as file:
        np.savez(file, **arrays)
    assert "contributions" not in load_export(export, artifact).outputs


# --- XGBoost: its own pred_contribs, on the booster


def booster(objective: str, missing: bool) -> xgboost.Booster:
    features, target = data(missing)
    params: dict[str, Any] = {"objective": objective, "max_depth": 4, "seed": 0, "nthread": 1}
    label = target
    if objective.startswith("multi:"):
        params["num_class"], label = 3, classes(target, 3)
    elif objective.startswith("binary:"):
        label = classes(target, 2)
    elif objective == "count:poisson":
        label = np.abs(target)
    return xgboost.train(params, xgboost.DMatrix(features, label=label), 25)


@pytest.mark.parametrize("missing", [False, True], ids=["complete", "missing"])
@pytest.mark.parametrize("objective", ["binary:logistic", "multi:softprob", "multi:softmax", "reg:squarederror",
                                       "binary:hinge", "count:poisson"])  # fmt: skip
def test_xgboost_contributions_sum_to_the_margin_and_equal_shaps(objective: str, missing: bool) -> None:
    model = BoosterModel(booster(objective, missing), model_threads=1)
    rows = query_rows(missing)
    rows = np.where(np.abs(rows) < 3.4e38, rows, 0.0)  # XGBoost reads float32: larger is refused as inf
    ours = as_three_d(model.contributions(rows))
    margin = model.booster.predict(xgboost.DMatrix(rows), output_margin=True)
    margin = margin[:, None] if margin.ndim == 1 else margin
    np.testing.assert_allclose(ours.sum(axis=2), margin, atol=1e-4, rtol=1e-5)  # float32 sums
    theirs = np.asarray(shap.TreeExplainer(model.booster).shap_values(rows))
    theirs = theirs[:, :, None] if theirs.ndim == 2 else theirs
    np.testing.assert_allclose(ours[:, :, :-1], theirs.transpose(0, 2, 1), atol=1e-5, rtol=1e-5)


def test_shap_and_its_compilers_stay_out_of_the_image() -> None:
    runtime = (Path(__file__).parents[1] / "requirements" / "runtime.lock").read_text()
    assert not {"shap", "numba", "llvmlite"} & {line.split("==")[0] for line in runtime.splitlines()}


@pytest.mark.parametrize(
    "kind", ["random-forest-classifier", "extra-trees-classifier", "decision-tree-regressor"]
)
def test_the_c_treeshap_answers_as_numpy_does(kind: str) -> None:
    """tree_shap.c is built here (`make`, the Dockerfile) and answers what the numpy path answers."""
    import container.tree_shap as tree_shap

    assert tree_shap.COMPILED is not None, "container/_tree_shap is not built: run `make`"
    found = trees_of(SKLEARN_MODELS[kind](True))
    assert found is not None
    explainer = TreeExplainer(found[0], N_FEATURES, found[1])
    rows = query_rows(missing=True).astype(np.float32).astype(np.float64)
    in_c = explainer.contributions(rows)
    in_numpy = explainer.contributions(rows, in_c=False)
    np.testing.assert_allclose(in_c, in_numpy, atol=1e-12, rtol=0)
