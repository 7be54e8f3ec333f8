"""scikit-learn estimators and pipelines, loaded from skops files without running their code.

Owns: skops loading with an explicit list of trusted types (and importing skops without its own
default list), limiting `n_jobs` to one thread, and the estimator's labels, probabilities and
margins, and for tree models their contributions (`tree_ensembles`: which estimators, and the
explainer built at the first request that asks, by each worker). Any object with the scikit-learn estimator API (including XGBClassifier from a trusted
pickle) is served through EstimatorModel. Sparse input is densified: to scikit-learn an absent
entry means 0.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import warnings
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

import scipy.special  # isort: skip  (first of SciPy and scikit-learn: see import_skops_io)
import scipy.sparse
import sklearn.utils
from sklearn.base import is_classifier
from sklearn.tree import BaseDecisionTree
from sklearn.utils import get_tags

from container.errors import ModelLoadError
from container.flavours import tree_ensembles
from container.outputs import offered_outputs
from container.schema import Schema
from container.tables import Matrix

# Classes scikit-learn itself defines (sklearn.tree._tree.Tree, ...) are rebuilt by skops' own
# loaders. Anything else skops flags, functions above all (they run on request data), must be
# named by the operator in BYOM_SKOPS_TRUSTED_TYPES.
TRUSTED_PACKAGE = "sklearn"


class EstimatorModel:
    def __init__(self, estimator: Any) -> None:
        _single_threaded(estimator)
        # Rows arrive as arrays in training order; the name check is done by schema.conform.
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        self.estimator = estimator
        # A single tree's own input check costs ~140 us of its ~160 us single-row predict. Giving
        # it the float32 C-ordered array that check would build, and skipping the check, is exact;
        # schema.conform has already refused what the check refuses (inf, NaN where unsupported).
        self._prepare, self._options = (
            (_float32, {"check_input": False}) if _is_tree(estimator) else (_dense, {})
        )
        # Even unchecked, a tree classifier's predict spends ~16 of its ~19 us on bookkeeping
        # (fitted? feature count? tags?) before the last line, which is all that is left here.
        self._classifier_tree = estimator.tree_ if _is_single_output_tree_classifier(estimator) else None
        self.schema = _schema(estimator)
        self.outputs = offered_outputs(
            self.schema,
            has_probabilities=hasattr(estimator, "predict_proba"),
            has_margins=hasattr(estimator, "decision_function"),
            has_contributions=tree_ensembles.explainable(estimator),
        )

    def native(self, rows: Matrix) -> np.ndarray:
        if self._classifier_tree is not None:
            scores = self._classifier_tree.predict(_float32(rows))
            return np.asarray(self.estimator.classes_.take(np.argmax(scores, axis=1), axis=0))
        return np.asarray(self.estimator.predict(self._prepare(rows), **self._options))

    def labels(self, rows: Matrix) -> np.ndarray:
        return self.native(rows)

    def probabilities(self, rows: Matrix) -> np.ndarray:
        return np.asarray(self.estimator.predict_proba(self._prepare(rows), **self._options))

    def margins(self, rows: Matrix) -> np.ndarray:
        return np.asarray(self.estimator.decision_function(_dense(rows)))

    @cached_property
    def _explained(self) -> tree_ensembles.Explained:
        explained = tree_ensembles.explain(self.estimator, self.schema.feature_names)
        assert explained is not None  # offered only when explainable
        return explained

    @property
    def contribution_names(self) -> tuple[str, ...] | None:
        return self._explained.names

    def contributions(self, rows: Matrix) -> np.ndarray:
        return self._explained.contributions(_dense(rows))

    def contribution_row_trees(self, n_rows: int) -> int:
        return n_rows * tree_ensembles.tree_count(self.estimator)


def load_skops(path: Path, extra_trusted: tuple[str, ...]) -> EstimatorModel:
    skops_io = import_skops_io()
    try:
        untrusted = skops_io.get_untrusted_types(file=path)
        refused = [name for name in untrusted if not _trusted(name, extra_trusted)]
        if refused:
            raise ModelLoadError(
                f"{path.name} contains types that are not trusted: {', '.join(refused)}; "
                "list them in BYOM_SKOPS_TRUSTED_TYPES if you trust them"
            )
        estimator = skops_io.load(path, trusted=untrusted)
    except ModelLoadError:
        raise
    except Exception as error:  # skops raises many types for a damaged or foreign file
        raise ModelLoadError(f"{path.name} is not a skops file this server can read: {error}") from None
    return as_estimator_model(estimator, path)


def import_skops_io() -> ModuleType:
    """skops.io, imported without the default list of trusted estimators it builds at import.

    skops builds that list with sklearn.utils.all_estimators(), which imports every scikit-learn
    module: 0.3-0.45 s of the demo model's ~1.65 s cold start. This server does not use the list:
    it trusts what `_trusted` accepts and hands skops every type it approved, so the list is left
    empty and skops flags scikit-learn's estimators too, for `_trusted` to accept.

    skops also names the module of each of SciPy's 232 special-function ufuncs, which carry no
    `__module__`, by searching sys.modules in import order until one holds it. This module imports
    scipy.special before scikit-learn, and the gunicorn master imports this module before the web
    app (pandas), so each search stops after ~300 modules instead of ~1,000: 75,000 getattr calls
    instead of 234,000, and skops.io's import in the master went from 0.35-0.65 s to 0.21-0.24 s.
    `serve` imports this module before gunicorn's too (serve.import_model_library): ~225 modules.
    """
    if "skops.io" in sys.modules:
        return sys.modules["skops.io"]
    all_estimators = sklearn.utils.all_estimators
    sklearn.utils.all_estimators = _no_estimators
    try:
        return importlib.import_module("skops.io")
    finally:
        sklearn.utils.all_estimators = all_estimators


def _no_estimators(*_args: Any, **_kwargs: Any) -> list[tuple[str, type]]:
    return []


def as_estimator_model(estimator: Any, path: Path) -> EstimatorModel:
    if not hasattr(estimator, "predict"):
        raise ModelLoadError(f"{path.name} holds a {type(estimator).__name__}, which has no predict()")
    return EstimatorModel(estimator)


def _trusted(type_name: str, extra_trusted: tuple[str, ...]) -> bool:
    return type_name in extra_trusted or _is_scikit_learn_class(type_name)


def _is_scikit_learn_class(type_name: str) -> bool:
    module_name, _, attribute = type_name.rpartition(".")
    if module_name.split(".")[0] != TRUSTED_PACKAGE:
        return False
    try:
        candidate = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError):
        return False
    return inspect.isclass(candidate) and candidate.__module__.split(".")[0] == TRUSTED_PACKAGE


def _single_threaded(estimator: Any) -> None:
    if not hasattr(estimator, "get_params"):
        return
    thread_params = {name: 1 for name in estimator.get_params(deep=True) if name.endswith("n_jobs")}
    if thread_params:
        estimator.set_params(**thread_params)


def _schema(estimator: Any) -> Schema:
    names = getattr(estimator, "feature_names_in_", None)
    classifier = is_classifier(estimator) and hasattr(estimator, "classes_")
    return Schema(
        task="classification" if classifier else "regression",
        n_features=getattr(estimator, "n_features_in_", None),
        feature_names=tuple(str(name) for name in names) if names is not None else None,
        classes=tuple(np.asarray(estimator.classes_).tolist()) if classifier else None,
        accepts_missing=_allows_nan(estimator),
    )


def _allows_nan(estimator: Any) -> bool:
    try:
        return bool(get_tags(estimator).input_tags.allow_nan)
    except Exception:  # a third-party estimator without scikit-learn's tags
        return False


def _is_tree(estimator: Any) -> bool:
    return isinstance(estimator, BaseDecisionTree)


def _is_single_output_tree_classifier(estimator: Any) -> bool:
    return _is_tree(estimator) and is_classifier(estimator) and getattr(estimator, "n_outputs_", 0) == 1


def _float32(rows: Matrix) -> np.ndarray:
    return np.ascontiguousarray(_dense(rows), dtype=np.float32)


def _dense(rows: Matrix) -> np.ndarray:
    return np.asarray(rows.toarray()) if isinstance(rows, scipy.sparse.csr_matrix) else rows
