"""What a prediction returns: the framework's own output, or named outputs a caller selects.

Owns: the output keys (the names SageMaker's XGBoost container and Autopilot use), the syntax of
`SAGEMAKER_INFERENCE_OUTPUT` and of the per-request custom attribute, and how each key is derived
from a model's labels, probabilities and margins. Must not know HTTP or any model library.

    predicted_label   the class, in the original label values        classifiers
    labels            every class label, in probability order         classifiers
    probability       binary: P(second class); multi-class: P(predicted class)
    probabilities     every class probability                         models with probabilities
    raw_score         binary: the margin; multi-class: the predicted class's margin
    raw_scores        every class margin                              multi-class, with margins
    predicted_score   the predicted value                             regressors
    contributions     each feature's SHAP value, then the bias           tree models (flavours say)

`contributions` is the one costly output: a request asking for it is refused (413) before any
work when its rows x trees exceed the limit the caller passes (BYOM_MAX_CONTRIBUTION_ROW_TREES).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol, cast

import numpy as np

from container.errors import ExplanationTooLarge, UnsupportedOutput
from container.schema import Schema
from container.tables import Matrix

OUTPUT_KEYS = (
    "predicted_label",
    "labels",
    "probability",
    "probabilities",
    "raw_score",
    "raw_scores",
    "predicted_score",
    "contributions",
)
ATTRIBUTE_KEY = "output"
CONTRIBUTIONS = "contributions"
BIAS_NAME = "bias"


class Predictor(Protocol):
    """What outputs need of a model; the flavours implement it."""

    schema: Schema

    @property
    def outputs(self) -> frozenset[str]: ...
    def native(self, rows: Matrix) -> np.ndarray: ...
    def labels(self, rows: Matrix) -> np.ndarray: ...
    def probabilities(self, rows: Matrix) -> np.ndarray: ...
    def margins(self, rows: Matrix) -> np.ndarray: ...


class Explains(Protocol):
    """What the `contributions` output needs of a model that offers it.

    `contributions` is (rows, features + 1), or (rows, outputs, features + 1) for a model with
    several outputs (a class each), the bias last; `contribution_names` names that last axis."""

    contribution_names: tuple[str, ...] | None

    def contributions(self, rows: Matrix) -> np.ndarray: ...
    def contribution_row_trees(self, n_rows: int) -> int: ...


@dataclass(frozen=True)
class Prediction:
    """Columns of one answer, each (key, values) with values 1-D, 2-D or 3-D (one row per record).

    `selected` is False for the framework's own output (encoded as bare values) and True when
    keys were chosen (encoded as one record per row, keyed by output name). `names` names the
    last axis of a column (JSON writes it as an object), where the model has names.
    """

    columns: tuple[tuple[str, np.ndarray], ...]
    selected: bool
    names: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def parse_keys(text: str) -> tuple[str, ...]:
    """`predicted_label,probability` -> ('predicted_label', 'probability'), order kept."""
    keys = tuple(dict.fromkeys(word.strip().lower() for word in text.split(",") if word.strip()))
    unknown = [key for key in keys if key not in OUTPUT_KEYS]
    if unknown or not keys:
        raise UnsupportedOutput(f"unknown output {unknown or text!r}; choose from {', '.join(OUTPUT_KEYS)}")
    return keys


def keys_from_custom_attributes(header: str | None) -> tuple[str, ...] | None:
    """`output=probabilities` among `;`-separated `name=value` pairs; other pairs are ignored."""
    for pair in (header or "").split(";"):
        name, _, value = pair.partition("=")
        if name.strip().lower() == ATTRIBUTE_KEY:
            return parse_keys(value)
    return None


def check_supported(keys: tuple[str, ...], model: Predictor) -> None:
    unsupported = [key for key in keys if key not in model.outputs]
    if unsupported:
        offered = ", ".join(key for key in OUTPUT_KEYS if key in model.outputs)
        raise UnsupportedOutput(f"this model cannot produce {', '.join(unsupported)}; it offers {offered}")


def predict(
    model: Predictor, rows: Matrix, keys: tuple[str, ...] | None, max_row_trees: int | None = None
) -> Prediction:
    if keys is None:
        return Prediction((("prediction", model.native(rows)),), selected=False)
    check_supported(keys, model)
    names: dict[str, tuple[str, ...]] = {}
    if CONTRIBUTIONS in keys:
        explains = cast(Explains, model)
        check_work(explains, rows.shape[0], max_row_trees)
        if explains.contribution_names is not None:
            names[CONTRIBUTIONS] = (*explains.contribution_names, BIAS_NAME)
    scores = _Scores(model, rows)
    return Prediction(tuple((key, EXTRACTORS[key](scores)) for key in keys), selected=True, names=names)


def check_work(model: Explains, n_rows: int, max_row_trees: int | None) -> None:
    """Refuse, before any work, contributions that would hold a worker too long."""
    work = model.contribution_row_trees(n_rows)
    if max_row_trees is not None and work > max_row_trees:
        raise ExplanationTooLarge(
            f"contributions for {n_rows} rows of this model are {work:,} rows x trees, over the "
            f"limit of {max_row_trees:,} (BYOM_MAX_CONTRIBUTION_ROW_TREES); send fewer rows per request"
        )


class _Scores:
    """Computes each primitive at most once per request, however many keys need it."""

    def __init__(self, model: Predictor, rows: Matrix) -> None:
        self.model, self.rows = model, rows

    @cached_property
    def labels(self) -> np.ndarray:
        return self.model.labels(self.rows)

    @cached_property
    def probabilities(self) -> np.ndarray:
        return self.model.probabilities(self.rows)

    @cached_property
    def margins(self) -> np.ndarray:
        return self.model.margins(self.rows)

    @cached_property
    def native(self) -> np.ndarray:
        return self.model.native(self.rows)


def _all_labels(scores: _Scores) -> np.ndarray:
    classes = np.array(scores.model.schema.classes or ())
    return np.tile(classes, (scores.rows.shape[0], 1))


def _probability(scores: _Scores) -> np.ndarray:
    table = scores.probabilities
    return table[:, 1] if table.shape[1] == 2 else table.max(axis=1)


def _raw_score(scores: _Scores) -> np.ndarray:
    margins = scores.margins
    if margins.ndim == 1:
        return margins
    return np.asarray(margins[np.arange(margins.shape[0]), margins.argmax(axis=1)])


EXTRACTORS: dict[str, Callable[[_Scores], np.ndarray]] = {
    "predicted_label": lambda scores: scores.labels,
    "labels": _all_labels,
    "probability": _probability,
    "probabilities": lambda scores: scores.probabilities,
    "raw_score": _raw_score,
    "raw_scores": lambda scores: scores.margins,
    "predicted_score": lambda scores: scores.native,
    CONTRIBUTIONS: lambda scores: cast(Explains, scores.model).contributions(scores.rows),
}


def offered_outputs(
    schema: Schema, has_probabilities: bool, has_margins: bool, has_contributions: bool = False
) -> frozenset[str]:
    extra = {CONTRIBUTIONS} if has_contributions else set()
    if schema.task == "regression":
        return frozenset({"predicted_score", *extra})
    offered = {"predicted_label", "labels", *extra}
    if has_probabilities:
        offered |= {"probability", "probabilities"}
    if has_margins:
        offered.add("raw_score")
        if schema.classes is not None and len(schema.classes) > 2:
            offered.add("raw_scores")
    return frozenset(offered)
