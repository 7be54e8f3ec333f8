"""Script mode in process: an `inference.py` whose hooks replace parts of the request path, the
built-in machinery for the hooks it leaves out, its errors as JSON with the right status, and
every problem with the script found before anything is served."""

from __future__ import annotations

import json
import logging
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from container.app import create_app
from container.errors import StartupError
from container.settings import Settings
from tests.helpers.harness import DEMO_MODEL
from tests.helpers.inprocess import InProcessEndpoint
from tests.helpers.scripts import model_with_script, write_code

CSV = {"Content-Type": "text/csv", "Accept": "application/json"}
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.2, 3.4, 5.4, 2.3]]
RECORDS_INPUT_FN = """
    import json

    FIELDS = ("sepal_length", "sepal_width", "petal_length", "petal_width")

    def input_fn(body, content_type):
        records = json.loads(body)["records"]
        return [[record[field] for field in FIELDS] for record in records]
"""


@pytest.fixture(autouse=True)
def fresh_imports() -> Iterator[None]:
    """A server imports its script once; here each test imports its own under the same name."""
    path, modules = list(sys.path), set(sys.modules)
    yield
    sys.path[:] = path
    for name in set(sys.modules) - modules:
        del sys.modules[name]


def script_settings(model_dir: Path, **settings: object) -> Settings:
    return Settings(**{"model_dir": model_dir, "program": "inference.py", **settings})  # type: ignore[arg-type]


def endpoint(model_dir: Path, **settings: object) -> InProcessEndpoint:
    return InProcessEndpoint(script_settings(model_dir, **settings))


def refusal(model_dir: Path, **settings: object) -> str:
    with pytest.raises(StartupError) as raised:
        create_app(script_settings(model_dir, **settings))
    return raised.value.message


@pytest.fixture
def builtin() -> InProcessEndpoint:
    return InProcessEndpoint(Settings(model_dir=DEMO_MODEL))


def test_an_input_fn_alone_keeps_the_built_in_model_outputs_and_encoders(
    tmp_path: Path, builtin: InProcessEndpoint
) -> None:
    app = endpoint(model_with_script(tmp_path, RECORDS_INPUT_FN))
    fields = ("sepal_length", "sepal_width", "petal_length", "petal_width")
    records = json.dumps({"records": [dict(zip(fields, row, strict=True)) for row in ROWS]}).encode()
    csv_rows = "\n".join(",".join(map(str, row)) for row in ROWS).encode()
    for accept, output in [
        ("application/json", None),
        ("text/csv", "probabilities"),
        ("application/json", "labels"),
    ]:
        headers = {
            "Accept": accept,
            **({"X-Amzn-SageMaker-Custom-Attributes": f"output={output}"} if output else {}),
        }
        ours = app.request(
            "POST", "/invocations", records, {"Content-Type": "application/vnd.records+json", **headers}
        )
        theirs = builtin.request("POST", "/invocations", csv_rows, {"Content-Type": "text/csv", **headers})
        assert (ours.status, ours.body, ours.headers["Content-Type"]) == (
            theirs.status,
            theirs.body,
            theirs.headers["Content-Type"],
        )
    assert theirs.body == b'{"predictions":[{"labels":["setosa","versicolor","virginica"]},' \
        b'{"labels":["setosa","versicolor","virginica"]}]}'  # fmt: skip


def test_built_in_refusals_still_come_from_the_headers(tmp_path: Path) -> None:
    app = endpoint(model_with_script(tmp_path, RECORDS_INPUT_FN))
    not_acceptable = app.request("POST", "/invocations", b"{", {"Content-Type": "x/y", "Accept": "image/png"})
    assert not_acceptable.status == 406  # the built-in encoder answers: its Accept is checked first
    unknown = app.request(
        "POST",
        "/invocations",
        b"{",
        {"Content-Type": "x/y", "X-Amzn-SageMaker-Custom-Attributes": "output=nope"},
    )
    assert unknown.status == 400 and json.loads(unknown.body)["error"] == "unsupported_output"
    rows_of_words = app.request(
        "POST", "/invocations", b'{"records": [{"sepal_length": "x"}]}', {"Content-Type": "x/y"}
    )
    assert rows_of_words.status == 500  # the hook's own KeyError: its bug, said as such
    assert json.loads(rows_of_words.body) == {
        "error": "inference_script_error",
        "message": "inference.py input_fn raised KeyError: 'sepal_width'",
    }


AWS_STYLE = """
    import os
    import joblib
    import numpy as np

    def model_fn(model_dir):
        return joblib.load(os.path.join(model_dir, "model.joblib"))

    def input_fn(request_body, request_content_type):
        assert isinstance(request_body, str), type(request_body)
        return np.array([[float(v) for v in line.split(",")] for line in request_body.splitlines()])

    def predict_fn(input_data, model):
        return model.predict_proba(input_data)

    def output_fn(prediction, content_type):
        return {"probabilities": prediction.tolist()}.__repr__(), "text/plain"
"""


def test_a_script_written_for_aws_containers_loads_its_own_model_and_answers_its_own_way(
    tmp_path: Path,
) -> None:
    import joblib
    from sklearn.tree import DecisionTreeClassifier

    model_dir = tmp_path / "model"
    write_code(model_dir, AWS_STYLE)
    tree = DecisionTreeClassifier(random_state=0).fit(ROWS, [0, 1])
    joblib.dump(tree, model_dir / "model.joblib")  # a pickle: the script's model_fn is the consent
    reply = endpoint(model_dir).request("POST", "/invocations", b"5.1,3.5,1.4,0.2\n6.2,3.4,5.4,2.3", CSV)
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert reply.body == b"{'probabilities': [[1.0, 0.0], [0.0, 1.0]]}"


def test_a_model_fn_model_without_predict_fn_is_predicted_by_its_own_predict(tmp_path: Path) -> None:
    model_dir = model_with_script(
        tmp_path,
        """
        class Doubler:
            def predict(self, rows):
                return rows.sum(axis=1) * 2

        def model_fn(model_dir):
            return Doubler()
        """,
    )
    reply = endpoint(model_dir).request("POST", "/invocations", b"1,2,3,4\n0,0,0,1", CSV)
    assert (reply.status, reply.body) == (200, b'{"predictions":[20.0,2.0]}')
    as_csv = endpoint(model_dir).request("POST", "/invocations", b"1,2,3,4", {"Content-Type": "text/csv"})
    assert as_csv.body == b"20.0\n"


def test_transform_fn_answers_with_its_own_content_type_and_gets_bytes_for_other_types(
    tmp_path: Path,
) -> None:
    model_dir = model_with_script(
        tmp_path,
        """
        def transform_fn(model, body, content_type, accept):
            kind = type(body).__name__
            return f"{kind} {content_type} {accept} {len(body)}", "application/x-report"
        """,
    )
    app = endpoint(model_dir)
    binary = app.request("POST", "/invocations", b"\x00\x01", {"Content-Type": "application/octet-stream"})
    assert (binary.status, binary.headers["Content-Type"]) == (200, "application/x-report")
    assert binary.body == b"bytes application/octet-stream text/csv 2"  # Accept missing: the default type
    text = app.request("POST", "/invocations", b"1,2", {"Content-Type": "text/csv", "Accept": "*/*"})
    assert text.body == b"str text/csv text/csv 3"
    broken = app.request("POST", "/invocations", b"\xff", {"Content-Type": "application/json"})
    assert broken.status == 400 and "not valid UTF-8" in json.loads(broken.body)["message"]


def test_hooks_that_take_a_context_get_the_request(tmp_path: Path) -> None:
    model_dir = model_with_script(
        tmp_path,
        """
        def transform_fn(model, body, content_type, accept, context):
            return f"{context.custom_attributes} {context.model_dir.endswith('model')} {context.accept}"
        """,
    )
    headers = {
        "Content-Type": "text/csv",
        "Accept": "text/plain",
        "X-Amzn-SageMaker-Custom-Attributes": "trace=7",
    }
    reply = endpoint(model_dir).request("POST", "/invocations", b"1", headers)
    assert (reply.body, reply.headers["Content-Type"]) == (
        b"trace=7 True text/plain",
        "text/plain; charset=utf-8",
    )


@pytest.mark.parametrize(
    ("raised", "status", "error"),
    [
        ("StatusError(422, 'sepal_length must be positive')", 422, "unprocessable_entity"),
        ("StatusError(404, 'no such customer')", 404, "not_found"),
        ("StatusError(503, 'busy')", 500, "inference_script_error"),  # a 5xx is not the client's
        ("ValueError('the model is confused')", 500, "inference_script_error"),
    ],
)
def test_a_hook_answers_its_own_4xx_and_any_other_failure_is_a_json_500(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, raised: str, status: int, error: str
) -> None:
    model_dir = model_with_script(
        tmp_path,
        f"""
        class StatusError(Exception):  # like sagemaker_inference's errors: a status_code attribute
            def __init__(self, status_code, message):
                super().__init__(message)
                self.status_code = status_code

        def predict_fn(data, model):
            raise {raised}
        """,
    )
    with caplog.at_level(logging.ERROR, logger="byom"):
        reply = endpoint(model_dir).request("POST", "/invocations", b"1,2,3,4", CSV)
    body = json.loads(reply.body)
    assert (reply.status, body["error"]) == (status, error)
    assert reply.headers["Content-Type"] == "application/json"
    assert "Traceback" not in body["message"] and str(tmp_path) not in body["message"]
    logged = "\n".join(record.getMessage() + str(record.exc_info) for record in caplog.records)
    assert ("predict_fn raised" in logged) == (status == 500), logged


def test_an_answer_that_is_not_bytes_or_text_is_a_clear_500(tmp_path: Path) -> None:
    model_dir = model_with_script(tmp_path, "def output_fn(prediction, accept):\n    return {'p': 1}\n")
    reply = endpoint(model_dir).request("POST", "/invocations", b"1,2,3,4", CSV)
    assert reply.status == 500
    assert json.loads(reply.body)["message"] == (
        "inference.py output_fn returned a dict; return bytes or str, or (body, content_type)"
    )


def test_vendored_packages_in_code_lib_are_importable(tmp_path: Path) -> None:
    model_dir = model_with_script(
        tmp_path,
        """
        from vendored_helper import TWICE

        def output_fn(prediction, accept):
            return TWICE(str(prediction.columns[0][1].tolist()))
        """,
        {"lib/vendored_helper/__init__.py": "def TWICE(text):\n    return text * 2\n"},
    )
    reply = endpoint(model_dir).request("POST", "/invocations", b"5.1,3.5,1.4,0.2", CSV)
    assert reply.body == b"['setosa']['setosa']"


@pytest.mark.parametrize(
    ("source", "files", "says"),
    [
        ("x = 1 / 0\n", {}, "inference.py failed to import: ZeroDivisionError: division by zero (line 1)"),
        ("def input_fn(:\n", {}, "inference.py failed to import: SyntaxError: invalid syntax"),
        (
            "import not_installed_anywhere\n",
            {},
            "ModuleNotFoundError: No module named 'not_installed_anywhere'",
        ),
        ("X = 1\n", {}, "defines none of model_fn, input_fn, predict_fn, output_fn, transform_fn"),
        (
            "def transform_fn(m, b, c, a):\n    pass\ndef input_fn(b, c):\n    pass\n",
            {},
            "defines transform_fn and input_fn: transform_fn replaces input_fn, predict_fn and output_fn",
        ),
        (
            "def input_fn(body):\n    pass\n",
            {},
            "input_fn takes 1 parameter; it is called as input_fn(body, content_type[, context])",
        ),
        ("def model_fn(model_dir):\n    return None\n", {}, "inference.py model_fn returned None"),
        (
            "def model_fn(model_dir):\n    raise OSError('no weights')\n",
            {},
            "inference.py model_fn raised OSError: no weights",
        ),
        (
            "def input_fn(b, c):\n    pass\n",
            {"requirements.txt": "numpy>=1\nnot-a-real-package==1.0  # pinned\nscipy<1\n"},
            "needs not-a-real-package==1.0 (not installed); scipy<1 (1.17.1 is installed), and this image installs "
            "nothing at start",
        ),
        (
            "def input_fn(b, c):\n    pass\n",
            {"requirements.txt": "--index-url https://x\n"},
            "--index-url is a pip option",
        ),
    ],
)
def test_a_script_that_cannot_serve_is_refused_at_start_with_one_line(
    tmp_path: Path, source: str, files: dict[str, str], says: str
) -> None:
    message = refusal(model_with_script(tmp_path, source, files))
    assert says in message and "\n" not in message, message


def test_a_requirements_file_already_satisfied_is_fine(tmp_path: Path) -> None:
    model_dir = model_with_script(
        tmp_path, RECORDS_INPUT_FN, {"requirements.txt": "# pinned\nnumpy>=1.20\nscikit-learn\n"}
    )
    endpoint(model_dir)


def test_where_the_script_is_looked_for(tmp_path: Path) -> None:
    model_dir = model_with_script(tmp_path, RECORDS_INPUT_FN)
    elsewhere = tmp_path / "src"
    shutil.move(model_dir / "code", elsewhere)
    assert "SAGEMAKER_PROGRAM=inference.py: no such file in" in refusal(
        model_dir, base_dir=tmp_path / "opt_ml"
    )
    endpoint(model_dir, submit_directory=f"file://{elsewhere}")  # as local mode passes it
    endpoint(model_dir, base_dir=tmp_path / "opt_ml", submit_directory=str(elsewhere))
    assert "downloads nothing" in refusal(model_dir, submit_directory="s3://bucket/sourcedir.tar.gz")
    assert "expected a Python file name" in refusal(model_dir, program="../inference.py")


def test_without_sagemaker_program_a_code_folder_never_runs(tmp_path: Path) -> None:
    from container.script.locate import unconsented

    model_dir = model_with_script(tmp_path, "raise SystemExit('ran')\n")
    settings = Settings(model_dir=model_dir)
    reply = InProcessEndpoint(settings).request("POST", "/invocations", b"5.1,3.5,1.4,0.2", CSV)
    assert reply.body == b'{"predictions":["setosa"]}'
    assert unconsented(settings) == (
        f"{model_dir / 'code'} holds inference.py, which does not run: model code runs only when "
        "SAGEMAKER_PROGRAM names it (e.g. SAGEMAKER_PROGRAM=inference.py)"
    )


def test_a_script_named_like_an_imported_module_is_refused(tmp_path: Path) -> None:
    model_dir = model_with_script(tmp_path, RECORDS_INPUT_FN)
    (model_dir / "code" / "inference.py").rename(model_dir / "code" / "json.py")
    assert "a module named json is already imported" in refusal(model_dir, program="json.py")


def test_the_payload_limit_holds_before_a_hook_sees_the_body(tmp_path: Path) -> None:
    model_dir = model_with_script(
        tmp_path, "def transform_fn(model, body, content_type, accept):\n    return 'read'\n"
    )
    reply = endpoint(model_dir, max_payload_mb=1).request(
        "POST", "/invocations", b"1" * (1024 * 1024 + 1), CSV
    )
    assert (reply.status, json.loads(reply.body)["error"]) == (413, "payload_too_large")


def test_a_prediction_that_is_not_rows_is_answered_as_json_only(tmp_path: Path) -> None:
    model_dir = model_with_script(
        tmp_path, "def predict_fn(data, model):\n    return {'score': 0.5, 'rows': 1}\n"
    )
    app = endpoint(model_dir)
    as_json = app.request("POST", "/invocations", b"1,2,3,4", CSV)
    assert (as_json.status, as_json.body) == (200, b'{"predictions":{"score":0.5,"rows":1}}')
    as_lines = app.request("POST", "/invocations", b"1,2,3,4", {**CSV, "Accept": "application/jsonlines"})
    assert as_lines.body == b'{"score":0.5,"rows":1}\n'
    as_csv = app.request("POST", "/invocations", b"1,2,3,4", {**CSV, "Accept": "text/csv"})
    assert as_csv.status == 406 and "answered as JSON only" in json.loads(as_csv.body)["message"]
