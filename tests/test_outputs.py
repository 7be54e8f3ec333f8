"""Output keys: their syntax, which models offer them, and how each is derived from a model."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pytest

from container.errors import UnsupportedOutput
from container.outputs import (
    OUTPUT_KEYS,
    Prediction,
    check_supported,
    keys_from_custom_attributes,
    offered_outputs,
    parse_keys,
    predict,
)
from container.schema import Schema
from container.tables import Matrix

ROWS = np.zeros((3, 2))


@dataclass
class FakePredictor:
    """Canned answers for three rows; counts how often each primitive is asked for."""

    schema: Schema
    outputs: frozenset[str]
    native_values: np.ndarray
    label_values: np.ndarray | None = None
    probability_table: np.ndarray | None = None
    margin_values: np.ndarray | None = None
    calls: Counter[str] = field(default_factory=Counter)

    def native(self, rows: Matrix) -> np.ndarray:
        return self._answer("native", self.native_values)

    def labels(self, rows: Matrix) -> np.ndarray:
        return self._answer("labels", self.label_values)

    def probabilities(self, rows: Matrix) -> np.ndarray:
        return self._answer("probabilities", self.probability_table)

    def margins(self, rows: Matrix) -> np.ndarray:
        return self._answer("margins", self.margin_values)

    def _answer(self, name: str, values: np.ndarray | None) -> np.ndarray:
        assert values is not None, f"the test model has no {name}"
        self.calls[name] += 1
        return values


def binary_classifier() -> FakePredictor:
    schema = Schema("classification", 2, classes=("no", "yes"))
    return FakePredictor(
        schema=schema,
        outputs=offered_outputs(schema, has_probabilities=True, has_margins=True),
        native_values=np.array(["yes", "no", "yes"]),
        label_values=np.array(["yes", "no", "yes"]),
        probability_table=np.array([[0.2, 0.8], [0.9, 0.1], [0.4, 0.6]]),
        margin_values=np.array([1.4, -2.2, 0.4]),
    )


def multiclass_classifier() -> FakePredictor:
    schema = Schema("classification", 2, classes=("a", "b", "c"))
    return FakePredictor(
        schema=schema,
        outputs=offered_outputs(schema, has_probabilities=True, has_margins=True),
        native_values=np.array(["b", "a", "c"]),
        label_values=np.array(["b", "a", "c"]),
        probability_table=np.array([[0.2, 0.7, 0.1], [0.5, 0.3, 0.2], [0.1, 0.1, 0.8]]),
        margin_values=np.array([[0.1, 2.0, -1.0], [1.5, 0.2, 0.3], [-3.0, -2.0, -0.5]]),
    )


def regressor() -> FakePredictor:
    schema = Schema("regression", 2)
    return FakePredictor(
        schema=schema,
        outputs=offered_outputs(schema, has_probabilities=False, has_margins=False),
        native_values=np.array([1.5, -0.25, 3.0]),
    )


def column(prediction: Prediction, key: str) -> np.ndarray:
    return dict(prediction.columns)[key]


# --- parse_keys, keys_from_custom_attributes ----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        pytest.param("probability", ("probability",), id="one"),
        pytest.param("predicted_label,probability", ("predicted_label", "probability"), id="two"),
        pytest.param("probability,predicted_label", ("probability", "predicted_label"), id="order-kept"),
        pytest.param("labels,probability,labels", ("labels", "probability"), id="duplicates-dropped"),
        pytest.param(" Probability , PREDICTED_LABEL ", ("probability", "predicted_label"), id="case-spaces"),
        pytest.param("raw_score,,raw_scores,", ("raw_score", "raw_scores"), id="empty-items-skipped"),
        pytest.param(",".join(OUTPUT_KEYS), OUTPUT_KEYS, id="every-key"),
    ],
)
def test_parse_keys(text: str, keys: tuple[str, ...]) -> None:
    assert parse_keys(text) == keys


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("score", id="unknown"),
        pytest.param("probability,bogus", id="one-unknown-among-known"),
        pytest.param("predicted-label", id="dash-not-underscore"),
        pytest.param("", id="empty"),
        pytest.param(" , ", id="only-commas"),
    ],
)
def test_parse_keys_refuses_unknown_keys(text: str) -> None:
    with pytest.raises(UnsupportedOutput) as caught:
        parse_keys(text)

    assert caught.value.status == 400
    assert "choose from predicted_label, labels, probability" in caught.value.message


def test_parse_keys_names_the_unknown_key() -> None:
    with pytest.raises(UnsupportedOutput, match="bogus"):
        parse_keys("probability,bogus")


@pytest.mark.parametrize(
    ("header", "keys"),
    [
        pytest.param("output=probabilities", ("probabilities",), id="alone"),
        pytest.param("output=predicted_label,probability", ("predicted_label", "probability"), id="two-keys"),
        pytest.param("trace=abc;output=probability;x=1", ("probability",), id="among-other-pairs"),
        pytest.param("x=output; Output = Labels ", ("labels",), id="case-and-spaces"),
        pytest.param("output=labels;output=probability", ("labels",), id="first-wins"),
        pytest.param(None, None, id="no-header"),
        pytest.param("", None, id="empty-header"),
        pytest.param("trace=abc;x=1", None, id="other-pairs-only"),
        pytest.param("outputs=labels", None, id="similar-name-ignored"),
        pytest.param("probability", None, id="bare-word-ignored"),
    ],
)
def test_keys_from_custom_attributes(header: str | None, keys: tuple[str, ...] | None) -> None:
    assert keys_from_custom_attributes(header) == keys


def test_custom_attribute_with_unknown_key_is_refused() -> None:
    with pytest.raises(UnsupportedOutput):
        keys_from_custom_attributes("trace=1;output=bogus")


# --- predict ---------------------------------------------------------------------------------


@pytest.mark.parametrize("factory", [binary_classifier, multiclass_classifier, regressor])
def test_default_output_is_the_native_prediction(factory: type[FakePredictor]) -> None:
    model = factory()

    prediction = predict(model, ROWS, None)

    assert prediction.selected is False
    assert [name for name, _ in prediction.columns] == ["prediction"]
    np.testing.assert_array_equal(column(prediction, "prediction"), model.native_values)
    assert model.calls == {"native": 1}


def test_predicted_label() -> None:
    prediction = predict(multiclass_classifier(), ROWS, ("predicted_label",))

    assert prediction.selected is True
    assert column(prediction, "predicted_label").tolist() == ["b", "a", "c"]


def test_labels_repeat_every_class_per_row() -> None:
    labels = column(predict(multiclass_classifier(), ROWS, ("labels",)), "labels")

    assert labels.shape == (3, 3)
    assert labels.tolist() == [["a", "b", "c"]] * 3


def test_binary_probability_is_the_second_column() -> None:
    probability = column(predict(binary_classifier(), ROWS, ("probability",)), "probability")

    np.testing.assert_array_equal(probability, [0.8, 0.1, 0.6])


def test_multiclass_probability_is_the_largest() -> None:
    probability = column(predict(multiclass_classifier(), ROWS, ("probability",)), "probability")

    np.testing.assert_array_equal(probability, [0.7, 0.5, 0.8])


def test_probabilities_are_the_whole_table() -> None:
    model = multiclass_classifier()

    probabilities = column(predict(model, ROWS, ("probabilities",)), "probabilities")

    np.testing.assert_array_equal(probabilities, model.probability_table)


def test_raw_score_of_1d_margins_is_the_margin() -> None:
    raw_score = column(predict(binary_classifier(), ROWS, ("raw_score",)), "raw_score")

    np.testing.assert_array_equal(raw_score, [1.4, -2.2, 0.4])


def test_raw_score_of_2d_margins_is_the_predicted_class_margin() -> None:
    raw_score = column(predict(multiclass_classifier(), ROWS, ("raw_score",)), "raw_score")

    np.testing.assert_array_equal(raw_score, [2.0, 1.5, -0.5])


def test_raw_scores_are_every_margin() -> None:
    model = multiclass_classifier()

    raw_scores = column(predict(model, ROWS, ("raw_scores",)), "raw_scores")

    np.testing.assert_array_equal(raw_scores, model.margin_values)


def test_predicted_score_of_a_regressor_is_the_native_value() -> None:
    score = column(predict(regressor(), ROWS, ("predicted_score",)), "predicted_score")

    np.testing.assert_array_equal(score, [1.5, -0.25, 3.0])


def test_columns_follow_the_order_of_the_keys() -> None:
    keys = ("probability", "predicted_label", "raw_score", "labels")

    prediction = predict(binary_classifier(), ROWS, keys)

    assert tuple(name for name, _ in prediction.columns) == keys


def test_each_primitive_is_computed_once_per_request() -> None:
    model = multiclass_classifier()

    predict(model, ROWS, ("probability", "probabilities", "raw_score", "raw_scores", "predicted_label"))

    assert model.calls == {"probabilities": 1, "margins": 1, "labels": 1}


# --- what a model offers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("factory", "keys", "message"),
    [
        pytest.param(
            regressor,
            ("probability",),
            "this model cannot produce probability; it offers predicted_score",
            id="regressor-probability",
        ),
        pytest.param(
            binary_classifier,
            ("predicted_label", "raw_scores", "predicted_score"),
            "this model cannot produce raw_scores, predicted_score; "
            "it offers predicted_label, labels, probability, probabilities, raw_score",
            id="binary-raw-scores",
        ),
        pytest.param(
            multiclass_classifier,
            ("predicted_score",),
            "this model cannot produce predicted_score; "
            "it offers predicted_label, labels, probability, probabilities, raw_score, raw_scores",
            id="multiclass-predicted-score",
        ),
    ],
)
def test_unsupported_keys_name_what_the_model_offers(
    factory: type[FakePredictor], keys: tuple[str, ...], message: str
) -> None:
    model = factory()

    with pytest.raises(UnsupportedOutput) as caught:
        check_supported(keys, model)
    assert caught.value.message == message
    assert caught.value.status == 400

    with pytest.raises(UnsupportedOutput):
        predict(model, ROWS, keys)
    assert not model.calls  # refused before the model is asked anything


def test_supported_keys_pass_the_check() -> None:
    check_supported(("predicted_label", "probability", "raw_scores"), multiclass_classifier())


REGRESSION = Schema("regression", 4)
BINARY = Schema("classification", 4, classes=(0, 1))
MULTICLASS = Schema("classification", 4, classes=("a", "b", "c"))
CLASSIFIER = {"predicted_label", "labels"}
PROBABILITIES = {"probability", "probabilities"}


@pytest.mark.parametrize(
    ("schema", "has_probabilities", "has_margins", "offered"),
    [
        pytest.param(REGRESSION, False, False, {"predicted_score"}, id="regression"),
        pytest.param(REGRESSION, True, True, {"predicted_score"}, id="regression-ignores-flags"),
        pytest.param(BINARY, False, False, CLASSIFIER, id="binary-labels-only"),
        pytest.param(BINARY, True, False, CLASSIFIER | PROBABILITIES, id="binary-probabilities"),
        pytest.param(BINARY, False, True, CLASSIFIER | {"raw_score"}, id="binary-margins"),
        pytest.param(BINARY, True, True, CLASSIFIER | PROBABILITIES | {"raw_score"}, id="binary-all"),
        pytest.param(MULTICLASS, False, False, CLASSIFIER, id="multiclass-labels-only"),
        pytest.param(MULTICLASS, True, False, CLASSIFIER | PROBABILITIES, id="multiclass-probabilities"),
        pytest.param(
            MULTICLASS, False, True, CLASSIFIER | {"raw_score", "raw_scores"}, id="multiclass-margins"
        ),
        pytest.param(
            MULTICLASS,
            True,
            True,
            CLASSIFIER | PROBABILITIES | {"raw_score", "raw_scores"},
            id="multiclass-all",
        ),
        pytest.param(
            Schema("classification", 4), False, True, CLASSIFIER | {"raw_score"}, id="classes-unknown-margins"
        ),
    ],
)
def test_offered_outputs(
    schema: Schema, has_probabilities: bool, has_margins: bool, offered: set[str]
) -> None:
    assert offered_outputs(schema, has_probabilities, has_margins) == frozenset(offered)
