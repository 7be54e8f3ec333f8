"""Response bodies: one line per record in CSV and jsonlines, {"predictions": [...]} in JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from container.codecs import ENCODERS
from container.codecs.csv import encode_csv
from container.codecs.json import encode_json
from container.codecs.jsonlines import encode_jsonlines
from container.outputs import Prediction

NAN = float("nan")


def native(values: np.ndarray) -> Prediction:
    """The framework's own output: one unnamed column, encoded as bare values."""
    return Prediction((("prediction", values),), selected=False)


def selected(*columns: tuple[str, np.ndarray]) -> Prediction:
    return Prediction(tuple(columns), selected=True)


def csv_lines(prediction: Prediction) -> list[str]:
    body = encode_csv(prediction).decode()
    assert body.endswith("\n")
    return body[:-1].split("\n")


def json_predictions(prediction: Prediction) -> list[object]:
    document = json.loads(encode_json(prediction))
    assert list(document) == ["predictions"]
    return document["predictions"]  # type: ignore[no-any-return]


def jsonl_records(prediction: Prediction) -> list[object]:
    body = encode_jsonlines(prediction).decode()
    assert body.endswith("\n")
    return [json.loads(line) for line in body[:-1].split("\n")]


def test_registry() -> None:
    expected = {
        "text/csv": encode_csv,
        "application/json": encode_json,
        "application/jsonlines": encode_jsonlines,
    }
    assert dict(ENCODERS) == expected


# --- the framework's own output --------------------------------------------------------------


def test_csv_writes_one_line_per_record_with_a_trailing_newline() -> None:
    assert encode_csv(native(np.array([1.5, 2.0, -3.25]))) == b"1.5\n2.0\n-3.25\n"


def test_csv_writes_2d_output_one_row_per_line() -> None:
    assert encode_csv(native(np.array([[0.25, 0.75], [1.0, 0.0]]))) == b"0.25,0.75\n1.0,0.0\n"


def test_json_wraps_values_in_predictions() -> None:
    assert encode_json(native(np.array([1.5, 2.0]))) == b'{"predictions":[1.5,2.0]}'


def test_json_writes_2d_output_as_lists() -> None:
    assert json_predictions(native(np.array([[0.25, 0.75], [1.0, 0.0]]))) == [[0.25, 0.75], [1.0, 0.0]]


def test_jsonlines_writes_one_record_per_line() -> None:
    assert encode_jsonlines(native(np.array([1.5, 2.0, 3.0]))) == b"1.5\n2.0\n3.0\n"


def test_jsonlines_writes_2d_records_as_lists() -> None:
    assert encode_jsonlines(native(np.array([[1.0, 2.0], [3.0, 4.0]]))) == b"[1.0,2.0]\n[3.0,4.0]\n"


@pytest.mark.parametrize(
    ("values", "csv", "json_values"),
    [
        pytest.param(np.array([1, 2], dtype=np.int64), b"1\n2\n", [1, 2], id="int64"),
        pytest.param(np.array([True, False]), b"true\nfalse\n", [True, False], id="bool"),
        pytest.param(np.array(["cat", "dog"]), b"cat\ndog\n", ["cat", "dog"], id="strings"),
        pytest.param(np.array([-0.0, 1e-7]), b"-0.0\n1e-7\n", [-0.0, 1e-7], id="float64-shortest"),
    ],
)
def test_value_types(values: np.ndarray, csv: bytes, json_values: list[object]) -> None:
    assert encode_csv(native(values)) == csv
    assert json_predictions(native(values)) == json_values
    assert jsonl_records(native(values)) == json_values


# --- float32 shortest form, NaN ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        pytest.param(np.float32(0.3), "0.3", id="0.3"),
        pytest.param(np.float32(0.1), "0.1", id="0.1"),
        pytest.param(np.float32(1 / 3), "0.33333334", id="one-third"),
        pytest.param(np.float32(0.7310586), "0.7310586", id="sigmoid-1"),
        pytest.param(np.float32(-2.5), "-2.5", id="negative"),
    ],
)
def test_float32_is_written_in_shortest_form(value: np.float32, text: str) -> None:
    values = np.array([value], dtype=np.float32)

    assert encode_csv(native(values)) == f"{text}\n".encode()
    assert encode_json(native(values)) == f'{{"predictions":[{text}]}}'.encode()
    assert encode_jsonlines(native(values)) == f"{text}\n".encode()
    assert float(text) == float(value.astype(str))  # the same float32, not a rounded neighbour


def test_float32_round_trips_exactly_and_no_longer_than_numpy_writes_it() -> None:
    rng = np.random.default_rng(0)
    magnitudes = np.float32(10.0) ** rng.integers(-12, 12, 2_000).astype(np.float32)
    values = (rng.random(2_000) * magnitudes).astype(np.float32)

    fields = encode_csv(native(values)).decode().split()
    assert np.array_equal(np.array(fields, dtype=np.float64).astype(np.float32), values)
    digits = [len(field.replace("-", "").replace(".", "").split("e")[0].strip("0")) for field in fields]
    shortest = [len(str(v).replace("-", "").replace(".", "").split("e")[0].strip("0")) for v in values]
    assert digits == shortest


def test_float32_2d_columns_are_written_in_shortest_form() -> None:
    values = np.array([[0.1, 0.9]], dtype=np.float32)

    assert encode_csv(native(values)) == b"0.1,0.9\n"
    assert json_predictions(native(values)) == [[0.1, 0.9]]


def test_float64_keeps_every_digit() -> None:
    assert encode_csv(native(np.array([0.1 + 0.2]))) == b"0.30000000000000004\n"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_is_null_in_json_and_empty_in_csv(dtype: type) -> None:
    values = np.array([1.0, NAN], dtype=dtype)

    assert encode_json(native(values)) == b'{"predictions":[1.0,null]}'
    assert encode_jsonlines(native(values)) == b"1.0\nnull\n"
    assert encode_csv(native(values)) == b"1.0\n\n"  # the second record is one empty field


def test_nan_inside_2d_columns() -> None:
    values = np.array([[NAN, 0.5], [0.25, NAN]], dtype=np.float32)

    assert encode_csv(native(values)) == b",0.5\n0.25,\n"
    assert json_predictions(native(values)) == [[None, 0.5], [0.25, None]]


# --- selected outputs --------------------------------------------------------------------------


def two_outputs() -> Prediction:
    return selected(
        ("predicted_label", np.array(["cat", "dog"])),
        ("probability", np.array([0.75, 0.5], dtype=np.float32)),
    )


def test_selected_outputs_in_json_are_one_dict_per_row_in_key_order() -> None:
    body = encode_json(two_outputs())

    assert json.loads(body) == {
        "predictions": [
            {"predicted_label": "cat", "probability": 0.75},
            {"predicted_label": "dog", "probability": 0.5},
        ]
    }
    assert body.index(b"predicted_label") < body.index(b"probability")


def test_selected_outputs_in_jsonlines_are_one_dict_per_line() -> None:
    assert encode_jsonlines(two_outputs()) == (
        b'{"predicted_label":"cat","probability":0.75}\n{"predicted_label":"dog","probability":0.5}\n'
    )


def test_selected_outputs_in_csv_are_columns_in_key_order() -> None:
    assert encode_csv(two_outputs()) == b"cat,0.75\ndog,0.5\n"

    reversed_order = selected(*reversed(two_outputs().columns))
    assert encode_csv(reversed_order) == b"0.75,cat\n0.5,dog\n"


def test_selected_2d_columns_flatten_into_several_csv_fields() -> None:
    prediction = selected(
        ("predicted_label", np.array(["b", "a"])),
        ("probabilities", np.array([[0.25, 0.75], [0.5, 0.5]], dtype=np.float32)),
        ("labels", np.array([["a", "b"], ["a", "b"]])),
    )

    assert csv_lines(prediction) == ["b,0.25,0.75,a,b", "a,0.5,0.5,a,b"]
    assert jsonl_records(prediction) == [
        {"predicted_label": "b", "probabilities": [0.25, 0.75], "labels": ["a", "b"]},
        {"predicted_label": "a", "probabilities": [0.5, 0.5], "labels": ["a", "b"]},
    ]


def test_selected_nan_is_null_in_json_and_empty_in_csv() -> None:
    prediction = selected(("predicted_label", np.array(["x"])), ("probability", np.array([NAN])))

    assert encode_csv(prediction) == b"x,\n"
    assert json_predictions(prediction) == [{"predicted_label": "x", "probability": None}]


def test_a_single_selected_output_is_still_a_dict() -> None:
    prediction = selected(("predicted_score", np.array([1.5])))

    assert json_predictions(prediction) == [{"predicted_score": 1.5}]
    assert encode_csv(prediction) == b"1.5\n"


# --- CSV quoting -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "field"),
    [
        pytest.param("plain", "plain", id="plain-unquoted"),
        pytest.param("a,b", '"a,b"', id="comma"),
        pytest.param('say "hi"', '"say ""hi"""', id="quotes-doubled"),
        pytest.param('"', '""""', id="lone-quote"),
        pytest.param("a b", "a b", id="space-unquoted"),
    ],
)
def test_csv_quotes_labels_with_special_characters(label: str, field: str) -> None:
    prediction = selected(("predicted_label", np.array([label])), ("probability", np.array([0.5])))

    assert encode_csv(prediction) == f"{field},0.5\n".encode()
    assert encode_csv(native(np.array([label, "plain"]))) == f"{field}\nplain\n".encode()


def test_csv_writes_labels_of_mixed_python_types_as_selected_outputs_do() -> None:
    labels = np.array(["a", None, True, 1.5, 7], dtype=object)

    assert encode_csv(native(labels)) == b"a\n\ntrue\n1.5\n7\n"
    assert encode_csv(selected(("predicted_label", labels))) == encode_csv(native(labels))


def test_json_labels_with_commas_and_quotes_round_trip() -> None:
    labels = np.array(["a,b", 'say "hi"'])

    assert json_predictions(native(labels)) == ["a,b", 'say "hi"']
    assert jsonl_records(native(labels)) == ["a,b", 'say "hi"']


def test_jsonlines_keeps_a_label_with_a_newline_on_one_line() -> None:
    assert encode_jsonlines(native(np.array(["x\ny", "z"]))) == b'"x\\ny"\n"z"\n'


def test_csv_keeps_a_label_with_a_newline_on_one_line() -> None:
    body = encode_csv(native(np.array(["x\ny", "z\r"])))

    assert body == b"x\\ny\nz\\r\n"  # two records, two lines; the breaks written as \n and \r
