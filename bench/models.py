"""The models and request bodies the benchmark serves.

Owns: the iris decision tree for both servers (a copy of the project's demo model directory for
ours, the same tree pickled for the reference), the synthetic XGBoost models (trained here with
fixed seeds and saved as UBJSON), and the CSV and JSON bodies sent to them.
"""

from __future__ import annotations

import json
import pickle
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import skops.io
import xgboost
from load import CHECKOUT

DEMO_MODEL = Path(__file__).resolve().parent.parent / "model"
SKOPS_FILE = "decision-tree-model.skops"
PICKLE_FILE = "decision-tree-model.pkl"  # the name the sample's predictor.py opens
IRIS_ROW = b"5.1,3.5,1.4,0.2"  # the body of bench/post-csv.lua
N_FEATURES = 30


@dataclass(frozen=True)
class IrisModels:
    ours: Path  # a copy of model/: the skops tree and its manifest
    reference: Path  # the same tree, pickled


def iris_models(work: Path) -> IrisModels:
    """Copy the demo model for our server and pickle the very same tree for the reference."""
    ours = work / "iris-ours"
    shutil.copytree(DEMO_MODEL, ours)
    skops_path = ours / SKOPS_FILE
    tree = skops.io.load(skops_path, trusted=skops.io.get_untrusted_types(file=skops_path))
    reference = work / "iris-reference"
    reference.mkdir()
    with (reference / PICKLE_FILE).open("wb") as stream:
        pickle.dump(tree, stream)
    return IrisModels(ours, reference)


@dataclass(frozen=True)
class BoosterModel:
    directory: Path
    path: Path
    n_trees: int
    train_seconds: float


def xgboost_model(work: Path, seed: int = 0) -> BoosterModel:
    """200 trees of depth 6 on 30 synthetic features, binary:logistic, saved as UBJSON."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(10_000, N_FEATURES))
    signal = features[:, 0] + 0.5 * features[:, 1] * features[:, 2] - np.abs(features[:, 3])
    labels = (signal + rng.normal(scale=0.5, size=len(signal)) > 0).astype(np.int32)
    params = {"objective": "binary:logistic", "max_depth": 6, "eta": 0.1, "seed": seed, "nthread": 1}
    started = time.perf_counter()
    booster = xgboost.train(params, xgboost.DMatrix(features, label=labels), num_boost_round=200)
    return _save(booster, work / "xgboost-200", time.perf_counter() - started)


def slow_xgboost_model(work: Path, seed: int = 0) -> BoosterModel:
    """A forest of 2,000 trees of depth 12 on 30 features: seconds per large request on one core.

    Grown as 2 boosting rounds of 1,000 parallel trees on a small sample, so it trains in seconds.
    """
    rng = np.random.default_rng(seed + 1)
    features = rng.normal(size=(3_000, N_FEATURES))
    labels = (features[:, 0] * features[:, 1] + features[:, 2] > 0).astype(np.int32)
    params = {
        "objective": "binary:logistic",
        "max_depth": 12,
        "num_parallel_tree": 1000,
        "subsample": 0.8,
        "colsample_bynode": 0.5,
        "seed": seed,
        "nthread": 1,
    }
    started = time.perf_counter()
    booster = xgboost.train(params, xgboost.DMatrix(features, label=labels), num_boost_round=2)
    return _save(booster, work / "xgboost-slow", time.perf_counter() - started)


def _save(booster: xgboost.Booster, directory: Path, seconds: float) -> BoosterModel:
    directory.mkdir()
    path = directory / "xgboost-model.ubj"
    booster.save_model(str(path))
    return BoosterModel(directory, path, booster.num_boosted_rounds() * _parallel_trees(booster), seconds)


def _parallel_trees(booster: xgboost.Booster) -> int:
    config = json.loads(booster.save_config())
    return int(config["learner"]["gradient_booster"]["gbtree_model_param"]["num_parallel_tree"])


def load_booster(path: Path, nthread: int = 1) -> xgboost.Booster:
    booster = xgboost.Booster()
    booster.load_model(str(path))
    booster.set_param({"nthread": nthread})
    return booster


def served_model(path: Path) -> Any:
    """The model as the server's worker loads it (container.flavours, one model thread)."""
    if str(CHECKOUT) not in sys.path:
        sys.path.insert(0, str(CHECKOUT))
    from container.flavours.booster import load_booster as load_served_booster

    return load_served_booster(path, model_threads=1)


def feature_rows(rows: int, seed: int) -> np.ndarray:
    """Synthetic rows for requests, rounded to 4 decimals so their text form is exact."""
    return np.round(np.random.default_rng(seed).normal(size=(rows, N_FEATURES)), 4)


def csv_body(rows: np.ndarray) -> bytes:
    return "\n".join(",".join(f"{value:.4f}" for value in row) for row in rows).encode()


def json_body(rows: np.ndarray) -> bytes:
    return json.dumps({"instances": rows.tolist()}, separators=(",", ":")).encode()


def parse_csv(body: bytes) -> np.ndarray:
    """The rows a CSV body holds, as the float64 array the server predicts on."""
    return np.loadtxt(body.decode().splitlines(), delimiter=",", dtype=np.float64, ndmin=2)
