"""The training contract: `./train` on an /opt/ml tree, then serving what it wrote."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import requests
import xgboost

from container.errors import ModelLoadError
from container.flavours import find_artifact, load_model
from container.flavours.exported_tree import ExportedTree
from container.settings import Settings
from tests.helpers.harness import DEMO_MODEL, REPO, serving
from tests.helpers.inprocess import InProcessEndpoint
from tests.helpers.training_jobs import JOBS, OptMl, iris_job, reference_predictions, run_train, synthetic_job

METRIC_LINE = re.compile(r"^(train|validation)-[a-z0-9@]+: -?\d+\.\d+$")


@pytest.fixture(params=sorted(JOBS), scope="module")
def trained(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, OptMl, np.ndarray, str]:
    job, rows = JOBS[request.param](tmp_path_factory.mktemp(request.param))
    result = run_train(job)
    assert result.returncode == 0, result.stdout + result.stderr
    return request.param, job, rows, result.stdout


def test_training_writes_one_model_and_its_manifest(trained: tuple[str, OptMl, np.ndarray, str]) -> None:
    name, job, rows, _ = trained
    files = sorted(path.name for path in job.model.iterdir())
    artifact = find_artifact(job.model).path.name
    exported = [f"{artifact}.tree.npz"] if name == "decision_tree" else []  # exported_tree
    assert files == sorted([artifact, *exported, "manifest.json"])
    recorded = json.loads((job.model / "manifest.json").read_text())
    assert recorded["n_features"] == rows.shape[1] and len(recorded["golden_rows"]) == 5
    assert set(recorded["library_versions"]) >= {"python", "numpy", "scikit-learn", "xgboost-cpu"}
    assert recorded["metrics"]["train-" + ("rmse" if "regression" in name else "accuracy")] >= 0
    assert not job.failure.exists()


def test_served_predictions_equal_the_library_on_the_artifact(
    trained: tuple[str, OptMl, np.ndarray, str],
) -> None:
    name, job, rows, _ = trained
    endpoint = InProcessEndpoint(Settings(model_dir=job.model))
    body = "\n".join(",".join(repr(float(v)) for v in row) for row in rows).encode()
    reply = endpoint.request(
        "POST", "/invocations", body, {"Content-Type": "text/csv", "Accept": "application/json"}
    )
    assert reply.status == 200, reply.body
    served = np.asarray(reply.json()["predictions"])  # type: ignore[index]
    expected = reference_predictions(job.model, rows)
    if name.startswith("xgboost"):  # XGBoost answers float32; JSON carries its shortest form
        expected = expected.astype(np.float32)
        served = served.astype(np.float32)
    np.testing.assert_array_equal(served, expected)


def test_metrics_are_printed_for_sagemaker_metric_definitions(
    trained: tuple[str, OptMl, np.ndarray, str],
) -> None:
    name, _, _, stdout = trained
    finals = [line for line in stdout.splitlines() if METRIC_LINE.match(line)]
    assert any(line.startswith("train-") for line in finals) and any(
        line.startswith("validation-") for line in finals
    )
    if name.startswith("xgboost"):
        assert re.search(r"^\[0\] train-\S+: \d+\.\d+ .*validation-\S+: \d+\.\d+$", stdout, re.MULTILINE)


def test_class_labels_are_restored_when_serving(tmp_path: Path) -> None:
    job, rows = synthetic_job(
        tmp_path, {"objective": "multi:softprob", "num_round": "5"}, 3, ["low", "mid", "high"]
    )
    assert run_train(job).returncode == 0
    endpoint = InProcessEndpoint(Settings(model_dir=job.model))
    body = ",".join(map(repr, rows[0].tolist())).encode()
    reply = endpoint.request(
        "POST",
        "/invocations",
        body,
        {"Content-Type": "text/csv", "X-Amzn-SageMaker-Custom-Attributes": "output=predicted_label,labels"},
    )
    label, *labels = reply.body.decode().strip().split(",")
    assert labels == ["high", "low", "mid"] and label in labels


def test_early_stopping_keeps_the_best_rounds(tmp_path: Path) -> None:
    job, _ = synthetic_job(
        tmp_path,
        {"objective": "binary:logistic", "num_round": "500", "early_stopping_rounds": "3", "eta": "0.5"},
        2,
    )
    result = run_train(job)
    losses = [
        float(loss)
        for loss in re.findall(r"^\[\d+\] .*validation-logloss: (\S+)$", result.stdout, re.MULTILINE)
    ]
    booster = xgboost.Booster(model_file=str(job.model / "xgboost-model.ubj"))
    assert result.returncode == 0 and len(losses) < 500
    assert booster.num_boosted_rounds() == int(np.argmin(losses)) + 1 < len(losses)


def test_the_same_seed_trains_the_same_model(tmp_path: Path) -> None:
    def fingerprint(base: Path, seed: str) -> object:
        """Validation log loss to full precision: any change in the forest moves it."""
        job, _ = iris_job(
            base, {"algorithm": "random_forest", "n_estimators": "8", "max_features": "0.5", "seed": seed}
        )
        assert run_train(job).returncode == 0
        return json.loads((job.model / "manifest.json").read_text())["metrics"]

    assert fingerprint(tmp_path / "a", "7") == fingerprint(tmp_path / "b", "7")
    assert fingerprint(tmp_path / "a2", "7") != fingerprint(tmp_path / "c", "8")


@pytest.mark.parametrize(
    ("case", "says"),
    [
        ("unknown_hyperparameter", "max_dept"),
        ("bad_value", "hyperparameter max_depth='-1'"),
        ("bad_number", "hyperparameter num_round='ten'"),
        ("n_jobs", "n_jobs"),
        ("missing_channel", "no training data: expected a 'train' channel"),
        ("empty_channel", "channel 'train' has no data"),
        ("header_row", "'sepal_width' is not a number (CSV takes plain decimal numbers: no header row"),
        ("non_numeric_label", "label 'setosa' is not a number; a regression target must be numeric"),
        ("binary_with_three_classes", "binary:logistic needs exactly 2 classes; the train channel has 3"),
        ("early_stopping_without_validation", "early_stopping_rounds needs a validation channel"),
        ("ragged_rows", "file part-0.data, line 2: 2 features where line 1 has 3"),
        ("bad_content_type", "ContentType 'application/x-parquet'"),
        ("invalid_json", "hyperparameters.json is not valid JSON"),
        ("unseen_validation_label", "validation labels never seen in train"),
    ],
)
def test_a_job_that_cannot_train_writes_a_clear_failure(tmp_path: Path, case: str, says: str) -> None:
    job = FAILING[case](tmp_path)
    result = run_train(job)
    assert result.returncode == 1, result.stdout + result.stderr
    reason = job.failure.read_text()
    assert says in reason and len(reason) < 1024
    assert "Traceback" not in result.stderr


IRIS_ROW = "setosa,5.1,3.5,1.4,0.2\nvirginica,6.2,3.4,5.4,2.3\nversicolor,5.9,3.0,4.2,1.5\n"
FAILING: dict[str, Callable[[Path], OptMl]] = {
    "unknown_hyperparameter": lambda base: OptMl.create(
        base, {"algorithm": "decision_tree", "max_dept": "3"}, {"train": [IRIS_ROW]}
    ),
    "bad_value": lambda base: OptMl.create(
        base, {"algorithm": "decision_tree", "max_depth": "-1"}, {"train": [IRIS_ROW]}
    ),
    "bad_number": lambda base: OptMl.create(base, {"num_round": "ten"}, {"train": [IRIS_ROW]}),
    "n_jobs": lambda base: OptMl.create(
        base, {"algorithm": "random_forest", "n_jobs": "4"}, {"train": [IRIS_ROW]}
    ),
    "missing_channel": lambda base: OptMl.create(
        base, {"algorithm": "decision_tree"}, {"validation": [IRIS_ROW]}
    ),
    "empty_channel": lambda base: OptMl.create(base, {"algorithm": "decision_tree"}, {"train": [""]}),
    "header_row": lambda base: OptMl.create(
        base, {"algorithm": "decision_tree"}, {"train": ["species,sepal_width,x,y,z\n" + IRIS_ROW]}
    ),
    "non_numeric_label": lambda base: OptMl.create(base, {}, {"train": [IRIS_ROW]}),
    "binary_with_three_classes": lambda base: OptMl.create(
        base, {"objective": "binary:logistic"}, {"train": [IRIS_ROW]}
    ),
    "early_stopping_without_validation": lambda base: OptMl.create(
        base, {"early_stopping_rounds": "3"}, {"train": ["1,2,3\n2,3,4\n"]}
    ),
    "ragged_rows": lambda base: OptMl.create(
        base, {"algorithm": "decision_tree"}, {"train": ["a,1,2,3\nb,1,2\n"]}
    ),
    "bad_content_type": lambda base: OptMl.create(
        base, {}, {"train": ["1,2\n"]}, {"train": "application/x-parquet"}
    ),
    "invalid_json": lambda base: _broken_hyperparameters(OptMl.create(base, {}, {"train": ["1,2\n"]})),
    "unseen_validation_label": lambda base: OptMl.create(
        base, {"algorithm": "decision_tree"}, {"train": [IRIS_ROW], "validation": ["other,1,2,3,4\n"]}
    ),
}


def _broken_hyperparameters(job: OptMl) -> OptMl:
    (job.base / "input" / "config" / "hyperparameters.json").write_text("{not json")
    return job


def test_sigterm_saves_what_was_trained_and_exits(tmp_path: Path) -> None:
    job, _ = synthetic_job(
        tmp_path, {"objective": "binary:logistic", "num_round": "1000000", "max_depth": "2"}, 2
    )
    env = {"SAGEMAKER_BASE_DIR": str(job.base), "PATH": "/usr/bin:/bin"}
    process = subprocess.Popen(
        [str(REPO / "train")], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        while not process.stdout.readline().startswith("[0]"):
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=120)
        took = time.monotonic() - signalled
    finally:
        process.kill()
    assert code == 143
    assert "stopped by SIGTERM; the model trained so far was saved" in job.failure.read_text()
    assert json.loads((job.model / "manifest.json").read_text())["interrupted"] is True
    assert load_model(Settings(model_dir=job.model)).schema.n_features == 6
    print(f"stopped {took:.2f} s after SIGTERM")


def test_serving_refuses_an_artifact_changed_after_training(tmp_path: Path) -> None:
    job, _ = iris_job(tmp_path, {"algorithm": "decision_tree"})
    assert run_train(job).returncode == 0
    artifact = job.model / "decision-tree-model.skops"
    artifact.write_bytes(artifact.read_bytes() + b"\0")
    with pytest.raises(
        ModelLoadError, match=r"does not match the sha256 in manifest\.json: it changed after training"
    ):
        load_model(Settings(model_dir=job.model))


def test_serving_refuses_a_model_that_no_longer_reproduces_its_golden_rows(tmp_path: Path) -> None:
    job, _ = synthetic_job(tmp_path, {"objective": "binary:logistic", "num_round": "5"}, 2)
    assert run_train(job).returncode == 0
    path = job.model / "manifest.json"
    recorded = json.loads(path.read_text())
    recorded["golden_outputs"]["probabilities"][0] = [0.5, 0.5]  # what skewed libraries would compute
    path.write_text(json.dumps(recorded))
    with pytest.raises(ModelLoadError, match="no longer reproduces its training-time probabilities"):
        load_model(Settings(model_dir=job.model))


def test_a_decision_tree_is_served_from_its_export_and_a_stale_export_is_removed(tmp_path: Path) -> None:
    job, _ = iris_job(tmp_path, {"algorithm": "decision_tree"})
    assert run_train(job).returncode == 0
    assert isinstance(load_model(Settings(model_dir=job.model)), ExportedTree)
    hyperparameters = job.base / "input" / "config" / "hyperparameters.json"
    hyperparameters.write_text(json.dumps({"algorithm": "random_forest", "n_estimators": "3"}))
    assert run_train(job).returncode == 0
    assert sorted(path.name for path in job.model.iterdir()) == ["manifest.json", "random-forest-model.skops"]


def test_a_trained_model_serves_from_real_gunicorn(tmp_path: Path) -> None:
    job, _ = iris_job(tmp_path / "job", {"algorithm": "decision_tree"})
    assert run_train(job).returncode == 0
    with serving(job.model, tmp_path) as server:
        reply = requests.post(
            server.url + "/invocations",
            data=b"6.2,3.4,5.4,2.3",
            headers={"Content-Type": "text/csv"},
            timeout=30,
        )
    assert reply.text == "virginica\n"


def test_the_bundled_demo_model_comes_from_train() -> None:
    recorded = json.loads((DEMO_MODEL / "manifest.json").read_text())
    assert recorded["algorithm"] == "decision_tree" and recorded["classes"] == [
        "setosa",
        "versicolor",
        "virginica",
    ]
    load_model(Settings(model_dir=DEMO_MODEL))  # checksum and golden rows verified
