"""The reference handler: the AWS scikit_bring_your_own sample's predictor.py, rebuilt for the benchmark.

Owns: behaving like the sample, request for request, so the benchmark compares our server with
what people actually deploy. Not shipped. Like the sample it keeps the unpickled model in a
module-level singleton loaded on first use (the first /ping of each worker), parses the body with
pandas.read_csv(io.StringIO(...), header=None), predicts on the DataFrame, prints one line per
request and writes the predictions with DataFrame.to_csv. The one change: the model directory
comes from SM_MODEL_DIR (default /opt/ml/model, the sample's fixed path) so it can run from a
temporary directory.
"""

from __future__ import annotations

import io
import os
import pickle
from typing import Any

import flask
import pandas as pd

model_path = os.environ.get("SM_MODEL_DIR", "/opt/ml/model")


class ScoringService:
    """Holds the model once loaded; predicts on a DataFrame."""

    model: Any = None

    @classmethod
    def get_model(cls) -> Any:
        if cls.model is None:
            with open(os.path.join(model_path, "decision-tree-model.pkl"), "rb") as stream:
                cls.model = pickle.load(stream)  # noqa: S301 - the sample's loader, reproduced on purpose
        return cls.model

    @classmethod
    def predict(cls, data: pd.DataFrame) -> Any:
        return cls.get_model().predict(data)


app = flask.Flask(__name__)


@app.route("/ping", methods=["GET"])
def ping() -> flask.Response:
    healthy = ScoringService.get_model() is not None
    return flask.Response(response="\n", status=200 if healthy else 404, mimetype="application/json")


@app.route("/invocations", methods=["POST"])
def transformation() -> flask.Response:
    if flask.request.content_type != "text/csv":
        return flask.Response(
            response="This predictor only supports CSV data", status=415, mimetype="text/plain"
        )
    text = flask.request.data.decode("utf-8")
    data = pd.read_csv(io.StringIO(text), header=None)
    print(f"Invoked with {data.shape[0]} records")
    predictions = ScoringService.predict(data)
    out = io.StringIO()
    pd.DataFrame({"results": predictions}).to_csv(out, header=False, index=False)
    return flask.Response(response=out.getvalue(), status=200, mimetype="text/csv")
