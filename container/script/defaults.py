"""This container's own machinery where a script leaves a hook out.

Owns the seams between the user's values and ours. What a user's `input_fn` returns (a Table, a
numpy array, a list of rows, a pandas DataFrame, whose column names are matched by name, or a
SciPy sparse matrix) becomes a Table for the built-in predict, which checks it against the model's
schema as for any request. What a user's `predict_fn` returns becomes the built-in encoders' input:
rows of numbers or strings encode as the model's own output would, and anything else (a dict, a
list of dicts) only as JSON, wrapped as {"predictions": ...}. A model from a user's `model_fn` is
predicted by its own `predict(rows)`, as AWS's containers do.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from container.codecs import ENCODERS
from container.errors import InvalidData, NotAcceptable
from container.outputs import Prediction, Predictor, predict
from container.schema import conform
from container.script.hooks import ScriptFailed
from container.settings import DEFAULT_CONTRIBUTION_ROW_TREES
from container.tables import Table

ROW_KINDS = "biufUS"  # numpy kinds that encode as rows: booleans, numbers, strings
JSON_TYPES = ("application/json", "application/jsonlines")


def predict_builtin(data: Any, model: Predictor, keys: tuple[str, ...] | None) -> Prediction:
    rows = conform(as_table(data), model.schema)
    return predict(model, rows, keys, DEFAULT_CONTRIBUTION_ROW_TREES)


def predict_with_own_method(data: Any, model: Any, script: str) -> Any:
    method = getattr(model, "predict", None)
    if not callable(method):
        raise ScriptFailed(
            f"{script} model_fn returned a {type(model).__name__}, which has no predict(); define predict_fn"
        )
    return method(data.rows if isinstance(data, Table) else data)


def as_table(data: Any) -> Table:
    """A user's decoded input as the rows a built-in model predicts from; 422 when it is not rows."""
    if isinstance(data, Table):
        return data
    if type(data).__module__.startswith("scipy.sparse"):
        return Table(data.tocsr().astype(np.float64))
    columns = None
    if type(data).__module__.startswith("pandas") and hasattr(data, "columns"):
        named = not all(isinstance(name, int) for name in data.columns)
        columns = tuple(str(name) for name in data.columns) if named else None
        data = data.to_numpy()
    try:
        rows = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidData(f"input_fn returned a {type(data).__name__} that is not rows of numbers") from None
    if rows.ndim == 1:
        rows = rows.reshape(1, -1)
    if rows.ndim != 2:
        raise InvalidData(f"input_fn returned {rows.ndim}-dimensional data; rows are 1- or 2-dimensional")
    return Table(rows, columns)


def encode(prediction: Any, response_type: str) -> bytes:
    """A prediction (ours or a user's) in the negotiated response type."""
    if isinstance(prediction, Prediction):
        return ENCODERS[response_type](prediction)
    values = np.asarray(prediction) if _array_like(prediction) else None
    if values is not None and values.ndim <= 2 and values.dtype.kind in ROW_KINDS:
        return ENCODERS[response_type](
            Prediction((("prediction", values.reshape(-1) if values.ndim == 0 else values),), selected=False)
        )
    if response_type not in JSON_TYPES:
        raise NotAcceptable(
            f"the prediction is a {type(prediction).__name__}, which is answered as JSON only; "
            "ask for application/json (or define output_fn)"
        )
    if response_type == "application/json":
        return orjson.dumps({"predictions": prediction}, option=orjson.OPT_SERIALIZE_NUMPY)
    items = prediction if isinstance(prediction, list) else [prediction]
    return b"".join(orjson.dumps(item, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n" for item in items)


def _array_like(value: Any) -> bool:
    if isinstance(value, np.ndarray | np.generic | int | float | str | bool):
        return True
    return isinstance(value, list | tuple) and not any(isinstance(item, dict) for item in value)
