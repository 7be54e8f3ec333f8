"""The multi-model API in process: two apps sharing one registry stand for two gunicorn workers
(tests/test_multi_model_server.py runs it on gunicorn, tests/test_image.py in the image)."""

from __future__ import annotations

import io
import json
import os
import shutil
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from werkzeug.test import Client

from container.app import create_app
from container.multimodel.registry import Registry
from container.settings import Settings
from tests.helpers.harness import Reply
from tests.helpers.models import ModelCase, decision_tree
from tests.helpers.multi_model import CSV, MODEL_COUNT, csv_rows, load_body, model_dir


class Worker:
    """One app, as one gunicorn worker holds it."""

    def __init__(self, settings: Settings, registry: Registry) -> None:
        self.app = create_app(settings, registry=registry)
        self.client = Client(self.app)

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: Mapping[str, str] | None = None
    ) -> Reply:
        response = self.client.open(path, method=method, data=body, headers=dict(headers or {}))
        return Reply(response.status_code, response.headers, response.get_data())

    def load(self, name: str, url: Path | str) -> Reply:
        return self.request("POST", "/models", load_body(name, url), {"Content-Type": "application/json"})

    def invoke(self, name: str, body: bytes, headers: Mapping[str, str] = CSV) -> Reply:
        return self.request("POST", f"/models/{name}/invoke", body, headers)


@pytest.fixture
def root(
    multi_model_root: tuple[Path, dict[str, ModelCase | None]],
) -> tuple[Path, dict[str, ModelCase | None]]:
    return multi_model_root


def settings_for(root: Path, **overrides: str) -> Settings:
    env = {"SAGEMAKER_MULTI_MODEL": "true", "BYOM_MODEL_ROOT": str(root), "BYOM_ALLOW_PICKLE": "true"}
    return Settings.from_env({**env, "SAGEMAKER_MODEL_SERVER_WORKERS": "2", **overrides})


@pytest.fixture
def workers(root: tuple[Path, dict[str, ModelCase | None]]) -> Iterator[tuple[Worker, Worker]]:
    registry = Registry.private()
    settings = settings_for(root[0])
    pair = Worker(settings, registry), Worker(settings, registry)
    yield pair
    registry.remove()


def test_ping_answers_and_the_list_is_empty_with_no_model(workers: tuple[Worker, Worker]) -> None:
    first, _ = workers
    assert first.request("GET", "/ping").status == 200
    assert first.request("GET", "/models").json() == {"models": []}
    refused = first.request("POST", "/invocations", b"1,2", CSV)
    assert refused.status == 404 and b"/models/NAME/invoke" in refused.body


def test_every_model_answers_as_the_single_model_server_does(
    root: tuple[Path, dict[str, ModelCase | None]], workers: tuple[Worker, Worker]
) -> None:
    directory, cases = root
    loader, other = workers
    assert len(cases) >= MODEL_COUNT
    for name in cases:
        reply = loader.load(name, model_dir(directory, name))
        assert reply.status == 200, reply.body
        assert reply.json() == {"modelName": name, "modelUrl": str(model_dir(directory, name))}
    single_settings = Settings.from_env({"BYOM_ALLOW_PICKLE": "true"})
    for name, case in cases.items():
        single = Client(
            create_app(Settings(**{**single_settings.__dict__, "model_dir": model_dir(directory, name)}))
        )
        for headers in (
            CSV,
            {**CSV, "Accept": "application/json"},
            {**CSV, "Accept": "application/jsonlines"},
        ):
            expected = single.post("/invocations", data=csv_rows(case), headers=headers)
            for worker in workers:
                answer = worker.invoke(name, csv_rows(case), headers)
                assert (answer.status, answer.body) == (expected.status_code, expected.get_data()), (
                    name,
                    headers,
                )
    listed = other.request("GET", "/models").json()
    assert [model["modelName"] for model in listed["models"]] == sorted(cases)  # type: ignore[index]


def test_invoke_takes_what_invocations_takes(
    root: tuple[Path, dict[str, ModelCase | None]], workers: tuple[Worker, Worker]
) -> None:
    directory, _ = root
    first, second = workers
    assert first.load("demo", model_dir(directory, "demo")).status == 200
    body = csv_rows(None)
    outputs = {
        **CSV,
        "Accept": "application/json",
        "X-Amzn-SageMaker-Custom-Attributes": "output=probability",
    }
    answer = second.invoke("demo", body, outputs).json()
    assert set(answer["predictions"][0]) == {"probability"}  # type: ignore[index]
    as_json = second.invoke("demo", json.dumps({"instances": [[5.1, 3.5, 1.4, 0.2]]}).encode(),
                            {"Content-Type": "application/json", "Accept": "text/csv"})  # fmt: skip
    assert (as_json.status, as_json.body.strip()) == (200, b"setosa")
    assert second.invoke("demo", body, {**CSV, "Accept": "image/png"}).status == 406
    assert second.invoke("demo", body, {"Content-Type": "image/png"}).status == 415


def test_the_statuses_of_the_contract(
    root: tuple[Path, dict[str, ModelCase | None]], workers: tuple[Worker, Worker]
) -> None:
    directory, _ = root
    first, second = workers
    url = model_dir(directory, "demo")
    assert first.load("demo", url).status == 200
    twice = second.load("demo", url)
    assert (twice.status, twice.json()["error"]) == (409, "conflict")  # type: ignore[index]
    assert second.request("GET", "/models/demo").json() == {"modelName": "demo", "modelUrl": str(url)}
    for method, path in (
        ("GET", "/models/nope"),
        ("DELETE", "/models/nope"),
        ("POST", "/models/nope/invoke"),
    ):
        missing = second.request(method, path, b"1,2,3,4", CSV)
        assert (missing.status, missing.json()["error"]) == (404, "not_found"), path  # type: ignore[index]
    assert second.request("PUT", "/models/demo").headers["Allow"] == "GET, DELETE"
    assert second.request("DELETE", "/models/demo").status == 200
    for worker in workers:
        assert worker.invoke("demo", csv_rows(None)).status == 404
    assert first.load("demo", url).status == 200  # the name is free again


def test_paging_neither_repeats_nor_skips(
    root: tuple[Path, dict[str, ModelCase | None]], workers: tuple[Worker, Worker]
) -> None:
    directory, cases = root
    first, second = workers
    for name in cases:
        assert first.load(name, model_dir(directory, name)).status == 200
    seen: list[str] = []
    token = ""
    while True:
        page = second.request("GET", f"/models?limit=7&next_page_token={token}").json()
        seen += [model["modelName"] for model in page["models"]]  # type: ignore[index]
        if "nextPageToken" not in page:  # type: ignore[operator]
            break
        token = page["nextPageToken"]  # type: ignore[index]
        # the token's own model unloaded between pages changes nothing ahead
        assert first.request("DELETE", f"/models/{token}").status == 200
    assert seen == sorted(cases)
    assert second.request("GET", "/models?limit=0").status == 400


@pytest.mark.parametrize(
    "name, url, says",
    [
        ("../escape", "{root}/demo/model", "not a plain name"),
        ("a/b", "{root}/demo/model", "not a plain name"),
        (".hidden", "{root}/demo/model", "not a plain name"),
        ("", "{root}/demo/model", "not a plain name"),
        ("ok", "{root}/demo/model/../../../..", "outside the model root"),
        ("ok", "/etc", "outside the model root"),
        ("ok", "/proc/self", "outside the model root"),
        ("ok", "/dev/shm", "outside the model root"),
        ("ok", "/sys", "outside the model root"),
        ("ok", "{root}/escape-link", "outside the model root"),
        ("ok", "{root}/demo/model/model.skops", "not a directory"),
        ("ok", "relative/model", "not an absolute path"),
        ("ok", "{root}/missing", "not a directory"),
    ],
)
def test_unsafe_names_and_urls_are_400_and_load_nothing(
    root: tuple[Path, dict[str, ModelCase | None]],
    workers: tuple[Worker, Worker],
    name: str,
    url: str,
    says: str,
) -> None:
    directory, _ = root
    link = directory / "escape-link"
    if not link.exists():
        link.symlink_to("/etc")
    reply = workers[0].load(name, url.format(root=directory))
    assert reply.status == 400 and says in reply.json()["message"], reply.body  # type: ignore[index]
    assert workers[1].request("GET", "/models").json() == {"models": []}


def test_a_url_under_proc_is_refused_even_when_the_root_holds_it(tmp_path: Path) -> None:
    worker = Worker(settings_for(Path("/")), Registry.private())
    for url in ("/proc/self/cwd", "/dev", "/sys/fs"):
        assert worker.load("x", url).status == 400, url


def test_a_model_that_cannot_load_is_400_and_frees_its_name(
    root: tuple[Path, dict[str, ModelCase | None]], tmp_path: Path
) -> None:
    directory, _ = root
    tampered = tmp_path / "models" / "tampered" / "model"
    shutil.copytree(model_dir(directory, "demo"), tampered)
    artifact = next(path for path in tampered.iterdir() if path.suffix == ".skops")
    artifact.write_bytes(artifact.read_bytes() + b"\0")  # a byte more: changed after training
    empty = tmp_path / "models" / "empty" / "model"
    empty.mkdir(parents=True)
    worker = Worker(settings_for(tmp_path / "models"), Registry.private())
    for name, url, says in (
        ("tampered", tampered, "does not match the sha256"),
        ("empty", empty, "no model file"),
    ):
        reply = worker.load(name, url)
        assert (reply.status, reply.json()["error"]) == (400, "model_load_error"), reply.body  # type: ignore[index]
        assert says in reply.json()["message"]  # type: ignore[index]
    assert worker.request("GET", "/models").json() == {"models": []}
    assert worker.request("GET", "/ping").status == 200


def test_a_pickle_needs_the_opt_in_in_every_worker(root: tuple[Path, dict[str, ModelCase | None]]) -> None:
    directory, _ = root
    registry = Registry.private()
    allowing = Worker(settings_for(directory), registry)
    refusing = Worker(settings_for(directory, BYOM_ALLOW_PICKLE="false"), registry)
    url = model_dir(directory, "pickle-decision-tree")
    reply = allowing.load("pickled", url)  # the other worker refuses: the load fails as a whole
    assert reply.status == 400 and "BYOM_ALLOW_PICKLE" in reply.json()["message"], reply.body  # type: ignore[index]
    assert refusing.request("GET", "/models").json() == {"models": []}
    assert allowing.invoke("pickled", b"1,2,3,4").status == 404
    assert refusing.load("pickled", url).status == 400


def test_a_load_that_would_not_fit_is_507_and_loads_nothing(
    root: tuple[Path, dict[str, ModelCase | None]],
) -> None:
    directory, _ = root
    registry = Registry.private()
    huge_reserve = str(10**9)  # MiB: more than any machine has
    tight = Worker(settings_for(directory, BYOM_MEMORY_RESERVE_MB=huge_reserve), registry)
    reply = tight.load("demo", model_dir(directory, "demo"))
    assert (reply.status, reply.json()["error"]) == (507, "insufficient_memory"), reply.body  # type: ignore[index]
    assert "BYOM_MEMORY_RESERVE_MB" in reply.json()["message"]  # type: ignore[index]
    assert tight.request("GET", "/models").json() == {"models": []}
    roomy = Worker(settings_for(directory), registry)
    assert roomy.load("demo", model_dir(directory, "demo")).status == 200  # the name was freed
    assert tight.invoke("demo", csv_rows(None)).status == 200


def test_loads_invokes_and_unloads_at_once_leave_every_worker_agreeing(
    root: tuple[Path, dict[str, ModelCase | None]], workers: tuple[Worker, Worker]
) -> None:
    directory, cases = root
    names = [name for name in cases if name.startswith("tree-") or name.startswith("sklearn")]
    failures: list[str] = []

    def churn(worker: Worker, name: str) -> None:
        for _ in range(3):
            for status, reply in ((200, worker.load(name, model_dir(directory, name))),
                                  (200, worker.invoke(name, csv_rows(cases[name]))),
                                  (200, worker.request("DELETE", f"/models/{name}"))):  # fmt: skip
                if reply.status != status:
                    failures.append(f"{name}: {reply.status} {reply.body[:200]!r}")

    threads = [threading.Thread(target=churn, args=(workers[i % 2], name)) for i, name in enumerate(names)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    registry = workers[0].app.app.models.registry  # type: ignore[attr-defined]
    assert registry.entries() == [] and not list((registry.root / "claims").iterdir())
    for worker in workers:
        assert worker.app.app.models.held == {}  # type: ignore[attr-defined]


def test_the_access_log_names_the_model_and_the_callers_ids(
    root: tuple[Path, dict[str, ModelCase | None]], workers: tuple[Worker, Worker]
) -> None:
    directory, _ = root
    first, _ = workers
    first.load("demo", model_dir(directory, "demo"))
    first.app.stream = io.StringIO()
    headers = {
        **CSV,
        "X-Amzn-SageMaker-Target-Model": "customers/a.tar.gz",
        "X-Amzn-SageMaker-Inference-Id": "r-1",
    }
    assert first.invoke("demo", csv_rows(None), headers).status == 200
    line = json.loads(first.app.stream.getvalue())
    assert (line["model"], line["target_model"], line["inference_id"]) == (
        "demo",
        "customers/a.tar.gz",
        "r-1",
    )
    assert line["path"] == "/models/demo/invoke" and line["pid"] == os.getpid()


def test_each_model_may_carry_its_own_inference_script(tmp_path: Path) -> None:
    models = tmp_path / "models"
    for name in ("scripted", "plain"):
        model_dir(models, name).mkdir(parents=True)
        decision_tree(model_dir(models, name))
    code = model_dir(models, "scripted") / "code"
    code.mkdir()
    (code / "inference.py").write_text(
        "import json\n\ndef input_fn(body, content_type):\n    return [json.loads(body)['measurements']]\n"
    )
    record = b'{"measurements": [5.1, 3.5, 1.4, 0.2]}'
    for program, record_status in (("inference.py", 200), ("", 400)):  # without the consent, code/ never runs
        worker = Worker(settings_for(models, SAGEMAKER_PROGRAM=program), Registry.private())
        for name in ("scripted", "plain"):
            assert worker.load(name, model_dir(models, name)).status == 200
        by_script = worker.invoke("scripted", record, {"Content-Type": "application/json"})
        assert by_script.status == record_status, by_script.body
        assert worker.invoke("plain", b"5.1,3.5,1.4,0.2").status == 200  # no code/: the built-in path
        assert worker.invoke("plain", record, {"Content-Type": "application/json"}).status == 400
