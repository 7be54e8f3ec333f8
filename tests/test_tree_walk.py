"""The tree walks, in C and in numpy, answer XGBoost's bits exactly, or are not used at all."""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse
import xgboost

from container.flavours import booster as booster_flavour
from container.flavours import compiled_walk, tree_walk
from container.flavours.booster import load_booster, verified_walk
from container.flavours.compiled_walk import CompiledWalk, compile_walk

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


def compiled(walk: tree_walk.TreeWalk, whole_batches: bool = True) -> CompiledWalk:
    found = compile_walk(walk, whole_batches)
    assert found is not None, f"{compiled_walk.LIBRARY} is missing: `make` builds it"
    return found


@pytest.mark.parametrize("objective", WALKED)
@pytest.mark.parametrize("language", ["C", "numpy"])
def test_walk_is_bit_identical_to_xgboost(objective: str, language: str) -> None:
    booster, _ = train(objective)
    numpy_walk = tree_walk.build(json.loads(booster.save_raw("json")))
    walk = compiled(numpy_walk) if language == "C" else numpy_walk
    rows = hard_rows(numpy_walk, booster)
    np.testing.assert_array_equal(walk.margins(rows), booster.inplace_predict(rows, predict_type="margin"))
    np.testing.assert_array_equal(walk.predict(rows), booster.inplace_predict(rows))
    np.testing.assert_array_equal(walk.predict(rows[:1]), booster.inplace_predict(rows[:1]))
    for size in (1, 2, 3, 4, 33):  # the C walk takes fewer than 4 rows one way, more another
        batches = [walk.margins(rows[start : start + size]) for start in range(0, 99, size)]
        np.testing.assert_array_equal(
            np.concatenate(batches)[:99], booster.inplace_predict(rows[:99], predict_type="margin")
        )


def test_the_compiled_walk_is_preferred_and_the_numpy_walk_serves_without_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    booster, _ = train("binary:logistic")
    assert isinstance(verified_walk(booster, booster.num_features()), CompiledWalk)
    monkeypatch.setattr(compiled_walk, "LIBRARY", tmp_path / "never-built.so")
    with caplog.at_level(logging.INFO, logger="byom"):
        assert isinstance(verified_walk(booster, booster.num_features()), tree_walk.TreeWalk)
    assert "the compiled tree walk is not available" in caplog.text
    assert "the model's 30 trees are walked in numpy for dense batches of up to 103 rows" in caplog.text


def test_a_compiled_walk_that_differs_leaves_the_numpy_walk(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    booster, _ = train("reg:squarederror")

    def slightly_off(walk: tree_walk.TreeWalk, whole_batches: bool) -> CompiledWalk:
        leaves = walk.leaves.copy()
        leaves.reshape(walk.n_trees, -1)[1] *= np.float32(1.001)  # the first tree after the stump
        return compiled(dataclasses.replace(walk, leaves=leaves))

    monkeypatch.setattr(booster_flavour, "compile_walk", slightly_off)
    with caplog.at_level(logging.WARNING, logger="byom"):
        assert isinstance(verified_walk(booster, booster.num_features()), tree_walk.TreeWalk)
    assert "the tree walk in C differs from XGBoost on probe rows" in caplog.text


def test_a_compiled_walk_that_differs_only_on_single_rows_is_not_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    booster, _ = train("reg:squarederror")

    class OffForFewRows(CompiledWalk):
        def predict(self, rows: np.ndarray, margin: bool = False) -> np.ndarray:
            outputs = super().predict(rows, margin)
            return outputs * np.float32(1.001) if len(rows) < 4 else outputs

    def off_for_few_rows(walk: tree_walk.TreeWalk, whole_batches: bool) -> CompiledWalk:
        return OffForFewRows(walk, compiled_walk.load_module(compiled_walk.LIBRARY), whole_batches)

    monkeypatch.setattr(booster_flavour, "compile_walk", off_for_few_rows)
    assert isinstance(verified_walk(booster, booster.num_features()), tree_walk.TreeWalk)


@pytest.mark.parametrize("layout", ["float32", "int64", "fortran", "strided"])
def test_the_c_walk_reads_rows_of_any_dtype_and_layout_as_xgboost_does(layout: str) -> None:
    """The C walk reads C-contiguous float64; other rows are cast to float32 first, as XGBoost
    casts them, then widened exactly."""
    booster, features = train("binary:logistic")
    walk = compiled(tree_walk.build(json.loads(booster.save_raw("json"))))
    dense = np.nan_to_num(features[:40]) * 1000
    rows = {
        "float32": dense.astype(np.float32),
        "int64": dense.astype(np.int64),
        "fortran": np.asfortranarray(features[:40]),
        "strided": features[:80:2],
    }[layout]
    np.testing.assert_array_equal(walk.predict(rows), booster.inplace_predict(rows))


def test_the_c_walk_refuses_arguments_it_cannot_walk_safely() -> None:
    """Called directly, the extension checks every buffer's type and shape before reading any:
    it raises instead of reading past an array."""
    booster, features = train("binary:logistic")
    walk = tree_walk.build(json.loads(booster.save_raw("json")))
    module = compiled_walk.load_module(compiled_walk.LIBRARY)
    model = (
        np.stack(walk.level_starts).astype(np.int64), walk.features.astype(np.int32), walk.thresholds,
        walk.missing_right.astype(np.uint8), walk.leaves, walk.depth, int(walk.features.max()) + 1,
    )  # fmt: skip
    rows, margins = np.nan_to_num(features[:5]), np.empty(5, np.float32)
    module.margins(*model, rows, margins, False, False)
    np.testing.assert_array_equal(margins, booster.inplace_predict(rows, predict_type="margin"))
    refused = {
        "rows of float32": ((*model, rows.astype(np.float32), margins, False, False), TypeError),
        "rows too narrow": ((*model, rows[:, :-1].copy(), margins, False, False), ValueError),
        "rows not contiguous": ((*model, rows[:, ::2], margins, False, False), ValueError),
        "rows 1-D": ((*model, rows[0].copy(), np.empty(1, np.float32), False, False), ValueError),
        "a margin short": ((*model, rows, np.empty(4, np.float32), False, False), ValueError),
        "margins of float64": ((*model, rows, np.empty(5), False, False), TypeError),
        "margins read-only": ((*model, rows, np.frombuffer(bytes(20), np.float32), False, False), ValueError),
        "leaves of another depth": ((*model[:4], walk.leaves[:-1], *model[5:], rows, margins, False, False), ValueError),
        "a depth of 0": ((*model[:5], 0, *model[6:], rows, margins, False, False), ValueError),
        "an argument short": ((*model, rows, margins, False), TypeError),
    }  # fmt: skip
    for case, (arguments, error) in refused.items():
        with pytest.raises(error):
            module.margins(*arguments)
            pytest.fail(f"{case} was walked")


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
    assert isinstance(model.walk, CompiledWalk)
    for row in features[:50]:
        one = row[None, :]
        assert model.walk.suits(one)
        np.testing.assert_array_equal(model.probabilities(one)[:, 1], booster.inplace_predict(one))
        np.testing.assert_array_equal(model.margins(one), booster.inplace_predict(one, predict_type="margin"))


@pytest.mark.parametrize("language", ["C", "numpy"])
def test_big_and_sparse_batches_go_to_xgboost(language: str) -> None:
    booster, features = train("binary:logistic")
    numpy_walk = tree_walk.build(json.loads(booster.save_raw("json")))
    walk = compiled(numpy_walk, whole_batches=False) if language == "C" else numpy_walk
    fits = tree_walk.MAX_ROW_TREES // walk.n_trees
    assert walk.suits(features[:fits]) and not walk.suits(features[: fits + 1])
    assert not walk.suits(scipy.sparse.csr_matrix(np.nan_to_num(features[:1])))


def test_with_one_model_thread_the_c_walk_takes_every_dense_batch(tmp_path: Path) -> None:
    booster, features = train("binary:logistic")
    booster.save_model(str(tmp_path / "model.ubj"))
    single, several = (load_booster(tmp_path / "model.ubj", model_threads=n).walk for n in (1, 2))
    assert isinstance(single, CompiledWalk) and isinstance(several, CompiledWalk)
    assert single.suits(features) and not several.suits(features)
    assert not single.suits(scipy.sparse.csr_matrix(np.nan_to_num(features[:1])))


def test_a_big_batch_lets_the_workers_other_threads_run() -> None:
    """A walk of many rows releases the GIL: the longest pause of a Python loop in another thread
    stays well below the walk's time (held, it would be all of it)."""
    booster, features = train("binary:logistic", rounds=100)
    walk = compiled(tree_walk.build(json.loads(booster.save_raw("json"))))
    big = np.tile(np.nan_to_num(features), (100, 1))

    def longest_pause_while(work: Callable[[], object]) -> tuple[float, float]:
        done, pauses = threading.Event(), [0.0]

        def watch() -> None:
            last = time.perf_counter()
            while not done.is_set():
                now = time.perf_counter()
                pauses.append(now - last)
                last = now

        watcher = threading.Thread(target=watch)
        watcher.start()
        time.sleep(0.01)
        started = time.perf_counter()
        work()
        took = time.perf_counter() - started
        done.set()
        watcher.join()
        return max(pauses), took

    pause, took = longest_pause_while(lambda: walk.margins(big))
    assert pause < took / 4, f"the watcher paused {pause * 1e3:.1f} ms during a {took * 1e3:.1f} ms walk"


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
