"""Script mode on real gunicorn through ./serve: a script's model served by every worker, its
failures as JSON, a script that cannot serve stopped at boot in one line, the timeout applying to
hooks as to built-in models, and a code/ folder that does not run saying so."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import pytest
import requests
from sklearn.tree import DecisionTreeClassifier

from tests.helpers.harness import exit_code_of_a_server_that_must_stop, serving, start_serve, wait_until_ready
from tests.helpers.scripts import model_with_script, write_code

pytestmark = pytest.mark.server

CSV = {"Content-Type": "text/csv", "Accept": "application/json"}
SCRIPT = """
    import os
    import time

    import joblib

    def model_fn(model_dir):
        return joblib.load(os.path.join(model_dir, "model.joblib"))

    def predict_fn(data, model):
        if data.rows[0][0] < 0:
            raise RuntimeError("negative lengths are not flowers")
        if data.rows[0][0] > 1000:
            time.sleep(30)
        return model.predict(data.rows)
"""
ENV = {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_MODEL_SERVER_WORKERS": "2"}


@pytest.fixture
def joblib_model(tmp_path: Path) -> Path:
    """A model only the script can load: a joblib pickle, and no BYOM_ALLOW_PICKLE."""
    model_dir = tmp_path / "model"
    write_code(model_dir, SCRIPT)
    joblib.dump(
        DecisionTreeClassifier(random_state=0).fit([[1, 1], [9, 9]], ["small", "large"]),
        model_dir / "model.joblib",
    )
    return model_dir


def test_every_worker_serves_the_scripts_model_and_its_failures_are_json(
    joblib_model: Path, tmp_path: Path
) -> None:
    with serving(joblib_model, tmp_path, ENV) as server, requests.Session() as session:
        answers = {
            session.post(server.url + "/invocations", data=b"2,2\n8,9", headers=CSV, timeout=30).content
            for _ in range(50)
        }
        failed = session.post(server.url + "/invocations", data=b"-1,2", headers=CSV, timeout=30)
        log = server.log()
    assert answers == {b'{"predictions":["small","large"]}'}
    assert (failed.status_code, failed.headers["Content-Type"]) == (500, "application/json")
    assert failed.json() == {
        "error": "inference_script_error",
        "message": "inference.py predict_fn raised RuntimeError: negative lengths are not flowers",
    }
    assert f"serving {joblib_model} (its model_fn) through {joblib_model / 'code' / 'inference.py'}" in log
    assert "Traceback" in log and 'raise RuntimeError("negative lengths are not flowers")' in log


def test_a_hook_past_the_timeout_restarts_its_worker(joblib_model: Path, tmp_path: Path) -> None:
    env = {**ENV, "SAGEMAKER_MODEL_SERVER_WORKERS": "1", "SAGEMAKER_MODEL_SERVER_TIMEOUT": "1"}
    with serving(joblib_model, tmp_path, env) as server:
        with pytest.raises(requests.ConnectionError):
            requests.post(server.url + "/invocations", data=b"5000,1", headers=CSV, timeout=60)
        wait_until_ready(server.url, server.alive, server.log)
        after = requests.post(server.url + "/invocations", data=b"2,2", headers=CSV, timeout=30)
        log = server.log()
    assert after.status_code == 200
    assert "a request ran longer than the 1 s timeout" in log


def test_a_script_that_cannot_import_stops_serve_before_any_worker(tmp_path: Path) -> None:
    model_dir = model_with_script(tmp_path, "import json\nsettings = json.loads('{')\n")
    server = start_serve(model_dir, tmp_path, {**ENV, "SAGEMAKER_MODEL_SERVER_WORKERS": "3"})
    code = exit_code_of_a_server_that_must_stop(server)
    log = server.log()
    assert code == 4, log
    assert log.strip().splitlines()[-1] == (
        f"byom: cannot serve: {model_dir / 'code' / 'inference.py'} failed to import: JSONDecodeError: "
        "Expecting property name enclosed in double quotes: line 1 column 2 (char 1) (line 2)"
    )
    assert "Booting worker" not in log and "Traceback" not in log


def test_a_code_folder_without_sagemaker_program_does_not_run_and_serve_says_so(tmp_path: Path) -> None:
    model_dir = model_with_script(tmp_path, "raise SystemExit('this must not run')\n")
    with serving(model_dir, tmp_path, {"SAGEMAKER_MODEL_SERVER_WORKERS": "1"}) as server:
        reply = requests.post(server.url + "/invocations", data=b"5.1,3.5,1.4,0.2", headers=CSV, timeout=30)
        log = server.log()
    assert json.loads(reply.content) == {"predictions": ["setosa"]}
    assert "inference.py, which does not run: model code runs only when SAGEMAKER_PROGRAM names it" in log
