"""pickle and joblib files: what the AWS sample and most users have today.

Owns: unpickling, and handing the object to the flavour that serves it (an XGBoost Booster, or
anything with the scikit-learn estimator API). Unpickling runs code from the file: the registry
(`container.flavours.check_artifact`) calls this only when the operator set BYOM_ALLOW_PICKLE=true.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import joblib
import xgboost

from container.errors import ModelLoadError
from container.flavours.booster import BoosterModel
from container.flavours.estimator import EstimatorModel, as_estimator_model


def load_pickle(path: Path, model_threads: int) -> BoosterModel | EstimatorModel:
    try:
        obj = _unpickle(path)
    except Exception as error:  # unpickling can raise anything the stored code raises
        raise ModelLoadError(f"{path.name} could not be unpickled: {type(error).__name__}: {error}") from None
    if isinstance(obj, xgboost.Booster):
        return BoosterModel(obj, model_threads)
    return as_estimator_model(obj, path)


def _unpickle(path: Path) -> Any:
    if path.suffix == ".joblib":
        return joblib.load(path)
    with path.open("rb") as handle:
        return pickle.load(handle)  # noqa: S301 - the operator opted in
