"""Test models, trained on the fly into a directory, one per artifact format the server reads.

Each factory writes one artifact and returns a ModelCase: the directory, sample rows, and the
framework's own answers on them (computed from the in-memory model, before saving), so every
flavour is checked against the library it wraps. The registry CASES is what conformance tests
parametrize over; adding a format is one factory plus one entry.
"""

from __future__ import annotations

import json
import pickle
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import skops.io
import xgboost
from scipy.special import softmax
from sklearn.datasets import load_iris
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from container.flavours.estimator import EstimatorModel
from container.flavours.exported_tree import write_export

FIXTURES = Path(__file__).parents[1] / "fixtures"
IRIS_NAMES = ("setosa", "versicolor", "virginica")


@dataclass
class ModelCase:
    directory: Path
    rows: np.ndarray
    native: np.ndarray  # what the framework's own predict() returns
    probabilities: np.ndarray | None = None
    needs_pickle: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def iris() -> tuple[np.ndarray, np.ndarray]:
    data = load_iris()
    return data.data, np.asarray(IRIS_NAMES)[data.target]


def synthetic(
    n_classes: int, n_features: int = 6, rows: int = 400, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(rows, n_features))
    score = features[:, 0] + 0.5 * features[:, 1] - 0.25 * features[:, 2]
    labels = np.digitize(score, np.quantile(score, np.linspace(0, 1, n_classes + 1)[1:-1]))
    return features, labels


def _skops(directory: Path, estimator: Any, rows: np.ndarray) -> ModelCase:
    skops.io.dump(estimator, directory / "model.skops")
    probabilities = estimator.predict_proba(rows) if hasattr(estimator, "predict_proba") else None
    return ModelCase(directory, rows, estimator.predict(rows), probabilities)


def decision_tree(directory: Path) -> ModelCase:
    features, labels = iris()
    return _skops(directory, DecisionTreeClassifier(random_state=0).fit(features, labels), features)


def exported(directory: Path, estimator: Any, rows: np.ndarray) -> ModelCase:
    """A scikit-learn tree saved as training saves it: the skops file and its export beside it."""
    case = _skops(directory, estimator, rows)
    write_export(estimator, EstimatorModel(estimator).schema, directory / "model.skops")
    return case


def exported_tree(directory: Path) -> ModelCase:
    features, labels = iris()
    return exported(directory, DecisionTreeClassifier(random_state=0).fit(features, labels), features)


def exported_tree_regressor(directory: Path) -> ModelCase:
    features, labels = synthetic(n_classes=2)
    tree = DecisionTreeRegressor(max_depth=8, random_state=0).fit(features, features[:, 0] * 3 + labels)
    return exported(directory, tree, features)


def random_forest(directory: Path) -> ModelCase:
    features, labels = iris()
    forest = RandomForestClassifier(n_estimators=20, n_jobs=-1, random_state=0).fit(features, labels)
    return _skops(directory, forest, features)


def gradient_boosting(directory: Path) -> ModelCase:
    features, labels = synthetic(n_classes=2)
    return _skops(
        directory, GradientBoostingClassifier(n_estimators=20, random_state=0).fit(features, labels), features
    )


def pipeline(directory: Path) -> ModelCase:
    features, labels = iris()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(features, labels)
    return _skops(directory, model, features)


def forest_regressor(directory: Path) -> ModelCase:
    features, labels = synthetic(n_classes=2)
    target = features[:, 0] * 3 + labels
    return _skops(
        directory, RandomForestRegressor(n_estimators=10, random_state=0).fit(features, target), features
    )


def large_forest(directory: Path) -> int:
    """A forest of deep trees on noise, saved as model.skops; returns its trees' size in bytes."""
    rng = np.random.default_rng(0)
    forest = RandomForestClassifier(n_estimators=40, random_state=0)
    forest.fit(rng.normal(size=(20_000, 4)), rng.integers(0, 2, 20_000))
    directory.mkdir(parents=True, exist_ok=True)
    skops.io.dump(forest, directory / "model.skops")
    return sum(tree.tree_.node_count * (64 + 16) for tree in forest.estimators_)  # node + value arrays


def _booster(objective: str, n_classes: int, rounds: int = 20) -> tuple[xgboost.Booster, np.ndarray]:
    features, labels = synthetic(n_classes=max(n_classes, 2))
    params: dict[str, Any] = {"objective": objective, "max_depth": 3, "seed": 0}
    if objective.startswith("multi:"):
        params["num_class"] = n_classes
    target = features[:, 0] * 2.0 if objective.startswith("reg:") else labels
    return xgboost.train(params, xgboost.DMatrix(features, label=target), rounds), features


def _booster_case(directory: Path, filename: str, objective: str, n_classes: int) -> ModelCase:
    booster, features = _booster(objective, n_classes)
    booster.save_model(str(directory / filename))
    return ModelCase(directory, features, booster.predict(xgboost.DMatrix(features)))


def xgboost_binary_json(directory: Path) -> ModelCase:
    case = _booster_case(directory, "model.json", "binary:logistic", 2)
    case.probabilities = np.column_stack([1 - case.native, case.native])
    return case


def xgboost_multi_ubj(directory: Path) -> ModelCase:
    case = _booster_case(directory, "model.ubj", "multi:softprob", 3)
    case.probabilities = case.native
    return case


def xgboost_softmax_named(directory: Path) -> ModelCase:
    """SageMaker's built-in algorithm names its artifact `xgboost-model` (here UBJSON inside).

    multi:softmax predicts classes only; the server derives probabilities from the margins.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # XGBoost notes that a name without suffix means UBJSON
        case = _booster_case(directory, "xgboost-model", "multi:softmax", 3)
    booster = xgboost.Booster(model_file=str(directory / "xgboost-model"))
    case.probabilities = softmax(booster.predict(xgboost.DMatrix(case.rows), output_margin=True), axis=1)
    return case


def xgboost_regression(directory: Path) -> ModelCase:
    return _booster_case(directory, "model.json", "reg:squarederror", 1)


def xgboost_sklearn_api(directory: Path) -> ModelCase:
    """A model saved from XGBClassifier: XGBoost marks it with a `scikit_learn` attribute.

    XGBClassifier.save_model itself fails with scikit-learn >= 1.6 on XGBoost 3.0 (it reads the
    removed `_estimator_type`), so the attribute it would write is set here by hand.
    """
    features, labels = synthetic(n_classes=3)
    classifier = xgboost.XGBClassifier(n_estimators=15, max_depth=3, random_state=0).fit(features, labels)
    booster = classifier.get_booster()
    booster.set_attr(scikit_learn=json.dumps({"_estimator_type": "classifier"}))
    booster.save_model(str(directory / "model.json"))
    return ModelCase(directory, features, classifier.predict(features), classifier.predict_proba(features))


def xgboost_legacy_binary(directory: Path) -> ModelCase:
    shutil.copy(FIXTURES / "legacy-xgboost" / "xgboost-model", directory / "xgboost-model")
    expected = np.load(FIXTURES / "legacy-xgboost-expected.npz")
    positive = expected["probability"]
    return ModelCase(directory, expected["rows"], positive, np.column_stack([1 - positive, positive]))


def pickled_tree(directory: Path) -> ModelCase:
    """What the AWS scikit_bring_your_own sample writes."""
    features, labels = iris()
    tree = DecisionTreeClassifier(random_state=0).fit(features, labels)
    with (directory / "decision-tree-model.pkl").open("wb") as handle:
        pickle.dump(tree, handle)
    return ModelCase(
        directory, features, tree.predict(features), tree.predict_proba(features), needs_pickle=True
    )


def joblib_xgb_classifier(directory: Path) -> ModelCase:
    features, labels = synthetic(n_classes=2)
    classifier = xgboost.XGBClassifier(n_estimators=10, max_depth=3, n_jobs=4).fit(features, labels)
    joblib.dump(classifier, directory / "model.joblib")
    case = ModelCase(directory, features, classifier.predict(features), classifier.predict_proba(features))
    case.needs_pickle = True
    return case


def pickled_booster(directory: Path) -> ModelCase:
    booster, features = _booster("binary:logistic", 2)
    with (directory / "xgboost-model.pkl").open("wb") as handle:
        pickle.dump(booster, handle)
    positive = booster.predict(xgboost.DMatrix(features))
    return ModelCase(
        directory, features, positive, np.column_stack([1 - positive, positive]), needs_pickle=True
    )


CASES: dict[str, Callable[[Path], ModelCase]] = {
    "sklearn-decision-tree": decision_tree,
    "sklearn-random-forest": random_forest,
    "sklearn-gradient-boosting": gradient_boosting,
    "sklearn-pipeline": pipeline,
    "sklearn-forest-regressor": forest_regressor,
    "sklearn-exported-tree": exported_tree,
    "sklearn-exported-tree-regressor": exported_tree_regressor,
    "xgboost-binary-json": xgboost_binary_json,
    "xgboost-multi-ubj": xgboost_multi_ubj,
    "xgboost-softmax-xgboost-model": xgboost_softmax_named,
    "xgboost-regression": xgboost_regression,
    "xgboost-sklearn-api": xgboost_sklearn_api,
    "xgboost-legacy-binary": xgboost_legacy_binary,
    "pickle-decision-tree": pickled_tree,
    "joblib-xgb-classifier": joblib_xgb_classifier,
    "pickle-booster": pickled_booster,
}


def slow_xgboost(directory: Path, rows: int = 20_000) -> bytes:
    """A 2,000-tree forest and a CSV body it takes seconds to predict on one thread.

    Returns the body. Used to keep workers busy in process-level tests; durations are compared
    as ratios within one run, never against fixed seconds.
    """
    rng = np.random.default_rng(0)
    features = rng.normal(size=(2000, 20))
    labels = (features[:, 0] + features[:, 1] * features[:, 2] > 0).astype(int)
    params = {"objective": "binary:logistic", "max_depth": 12, "num_parallel_tree": 1000, "subsample": 0.8,
              "colsample_bynode": 0.5, "seed": 0}  # fmt: skip
    booster = xgboost.train(params, xgboost.DMatrix(features, label=labels), 2)
    booster.save_model(str(directory / "model.ubj"))
    body = rng.normal(size=(rows, 20))
    return "\n".join(",".join(f"{value:.3f}" for value in row) for row in body).encode()


class Canary:
    """Unpickling this object writes a file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.write_text, (self.marker, "code from the pickle ran"))


def plant_pickle_canary(model_dir: Path, marker: Path) -> None:
    model_dir.mkdir(exist_ok=True)
    (model_dir / "model.pkl").write_bytes(pickle.dumps(Canary(marker)))
