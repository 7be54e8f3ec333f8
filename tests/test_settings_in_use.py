"""Settings change what the server does: batch transform, payload limit, default outputs."""

from __future__ import annotations

import dataclasses
import json

import pytest

from container.errors import ConfigurationError
from container.settings import Settings
from tests.helpers.harness import DEMO_MODEL
from tests.helpers.inprocess import InProcessEndpoint

ROWS = b"5.1,3.5,1.4,0.2\n6.2,3.4,5.4,2.3\n5.9,3.0,4.2,1.5\n"
DEMO = Settings(model_dir=DEMO_MODEL)


def endpoint(**changes: object) -> InProcessEndpoint:
    return InProcessEndpoint(dataclasses.replace(DEMO, **changes))  # type: ignore[arg-type]


def invoke(target: InProcessEndpoint, body: bytes, **headers: str):  # type: ignore[no-untyped-def]
    sent = {"Content-Type": "text/csv", **{key.replace("_", "-"): value for key, value in headers.items()}}
    return target.request("POST", "/invocations", body, sent)


@pytest.mark.parametrize("accept", ["text/csv", "application/jsonlines", "application/json"])
def test_batch_mode_answers_one_line_per_record(accept: str) -> None:
    reply = invoke(endpoint(batch=True), ROWS, Accept=accept)
    lines = reply.body.decode().splitlines()
    assert reply.status == 200 and len(lines) == 3 and reply.body.endswith(b"\n")
    if accept != "text/csv":
        assert reply.headers["Content-Type"] == "application/jsonlines"
        assert [json.loads(line) for line in lines] == ["setosa", "virginica", "versicolor"]


def test_batch_mode_selected_outputs_stay_one_line_per_record() -> None:
    reply = invoke(
        endpoint(batch=True),
        ROWS,
        Accept="application/json",
        X_Amzn_SageMaker_Custom_Attributes="output=predicted_label,probability",
    )
    records = [json.loads(line) for line in reply.body.decode().splitlines()]
    assert records[1] == {"predicted_label": "virginica", "probability": 1.0} and len(records) == 3


def test_without_batch_mode_json_is_one_document() -> None:
    reply = invoke(endpoint(), ROWS, Accept="application/json")
    assert reply.json() == {"predictions": ["setosa", "virginica", "versicolor"]}


def test_payload_limit_follows_the_setting() -> None:
    one_mib = endpoint(max_payload_mb=1)
    row = b"5.1,3.5,1.4,0.2\n"
    within = row * (1024 * 1024 // len(row))
    assert invoke(one_mib, within).status == 200
    assert invoke(one_mib, within + row).status == 413
    assert one_mib.request("GET", "/execution-parameters").json()["MaxPayloadInMB"] == 1


def test_execution_parameters_come_from_the_settings() -> None:
    target = endpoint(max_concurrent_transforms=7, batch_strategy="SINGLE_RECORD", max_payload_mb=20)
    body = target.request("GET", "/execution-parameters").json()
    assert body == {"MaxConcurrentTransforms": 7, "BatchStrategy": "SINGLE_RECORD", "MaxPayloadInMB": 20}


def test_inference_output_sets_the_default_and_a_request_overrides_it() -> None:
    target = endpoint(inference_output="predicted_label, probability")
    assert invoke(target, ROWS[:16]).body == b"setosa,1.0\n"
    assert (
        invoke(target, ROWS[:16], X_Amzn_SageMaker_Custom_Attributes="output=labels").body
        == b"setosa,versicolor,virginica\n"
    )


def test_default_accept_follows_the_setting() -> None:
    reply = invoke(endpoint(default_accept="application/json"), ROWS[:16])
    assert reply.headers["Content-Type"] == "application/json" and reply.json() == {"predictions": ["setosa"]}


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"inference_output": "predicted_score"}, "SAGEMAKER_INFERENCE_OUTPUT='predicted_score'"),
        ({"inference_output": "bogus"}, "unknown output"),
        ({"default_accept": "text/html"}, "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT='text/html'"),
    ],
)
def test_settings_the_model_cannot_honour_stop_the_start(changes: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigurationError, match=says):
        endpoint(**changes)
