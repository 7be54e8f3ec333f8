"""The `contributions` output over HTTP: every request content type and Accept, feature names in
JSON, selection by custom attribute and SAGEMAKER_INFERENCE_OUTPUT, the 413 past the work limit,
multi-model invocations; in process, and on gunicorn and in the image through `endpoint`."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io
import xgboost
from sklearn.ensemble import RandomForestClassifier
from werkzeug.test import Client

from container.app import create_app
from container.multimodel.registry import Registry
from container.settings import Settings
from tests.helpers.harness import DEMO_MODEL, HttpEndpoint
from tests.helpers.inprocess import InProcessEndpoint
from tests.helpers.models import pipeline, synthetic
from tests.helpers.multi_model import CSV, load_body

ASK = {"X-Amzn-SageMaker-Custom-Attributes": "output=predicted_label,contributions"}
IRIS_ROWS = [[5.1, 3.5, 1.4, 0.2], [6.2, 3.4, 5.4, 2.3]]
NAMES = ("alpha", "beta", "gamma", "delta")


def bodies(rows: list[list[float]], names: tuple[str, ...] | None = None) -> dict[str, tuple[str, bytes]]:
    """The same rows in every content type the server reads."""
    npy = io.BytesIO()
    np.save(npy, np.asarray(rows))
    found = {
        "csv": ("text/csv", "\n".join(",".join(map(repr, row)) for row in rows).encode()),
        "json": ("application/json", json.dumps({"instances": rows}).encode()),
        "jsonlines": ("application/jsonlines", "\n".join(json.dumps(row) for row in rows).encode()),
        "libsvm": ("text/libsvm", "\n".join(" ".join(f"{i}:{v!r}" for i, v in enumerate(row)) for row in rows).encode()),
        "npy": ("application/x-npy", npy.getvalue()),
    }  # fmt: skip
    if names is not None:
        found["json-columns"] = ("application/json", json.dumps({"columns": names, "data": rows}).encode())
    return found


def parsed(content_type: str, body: bytes) -> list[list[float]]:
    """Each row's contributions (flattened, as CSV writes them) from any answer type."""
    if content_type == "text/csv":
        return [[float(field) for field in line.split(",")[1:]] for line in body.decode().splitlines()]
    records = (
        json.loads(body)["predictions"]
        if content_type == "application/json"
        else [json.loads(line) for line in body.splitlines()]
    )
    return [list(_flat(record["contributions"])) for record in records]


def _flat(value: object) -> list[float]:
    if isinstance(value, dict):
        return [float(number) for number in value.values()]
    if isinstance(value, list):
        return [number for item in value for number in _flat(item)]
    return [float(value)]  # type: ignore[arg-type]


@pytest.mark.parametrize("accept", ["text/csv", "application/json", "application/jsonlines"])
def test_every_content_type_and_accept_give_the_demo_models_contributions(
    endpoint: HttpEndpoint | InProcessEndpoint, accept: str
) -> None:
    """Demo model (an exported tree, served without scikit-learn): one set per class, each row's
    sets summing to its class probabilities; CSV columns are class by class, features then bias."""
    answers = []
    for content_type, body in bodies(IRIS_ROWS).values():
        reply = endpoint.request(
            "POST", "/invocations", body, {"Content-Type": content_type, "Accept": accept, **ASK}
        )
        assert reply.status == 200, reply.body
        answers.append(parsed(accept, reply.body))
    assert all(answer == answers[0] for answer in answers)
    sets = np.asarray(answers[0]).reshape(2, 3, 5)
    np.testing.assert_allclose(sets.sum(axis=2), [[1, 0, 0], [0, 0, 1]], atol=1e-12)


def test_json_names_the_features_and_csv_orders_them_as_trained(tmp_path: Path) -> None:
    features, labels = synthetic(n_classes=3, n_features=4)
    frame = pd.DataFrame(features, columns=list(NAMES))
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(frame, labels)
    skops.io.dump(forest, tmp_path / "model.skops")
    client = InProcessEndpoint(Settings(model_dir=tmp_path))
    rows = features[:2].tolist()
    headers = {"Accept": "application/json", **ASK}
    for content_type, body in bodies(rows, NAMES).values():
        reply = client.request("POST", "/invocations", body, {"Content-Type": content_type, **headers})
        assert reply.status == 200, reply.body
        first = json.loads(reply.body)["predictions"][0]["contributions"]
        assert [list(per_class) for per_class in first] == [[*NAMES, "bias"]] * 3
        np.testing.assert_allclose([sum(per_class.values()) for per_class in first],
                                   forest.predict_proba(frame[:1])[0], atol=1e-12)  # fmt: skip
    as_csv = client.request("POST", "/invocations", bodies(rows)["csv"][1],
                            {"Content-Type": "text/csv", "Accept": "text/csv", **ASK})  # fmt: skip
    fields = as_csv.body.decode().splitlines()[0].split(",")
    assert len(fields) == 1 + 3 * (len(NAMES) + 1)  # predicted_label, then per class: features, bias


def test_xgboost_answers_one_set_per_class_summing_to_the_margins(tmp_path: Path) -> None:
    features, labels = synthetic(n_classes=3, n_features=4)
    matrix = xgboost.DMatrix(features, label=labels, feature_names=list(NAMES))
    booster = xgboost.train({"objective": "multi:softprob", "num_class": 3, "max_depth": 3}, matrix, 10)
    booster.save_model(str(tmp_path / "model.json"))
    client = InProcessEndpoint(Settings.from_env({"SM_MODEL_DIR": str(tmp_path),
                                                 "SAGEMAKER_INFERENCE_OUTPUT": "contributions"}))  # fmt: skip
    reply = client.request("POST", "/invocations", bodies(features[:3].tolist())["csv"][1],
                           {"Content-Type": "text/csv", "Accept": "application/jsonlines"})  # fmt: skip
    assert reply.status == 200, reply.body
    records = [json.loads(line)["contributions"] for line in reply.body.splitlines()]
    assert list(records[0][0]) == [*NAMES, "bias"]
    margins = booster.predict(xgboost.DMatrix(features[:3], feature_names=list(NAMES)), output_margin=True)
    got = [[sum(per_class.values()) for per_class in record] for record in records]
    np.testing.assert_allclose(got, margins, rtol=1e-5, atol=1e-5)


def test_past_the_work_limit_the_request_is_413_before_any_work(tmp_path: Path) -> None:
    env = {"SM_MODEL_DIR": str(DEMO_MODEL), "BYOM_MAX_CONTRIBUTION_ROW_TREES": "3"}
    client = InProcessEndpoint(Settings.from_env(env))
    four = bodies(IRIS_ROWS * 2)["csv"][1]
    refused = client.request("POST", "/invocations", four, {"Content-Type": "text/csv", **ASK})
    assert refused.status == 413
    assert refused.headers["Content-Type"] == "application/json"
    body = json.loads(refused.body)
    assert body["error"] == "explanation_too_large"
    assert "BYOM_MAX_CONTRIBUTION_ROW_TREES" in body["message"]
    three = bodies(IRIS_ROWS[:1] * 3)["csv"][1]
    assert client.request("POST", "/invocations", three, {"Content-Type": "text/csv", **ASK}).status == 200
    plain = client.request("POST", "/invocations", four, {"Content-Type": "text/csv"})
    assert plain.status == 200  # the limit is for contributions only


def test_a_model_without_contributions_says_so_with_400(tmp_path: Path) -> None:
    pipeline(tmp_path)  # scaler + logistic regression: not a tree model
    client = InProcessEndpoint(Settings(model_dir=tmp_path))
    reply = client.request("POST", "/invocations", b"5.1,3.5,1.4,0.2", {"Content-Type": "text/csv", **ASK})
    assert reply.status == 400
    assert "cannot produce contributions" in json.loads(reply.body)["message"]


def test_multi_model_invoke_answers_contributions(tmp_path: Path) -> None:
    root = tmp_path / "models"
    (root / "demo").mkdir(parents=True)
    shutil.copytree(DEMO_MODEL, root / "demo" / "model")
    registry = Registry.private()
    try:
        settings = Settings.from_env({"SAGEMAKER_MULTI_MODEL": "true", "BYOM_MODEL_ROOT": str(root),
                                      "SAGEMAKER_MODEL_SERVER_WORKERS": "1"})  # fmt: skip
        client = Client(create_app(settings, registry=registry))
        loaded = client.post("/models", data=load_body("demo", root / "demo" / "model"),
                             headers={"Content-Type": "application/json"})  # fmt: skip
        assert loaded.status_code == 200, loaded.get_data()
        reply = client.post("/models/demo/invoke", data=bodies(IRIS_ROWS)["csv"][1],
                            headers={**CSV, "Accept": "application/json", **ASK})  # fmt: skip
        assert reply.status_code == 200, reply.get_data()
        record = json.loads(reply.get_data())["predictions"][1]
        assert record["predicted_label"] == "virginica"
        np.testing.assert_allclose(
            [sum(per_class) for per_class in record["contributions"]], [0, 0, 1], atol=1e-12
        )
    finally:
        registry.remove()
