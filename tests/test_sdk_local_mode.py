"""The SageMaker Python SDK v2 drives the image unchanged in local mode: `Model(image_uri=...,
model_data=..., entry_point="inference.py", source_dir=...)` deploys and predicts, with an
inference.py written as AWS's documentation writes one for its scikit-learn container.

The SDK runs in its own virtualenv (`make .venv-sdk`, from requirements/sdk.lock): its pins conflict
with the dev venv's. The model archive is built here, in the dev venv, whose scikit-learn is the
image's (runtime.lock), so the pickle loads in the container; the driver (tests/helpers/
sdk_local_mode.py) needs only the SDK.
"""

from __future__ import annotations

import json
import tarfile
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from tests.helpers.harness import REPO, free_port
from tests.helpers.sdk_driver import (
    SDK_PYTHON,
    removing_what_local_mode_leaves,
    require_sdk,
    run_in_own_group,
    sdk_environment,
)

pytestmark = pytest.mark.container

DRIVER = REPO / "tests" / "helpers" / "sdk_local_mode.py"
DRIVER_TIMEOUT = 300  # the SDK itself gives the container 120 s to answer /ping

# As AWS's documentation for the scikit-learn container writes one: the hooks, by their names, over
# a joblib model; CSV and JSON in, JSON out.
INFERENCE_PY = """
    import json
    import os
    from io import StringIO

    import joblib
    import numpy as np


    def model_fn(model_dir):
        clf = joblib.load(os.path.join(model_dir, "model.joblib"))
        return clf


    def input_fn(request_body, request_content_type):
        if request_content_type == "text/csv":
            return np.loadtxt(StringIO(request_body), delimiter=",", ndmin=2)
        if request_content_type == "application/json":
            return np.array(json.loads(request_body))
        raise ValueError(f"unsupported content type: {request_content_type}")


    def predict_fn(input_data, model):
        return model.predict(input_data)


    def output_fn(prediction, content_type):
        return json.dumps(prediction.tolist())
"""


def write_model(directory: Path) -> Path:
    """A DecisionTreeClassifier on iris in model.joblib, in a model.tar.gz (AWS's example)."""
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier

    iris = load_iris()
    joblib.dump(
        DecisionTreeClassifier(random_state=0).fit(iris.data, iris.target), directory / "model.joblib"
    )
    archive = directory / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(directory / "model.joblib", arcname="model.joblib")
    (directory / "model.joblib").unlink()
    return archive


def test_the_sdk_deploys_and_predicts_in_local_mode(image: str, tmp_path: Path) -> None:
    require_sdk()
    (tmp_path / "model").mkdir()
    archive = write_model(tmp_path / "model")
    source_dir = tmp_path / "source"
    source_dir.mkdir()
    (source_dir / "inference.py").write_text(textwrap.dedent(INFERENCE_PY))
    (tmp_path / "root").mkdir()
    label = f"sdk-{uuid.uuid4().hex[:12]}"
    result_path = tmp_path / "result.json"
    env = sdk_environment()
    command = [str(SDK_PYTHON), str(DRIVER), image, str(archive), str(source_dir)]
    command += [str(free_port()), label, str(tmp_path / "root"), str(result_path)]
    started = time.monotonic()
    with removing_what_local_mode_leaves(label) as running:
        # delete_endpoint stops the container (SIGTERM to docker-compose up) but removes neither it
        # nor compose's network; after a timeout it may still run.
        run = run_in_own_group(command, env, tmp_path, DRIVER_TIMEOUT)
    print(f"SDK local mode: the driver ran {time.monotonic() - started:.1f} s")
    assert not running, "delete_endpoint left the container running"
    assert run.returncode == 0, run.stdout[-8000:]
    result = json.loads(result_path.read_text())
    print(f"deploy {result['deploy_s']} s, deploy to delete {result['total_s']} s")
    assert result["refused"] == []
    assert result["predictions"] == [0, 2]
    environment = dict(item.split("=", 1) for item in result["container"]["Config"]["Env"])
    print(result["compose_file"])
    assert (environment["SAGEMAKER_PROGRAM"], environment["SAGEMAKER_SUBMIT_DIRECTORY"]) == (
        "inference.py",
        "/opt/ml/code",
    )
    assert not [key for key in environment if key.startswith("AWS_") and key != "AWS_REGION"]
    published = result["container"]["HostConfig"]["PortBindings"]["8080/tcp"]
    assert [binding["HostIp"] for binding in published] == ["127.0.0.1"]
