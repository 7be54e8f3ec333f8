"""The numpy tree walk answers XGBoost's bits exactly, or is not used at all."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse
import xgboost

from container.flavours import tree_walk
from container.flavours.booster import load_booster, verified_walk

WALKED = ["binary:logistic", "reg:logistic", "binary:logitraw", "reg:squarederror", "reg:absoluteerror"]


def train(objective: str, rounds: int = 30, **params: Any) -> tuple[xgboost.Booster, np.ndarray]:
    rng = np.random.default_rng(7)
    features = rng.normal(size=(2_000, 8))
    features[rng.random(features.shape) < 0.1] = np.nan  # learn default directions both ways
    signal = np.nan_to_num(features[:, 0]) + np.nan_to_num(features[:, 1] * features[:, 2])
    target = signal if objective.startswith("reg:") and objective != "reg:logistic" else signal > 0
    params = {"objective": objective, "max_depth": 5, "seed": 0, "nthread": 1, **params}
    booster = xgboost.train(params, xgboost.DMatrix(features, label=target.astype(float)), rounds)
    return booster, features


def hard_rows(walk: tree_walk.TreeWalk, booster: xgboost.Booster) -> np.ndarray:
    """Random rows, and rows on, just off and missing at every threshold (a different seed than
    the load-time check, so the check is not the only evidence)."""
    random = np.random.default_rng(11).normal(size=(300, booster.num_features()))
    return np.vstack([random, tree_walk.probe_rows(walk, booster.num_features(), seed=5)])


@pytest.mark.parametrize("objective", WALKED)
def test_walk_is_bit_identical_to_xgboost(objective: str) -> None:
    booster, _ = train(objective)
    walk = verified_walk(booster, booster.num_features())
    assert walk is not None
    rows = hard_rows(walk, booster)
    np.testing.assert_array_equal(walk.margins(rows), booster.inplace_predict(rows, predict_type="margin"))
    np.testing.assert_array_equal(walk.predict(rows), booster.inplace_predict(rows))


def test_probe_rows_sit_on_thresholds_and_include_missing_values() -> None:
    booster, _ = train("binary:logistic")
    walk = tree_walk.build(json.loads(booster.save_raw("json")))
    probes = tree_walk.probe_rows(walk, booster.num_features()).astype(np.float32)
    first_split = walk.thresholds[1]  # the root of the first tree after the base-margin stump
    column = probes[:, walk.features[1]]
    assert (column == first_split).any() and np.isnan(column).any()
    assert (column == np.nextafter(first_split, np.float32(np.inf))).any()


def test_served_single_rows_take_the_walk_and_match(tmp_path: Path) -> None:
    booster, features = train("binary:logistic")
    booster.save_model(str(tmp_path / "model.ubj"))
    model = load_booster(tmp_path / "model.ubj", model_threads=1)
    assert model.walk is not None
    for row in features[:50]:
        one = row[None, :]
        assert model.walk.suits(one)
        np.testing.assert_array_equal(model.probabilities(one)[:, 1], booster.inplace_predict(one))
        np.testing.assert_array_equal(model.margins(one), booster.inplace_predict(one, predict_type="margin"))


def test_big_and_sparse_batches_go_to_xgboost() -> None:
    booster, features = train("binary:logistic")
    walk = verified_walk(booster, booster.num_features())
    assert walk is not None
    fits = tree_walk.MAX_ROW_TREES // walk.n_trees
    assert walk.suits(features[:fits]) and not walk.suits(features[: fits + 1])
    assert not walk.suits(scipy.sparse.csr_matrix(np.nan_to_num(features[:1])))


@pytest.mark.parametrize(
    ("objective", "params", "reason"),
    [
        ("multi:softprob", {"num_class": 3}, "more than one output"),
        ("binary:logistic", {"booster": "dart", "rate_drop": 0.1}, "dart"),
        ("count:poisson", {}, "objective count:poisson"),
    ],
)
def test_models_the_walk_does_not_reproduce_are_refused(
    objective: str, params: dict[str, Any], reason: str
) -> None:
    booster, _ = train(objective, rounds=5, **params)
    with pytest.raises(tree_walk.Unsupported, match=reason):
        tree_walk.build(json.loads(booster.save_raw("json")))
    assert verified_walk(booster, booster.num_features()) is None


def test_categorical_splits_are_refused() -> None:
    rng = np.random.default_rng(0)
    frame = {"colour": rng.integers(0, 4, 500), "size": rng.normal(size=500)}
    import pandas as pd

    data = pd.DataFrame(frame).astype({"colour": "category"})
    label = (frame["colour"] == 2).astype(float)
    dmatrix = xgboost.DMatrix(data, label=label, enable_categorical=True)
    booster = xgboost.train({"max_depth": 3, "tree_method": "hist"}, dmatrix, 5)
    with pytest.raises(tree_walk.Unsupported, match="categorical"):
        tree_walk.build(json.loads(booster.save_raw("json")))


def test_a_walk_that_differs_on_any_probe_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    booster, _ = train("reg:squarederror")
    honest = tree_walk.build

    def slightly_off(model: dict[str, Any]) -> tree_walk.TreeWalk:
        walk = honest(model)
        walk.leaves.reshape(walk.n_trees, -1)[1] *= np.float32(1.001)  # the first tree after the stump
        return walk

    monkeypatch.setattr(tree_walk, "build", slightly_off)
    assert verified_walk(booster, booster.num_features()) is None
