"""What only the built image can show: its label, bind port, models served in it, stopping,
contents, and the compose file. The HTTP contract itself runs against the image in test_contract.

Tests taking `run_as` run twice: as root (what SageMaker does) and as a non-root user on a
read-only root filesystem with a tmpfs on /tmp (`HARDENED`, for self-hosting).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
import requests

from tests.helpers.harness import (
    HARDENED,
    REPO,
    RUN_MODES,
    container,
    free_port,
    share_with_any_user,
    wait_until_ready,
)
from tests.helpers.load import Load, csv_request, exchange, failures, wait_until
from tests.helpers.models import CASES, ModelCase, large_forest
from tests.helpers.multi_model import CSV, csv_rows, load_body
from tests.helpers.multi_model import model_dir as model_dir_of
from tests.helpers.scripts import write_code

pytestmark = pytest.mark.container


@pytest.fixture(params=list(RUN_MODES))
def run_as(request: pytest.FixtureRequest) -> tuple[str, ...]:
    return RUN_MODES[request.param]


def docker(*args: str, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


def test_image_carries_the_bind_to_port_label(image: str) -> None:
    labels = json.loads(docker("inspect", "-f", "{{json .Config.Labels}}", image).stdout)
    assert labels["com.amazonaws.sagemaker.capabilities.accept-bind-to-port"] == "true"
    size = int(docker("inspect", "-f", "{{.Size}}", image).stdout)
    print(f"image size: {size / 1e6:.0f} MB")


def test_sagemaker_bind_to_port_is_honoured(image: str, run_as: tuple[str, ...]) -> None:
    env = {"SAGEMAKER_BIND_TO_PORT": "9090"}
    with container(image, REPO / "model", env, container_port=9090, run_as=run_as) as running:
        assert requests.get(running.url + "/ping", timeout=10).status_code == 200


MODEL_CASES = [
    "xgboost-legacy-binary",
    "xgboost-multi-ubj",
    "xgboost-sklearn-api",
    "sklearn-pipeline",
    "pickle-decision-tree",
]


# Every flavour as root; one of them hardened too (loading does not depend on the user).
@pytest.mark.parametrize(
    ("mode", "name"),
    [
        *(("root", name) for name in MODEL_CASES),
        ("non-root-read-only", "xgboost-multi-ubj"),
    ],
)
def test_models_serve_in_the_image_as_in_their_framework(
    image: str, tmp_path: Path, mode: str, name: str
) -> None:
    run_as = RUN_MODES[mode]
    case = CASES[name](tmp_path)
    env = {"BYOM_ALLOW_PICKLE": "true"} if case.needs_pickle else {}
    body = "\n".join(",".join(repr(float(value)) for value in row) for row in case.rows[:50]).encode()
    with container(image, case.directory, env, run_as=run_as) as running:
        headers = {"Content-Type": "text/csv", "Accept": "application/json"}
        reply = requests.post(running.url + "/invocations", data=body, headers=headers, timeout=60)
    assert reply.status_code == 200, reply.text
    got = np.asarray(reply.json()["predictions"])
    expected = np.asarray(case.native[:50])
    if expected.dtype.kind == "f":
        np.testing.assert_array_equal(got.astype(np.float32), expected.astype(np.float32))
    else:
        assert got.tolist() == expected.tolist()


def test_a_model_that_cannot_load_stops_the_container(
    image: str, model_dir: Path, run_as: tuple[str, ...]
) -> None:
    (model_dir / "model.json").write_text("{}")
    with container(image, model_dir, wait=False, run_as=run_as) as running:
        give_up = time.monotonic() + 60
        while running.running() and time.monotonic() < give_up:
            time.sleep(0.2)
        exit_code = int(docker("inspect", "-f", "{{.State.ExitCode}}", running.name).stdout)
        logs = running.logs()
    assert exit_code != 0 and not running.running()
    assert "byom: cannot serve: model.json is not an XGBoost model" in logs


IMAGE_SCRIPT = """
    import os

    import joblib
    from flowers import FIELDS

    def model_fn(model_dir):
        return joblib.load(os.path.join(model_dir, "model.joblib"))

    def input_fn(body, content_type):
        import json

        return [[record[field] for field in FIELDS] for record in json.loads(body)["records"]]

    def output_fn(prediction, accept):
        return ",".join(map(str, prediction)), "text/plain"
"""


def test_an_inference_script_serves_in_the_image(image: str, tmp_path: Path, run_as: tuple[str, ...]) -> None:
    """As the SageMaker SDK repacks it: code/ inside the model, a vendored package in code/lib/,
    a requirements.txt the image already satisfies; SAGEMAKER_SUBMIT_DIRECTORY as the SDK sets it."""
    import joblib
    from sklearn.tree import DecisionTreeClassifier

    model_dir = tmp_path / "model"
    write_code(
        model_dir,
        IMAGE_SCRIPT,
        {"lib/flowers/__init__.py": "FIELDS = ('a', 'b')\n", "requirements.txt": "scikit-learn\n"},
    )
    joblib.dump(
        DecisionTreeClassifier(random_state=0).fit([[1, 1], [9, 9]], [0, 1]), model_dir / "model.joblib"
    )
    env = {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}
    body = json.dumps({"records": [{"a": 2, "b": 1}, {"a": 8, "b": 9}]})
    with container(image, model_dir, env, run_as=run_as) as running:
        reply = requests.post(
            running.url + "/invocations", data=body, headers={"Content-Type": "application/json"}, timeout=60
        )
    assert (reply.status_code, reply.text, reply.headers["Content-Type"]) == (
        200,
        "0,1",
        "text/plain; charset=utf-8",
    )


def test_a_multi_model_endpoint_serves_in_the_image(
    image: str, run_as: tuple[str, ...], multi_model_root: tuple[Path, dict[str, ModelCase | None]]
) -> None:
    """The image's label, then every model of the root loaded, invoked (answers equal to the
    single-model server's), listed and unloaded, with /opt/ml/models mounted as SageMaker does."""
    labels = json.loads(docker("image", "inspect", "--format", "{{json .Config.Labels}}", image).stdout)
    assert labels["com.amazonaws.sagemaker.capabilities.multi-models"] == "true"
    root, cases = multi_model_root
    expected = {
        name: single_model_answer(model_dir_of(root, name), csv_rows(case)) for name, case in cases.items()
    }
    env = {"SAGEMAKER_MULTI_MODEL": "true", "BYOM_ALLOW_PICKLE": "true"}
    with container(image, root, env, run_as=run_as, mount_at="/opt/ml/models") as running:
        url = running.url
        for name in cases:
            loaded = requests.post(
                f"{url}/models", data=load_body(name, f"/opt/ml/models/{name}/model"), timeout=120
            )
            assert loaded.status_code == 200, (name, loaded.text)
        for name, case in cases.items():
            for _ in range(4):
                reply = requests.post(
                    f"{url}/models/{name}/invoke", data=csv_rows(case), headers=CSV, timeout=60
                )
                assert (reply.status_code, reply.content) == (200, expected[name]), name
        assert len(requests.get(f"{url}/models", timeout=10).json()["models"]) == len(cases)
        outside = requests.post(f"{url}/models", data=load_body("escape", "/opt/ml/model"), timeout=10)
        assert outside.status_code == 400
        for name in cases:
            assert requests.delete(f"{url}/models/{name}", timeout=120).status_code == 200
            assert (
                requests.post(f"{url}/models/{name}/invoke", data=b"1", headers=CSV, timeout=10).status_code
                == 404
            )
        assert requests.get(f"{url}/ping", timeout=10).status_code == 200


def test_the_image_answers_507_for_a_model_its_memory_limit_cannot_hold(image: str, tmp_path: Path) -> None:
    """Under `docker run --memory`: the cgroup's limit, not the host's memory, decides."""
    root = tmp_path / "models"
    large_forest(model_dir_of(root, "forest"))
    shutil.copytree(REPO / "model", model_dir_of(root, "demo"))
    env = {
        "SAGEMAKER_MULTI_MODEL": "true",
        "BYOM_MEMORY_RESERVE_MB": "64",
        "SAGEMAKER_MODEL_SERVER_WORKERS": "5",
    }
    with container(image, root, env, mount_at="/opt/ml/models", docker_args=("--memory", "600m")) as running:
        url = running.url
        refused = requests.post(
            f"{url}/models", data=load_body("forest", "/opt/ml/models/forest/model"), timeout=120
        )
        assert (refused.status_code, refused.json()["error"]) == (507, "insufficient_memory"), refused.text
        print(refused.json()["message"])
        assert requests.get(f"{url}/models", timeout=10).json() == {"models": []}
        small = requests.post(
            f"{url}/models", data=load_body("demo", "/opt/ml/models/demo/model"), timeout=120
        )
        assert small.status_code == 200, small.text
        assert running.running()


def test_the_image_refuses_a_model_directory_its_user_cannot_read(image: str, tmp_path: Path) -> None:
    root = tmp_path / "models"
    for name in ("open", "locked"):
        shutil.copytree(REPO / "model", model_dir_of(root, name))
    share_with_any_user(root)
    model_dir_of(root, "locked").chmod(0o700)  # the host's owner only: not the image's user
    env = {"SAGEMAKER_MULTI_MODEL": "true"}
    with container(image, root, env, mount_at="/opt/ml/models", docker_args=HARDENED) as running:
        url = running.url
        locked = requests.post(
            f"{url}/models", data=load_body("locked", "/opt/ml/models/locked/model"), timeout=60
        )
        assert locked.status_code == 400 and "not readable" in locked.json()["message"], locked.text
        opened = requests.post(
            f"{url}/models", data=load_body("open", "/opt/ml/models/open/model"), timeout=60
        )
        assert opened.status_code == 200, opened.text


def single_model_answer(model_dir: Path, body: bytes) -> bytes:
    from werkzeug.test import Client

    from container.app import create_app
    from container.settings import Settings

    settings = Settings.from_env({"SM_MODEL_DIR": str(model_dir), "BYOM_ALLOW_PICKLE": "true"})
    return bytes(Client(create_app(settings)).post("/invocations", data=body, headers=CSV).get_data())


def test_docker_stop_exits_0(image: str, run_as: tuple[str, ...]) -> None:
    with container(image, REPO / "model", run_as=run_as) as running:
        requests.get(running.url + "/ping", timeout=10)
        assert running.stop(timeout=30) == 0, running.logs()


def test_image_holds_no_compiler_and_no_pip(image: str) -> None:
    found = docker("run", "--rm", "--entrypoint", "sh", image, "-c", "command -v gcc cc g++ pip pip3 || true")
    assert found.stdout.strip() == ""


# Anything on the image's own filesystem (not /proc, /sys) that a release must not carry: test
# suites, version control, package caches and wheels, keys and credentials, data files; then any
# file holding a private key. The public CA certificates are the only *.pem allowed.
FORBIDDEN = r"""find / -xdev \( -type d \( -name tests -o -name test -o -name .git -o -path /root/.cache \) \
  -o -name '*.pem' -o -name '*.key' -o -name 'id_rsa*' -o -name '*.p12' -o -name .netrc \
  -o -name .pypirc -o -name .env -o -name '*.csv' -o -name '*.whl' \) -print
grep -rlE -- '-----BEGIN ([A-Z]+ )?PRIVATE KEY-----' /etc /opt /root /home /usr/local /srv || true"""
CA_CERTIFICATES = ("/etc/ssl/certs/", "/usr/share/ca-certificates/", "/usr/lib/ssl/cert.pem")


def test_image_holds_no_tests_secrets_or_data(image: str) -> None:
    listed = docker("run", "--rm", "--entrypoint", "sh", image, "-c", FORBIDDEN, timeout=300)
    found = [line for line in listed.stdout.splitlines() if not line.startswith(CA_CERTIFICATES)]
    assert listed.returncode == 0, listed.stderr
    assert found == []
    environment = json.loads(docker("inspect", "-f", "{{json .Config.Env}}", image).stdout)
    assert not [item for item in environment if any(word in item.upper() for word in SECRET_WORDS)]


SECRET_WORDS = ("TOKEN", "SECRET", "PASSWORD", "AWS_", "API_KEY")


def test_docker_compose_serves_the_demo_model(image: str) -> None:
    project = f"byomtest{uuid.uuid4().hex[:8]}"
    port = free_port()
    env = {**os.environ, "BYOM_PUBLISH": f"127.0.0.1:{port}", "COMPOSE_PROJECT_NAME": project}
    compose = ["docker-compose", "--file", str(REPO / "docker-compose.yml")]
    try:
        up = subprocess.run(
            [*compose, "up", "-d", "--build"], env=env, capture_output=True, text=True, timeout=900
        )
        assert up.returncode == 0, up.stderr
        url = f"http://127.0.0.1:{port}"
        wait_until_ready(url, lambda: True, lambda: compose_logs(compose, env))
        reply = requests.post(
            url + "/invocations", data=b"5.1,3.5,1.4,0.2", headers={"Content-Type": "text/csv"}, timeout=30
        )
        assert reply.text == "setosa\n"
        assert wait_for_health(f"{project}_serve_1") == "healthy"
    finally:
        subprocess.run([*compose, "down", "--volumes"], env=env, capture_output=True, timeout=120)


def compose_logs(compose: list[str], env: dict[str, str]) -> str:
    return subprocess.run([*compose, "logs"], env=env, capture_output=True, text=True, timeout=60).stdout


def wait_for_health(name: str) -> str:
    give_up = time.monotonic() + 90
    status = ""
    while time.monotonic() < give_up:
        status = docker("inspect", "-f", "{{.State.Health.Status}}", name).stdout.strip()
        if status in ("healthy", "unhealthy"):
            return status
        time.sleep(0.5)
    return status


# Both jobs as root; one hardened too (it writes /opt/ml/model as that user, then serves it).
@pytest.mark.parametrize(
    ("mode", "name"),
    [("root", "decision_tree"), ("root", "xgboost_multi_named"), ("non-root-read-only", "decision_tree")],
)
def test_train_then_serve_in_the_image(image: str, tmp_path: Path, mode: str, name: str) -> None:
    from tests.helpers.training_jobs import JOBS, reference_predictions, run_train

    run_as = RUN_MODES[mode]
    job, rows = JOBS[name](tmp_path / "job")
    result = run_train(job, image=image, run_as=run_as)
    assert result.returncode == 0, result.stdout + result.stderr
    body = "\n".join(",".join(repr(float(v)) for v in row) for row in rows).encode()
    with container(image, job.model, run_as=run_as) as running:
        headers = {"Content-Type": "text/csv", "Accept": "application/json"}
        reply = requests.post(running.url + "/invocations", data=body, headers=headers, timeout=60)
        logs = running.logs()
    exported = "decision-tree-model.skops is served from its export" in logs
    assert exported == (name == "decision_tree"), logs
    served, expected = np.asarray(reply.json()["predictions"]), reference_predictions(job.model, rows)
    if expected.dtype.kind == "f":
        served, expected = served.astype(np.float32), expected.astype(np.float32)
    np.testing.assert_array_equal(served, expected)


def test_export_tree_in_the_image_exports_a_tree_saved_elsewhere(image: str, tmp_path: Path) -> None:
    CASES["sklearn-decision-tree"](tmp_path)  # model.skops, saved with skops, without an export
    done = docker("run", "--rm", "-v", f"{tmp_path}:/opt/ml/model", image, "export-tree")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "byom: wrote /opt/ml/model/model.skops.tree.npz\n"
    with container(image, tmp_path) as running:
        assert "model.skops is served from its export" in running.logs()


def test_a_failing_job_in_the_image_writes_its_failure_file(
    image: str, tmp_path: Path, run_as: tuple[str, ...]
) -> None:
    from tests.helpers.training_jobs import OptMl, run_train

    job = OptMl.create(
        tmp_path, {"algorithm": "decision_tree", "max_depth": "-1"}, {"train": ["a,1,2\nb,3,4\n"]}
    )
    result = run_train(job, image=image, run_as=run_as)
    assert result.returncode == 1
    assert "hyperparameter max_depth='-1'" in job.failure.read_text()


def test_docker_compose_train_profile_trains(image: str, tmp_path: Path) -> None:
    from tests.helpers.training_jobs import JOBS

    job, _ = JOBS["decision_tree"](tmp_path / "opt_ml")
    env = {
        **os.environ,
        "BYOM_OPT_ML": str(job.base),
        "COMPOSE_PROJECT_NAME": f"byomtrain{uuid.uuid4().hex[:8]}",
    }
    compose = ["docker-compose", "--file", str(REPO / "docker-compose.yml"), "--profile", "train"]
    built = subprocess.run([*compose, "build", "train"], env=env, capture_output=True, text=True, timeout=900)
    assert built.returncode == 0, built.stderr
    result = subprocess.run(
        [*compose, "run", "--rm", "train"], env=env, capture_output=True, text=True, timeout=900
    )
    subprocess.run([*compose, "down"], env=env, capture_output=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (job.model / "manifest.json").is_file()


def test_compose_replicas_keep_serving_while_one_dies_and_heals(image: str) -> None:
    """Two replicas behind HAProxy (profile `replicas`): the main process of one is killed under
    load; the other keeps answering, Docker restarts the killed one, and it serves again."""
    project = f"byomreplicas{uuid.uuid4().hex[:8]}"
    port = free_port()
    env = {
        **os.environ,
        "BYOM_IMAGE": image,
        "BYOM_LB_IMAGE": f"byom-lb:{project}",
        "BYOM_LB_PUBLISH": f"127.0.0.1:{port}",
        "COMPOSE_PROJECT_NAME": project,
        "SAGEMAKER_MODEL_SERVER_WORKERS": "2",  # two replicas booting at once on a shared machine
    }
    compose = ["docker-compose", "--file", str(REPO / "docker-compose.yml"), "--profile", "replicas"]
    victim = f"{project}_replica-a_1"
    try:
        built = subprocess.run(
            [*compose, "build", "lb"], env=env, capture_output=True, text=True, timeout=600
        )
        assert built.returncode == 0, built.stderr
        up = subprocess.run(
            [*compose, "up", "-d", "--no-build", "lb", "replica-a", "replica-b"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert up.returncode == 0, up.stderr
        url = f"http://127.0.0.1:{port}"
        wait_until_ready(url, lambda: True, lambda: compose_logs(compose, env))
        both = [victim, f"{project}_replica-b_1"]  # HAProxy sends to each once its checks pass
        assert wait_until(
            lambda: exchange(port, csv_request()).status == 200 and all(map(invocations_served, both))
        )
        with Load(port, 4, csv_request()) as load:
            load.wait_for(50)
            os.kill(int(docker("inspect", "-f", "{{.State.Pid}}", victim).stdout), signal.SIGKILL)
            killed = time.monotonic()
            healed = wait_until(lambda: invocations_served(victim, since_restart=True) > 0, deadline=45)
            healing = time.monotonic() - killed
            load.wait_for(len(load.outcomes) + 50)
            outcomes = load.stop()
        restarts = int(docker("inspect", "-f", "{{.RestartCount}}", victim).stdout)
    finally:
        subprocess.run(
            [*compose, "down", "--volumes", "--rmi", "local"], env=env, capture_output=True, timeout=120
        )
        docker("rmi", f"byom-lb:{project}")
    after_kill = [outcome for outcome in outcomes if outcome.started > killed]
    print(
        f"replicas: {len(outcomes)} requests through HAProxy, {len(failures(outcomes))} failed; "
        f"{len(after_kill)} sent after replica-a was killed; it restarted ({restarts}) and served again "
        f"{healing:.1f} s after the kill: {healed}"
    )
    assert len(failures(outcomes)) <= 4  # at most the 4 clients' requests in flight on the killed replica
    assert len(after_kill) > 50  # the other replica kept answering
    assert restarts >= 1 and healed


def invocations_served(name: str, since_restart: bool = False) -> int:
    since = []
    if since_restart:
        state = json.loads(docker("inspect", "-f", "{{json .}}", name).stdout)
        if state["RestartCount"] < 1:
            return 0
        since = ["--since", state["State"]["StartedAt"]]
    return docker("logs", *since, name).stdout.count('"path":"/invocations","status":200')


def test_docker_stop_under_load_answers_every_connection_made_before_it(image: str) -> None:
    """The load runs inside the container (tests/helpers/load_inside.py), so every connection it makes
    reaches gunicorn's own listening socket; `docker stop` sends the SIGTERM. The stop is timed
    from gunicorn's taking the signal: under this load a busy Docker daemon once took ~40 s to
    deliver it, while the server kept answering."""
    with container(image, REPO / "model") as running:
        client = subprocess.Popen(
            ["docker", "exec", "-i", running.name, "python3", "-", "8080", "6"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert client.stdin is not None and client.stdout is not None
        client.stdin.write((REPO / "tests" / "helpers" / "load_inside.py").read_text())
        client.stdin.close()
        lines = [json.loads(client.stdout.readline()) for _ in range(200)]
        signalled = time.monotonic()
        exit_code = running.stop(timeout=30)
        stopped = time.monotonic() - signalled
        lines += [json.loads(line) for line in client.stdout]
        client.wait(30)
        server_stopped = running.seconds_to_stop()
    connected = {line["id"]: line["connected"] for line in lines if "connected" in line}
    status = {line["id"]: line["status"] for line in lines if "status" in line}
    before = [ident for ident, at in connected.items() if at < signalled]
    lost = [ident for ident in before if status.get(ident) != "200"]
    print(
        f"docker stop under load: {len(before)} connections made before it, {len(lost)} lost; "
        f"{len(connected) - len(before)} after it; exit {exit_code}, {server_stopped:.1f} s after gunicorn "
        f"took the signal ({stopped:.1f} s after `docker stop`)"
    )
    assert lost == []
    assert exit_code == 0 and server_stopped < 25  # SageMaker kills at 30 s


def test_xgboost_single_rows_walk_the_trees_in_c_in_the_image(image: str, tmp_path: Path) -> None:
    """The image carries the compiled tree walk (built in its own stage), and it answers exactly."""
    case = CASES["xgboost-binary-json"](tmp_path)
    with container(image, case.directory) as running:
        answers = [
            requests.post(
                running.url + "/invocations", data=",".join(repr(float(value)) for value in row),
                headers={"Content-Type": "text/csv"}, timeout=30,
            )
            for row in case.rows[:20]
        ]  # fmt: skip
        logs = running.logs()
    assert "the model's 20 trees are walked in C for every dense batch" in logs
    assert [reply.status_code for reply in answers] == [200] * 20
    got = np.asarray([float(reply.text) for reply in answers], dtype=np.float32)
    np.testing.assert_array_equal(got, np.asarray(case.native[:20], dtype=np.float32))


def test_the_image_reads_one_row_bodies_in_c(image: str) -> None:
    """The image carries the C readers (built in the same stage), and they read like float()."""
    numbers = ["5.1", "+.5", "-0", "1e-400", "9007199254740993", "0.30000000000000004"]
    script = (
        "import sys; from container.codecs import _row_reader as r; "
        "csv, json = sys.argv[1].encode(), b'[' + sys.argv[2].encode() + b']'; "
        "print(*memoryview(r.csv_rows(csv)[0]).cast('d'), *memoryview(r.json_row(json)).cast('d'), sep=',')"
    )
    json_numbers = ["5.1", "0.5", "-0", "-0.0", "1e-400", "9007199254740993"]
    done = docker(
        "run",
        "--rm",
        "--entrypoint",
        "python3",
        image,
        "-c",
        script,
        ",".join(numbers),
        ",".join(json_numbers),
    )
    assert done.returncode == 0, done.stderr
    expected = [float(number) for number in numbers] + json.loads("[" + ",".join(json_numbers) + "]")
    assert done.stdout.strip().split(",") == [repr(float(value)) for value in expected]  # -0.0 included


def test_contributions_answer_in_the_image(image: str, tmp_path: Path) -> None:
    """XGBoost's own TreeSHAP in the image, one set per class summing to the margins; the
    scikit-learn TreeSHAP runs there through the contract's `endpoint` (tests/test_contributions_http.py)."""
    case = CASES["xgboost-multi-ubj"](tmp_path)
    body = "\n".join(",".join(repr(float(value)) for value in row) for row in case.rows[:5]).encode()
    headers = {"Content-Type": "text/csv", "Accept": "application/json",
               "X-Amzn-SageMaker-Custom-Attributes": "output=contributions"}  # fmt: skip
    with container(image, case.directory) as running:
        reply = requests.post(running.url + "/invocations", data=body, headers=headers, timeout=60)
    assert reply.status_code == 200, reply.text
    sums = np.asarray([record["contributions"] for record in reply.json()["predictions"]]).sum(axis=2)
    expected = np.log(np.asarray(case.probabilities[:5]))  # softmax of the margins
    np.testing.assert_allclose(sums - sums.mean(axis=1, keepdims=True),
                               expected - expected.mean(axis=1, keepdims=True), atol=1e-4)  # fmt: skip
