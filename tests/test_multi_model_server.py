"""The multi-model API on real gunicorn with three workers: MODEL_COUNT models loaded, invoked on
every worker and unloaded, at once, while /ping is watched; a worker replaced; memory given back."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
import requests
from werkzeug.test import Client

from container.app import create_app
from container.settings import Settings
from tests.helpers.harness import DEMO_MODEL, ServeProcess, serving
from tests.helpers.load import children, tree_pss_bytes
from tests.helpers.models import ModelCase, large_forest
from tests.helpers.multi_model import CSV, csv_rows, load_body, model_dir

WORKERS = 3
HEALTH_CHECK_SECONDS = 2  # SageMaker's bound on /ping
INVOKES_AFTER_EACH_CHANGE = 12  # each on a new connection: spread over the workers


def serving_many(root: Path, log_dir: Path) -> AbstractContextManager[ServeProcess]:
    env = {
        "SAGEMAKER_MULTI_MODEL": "true",
        "BYOM_MODEL_ROOT": str(root),
        "BYOM_ALLOW_PICKLE": "true",
        "SAGEMAKER_MODEL_SERVER_WORKERS": str(WORKERS),
    }
    return serving(DEMO_MODEL, log_dir, env)


@pytest.fixture
def server(
    multi_model_root: tuple[Path, dict[str, ModelCase | None]], tmp_path: Path
) -> Iterator[ServeProcess]:
    with serving_many(multi_model_root[0], tmp_path) as running:
        yield running


class PingWatch(threading.Thread):
    """GETs /ping every 20 ms on its own connection until stopped; keeps every latency and failure."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.stopped = url, threading.Event()
        self.latencies: list[float] = []
        self.failures: list[str] = []

    def run(self) -> None:
        while not self.stopped.wait(0.02):
            started = time.monotonic()
            try:
                status = requests.get(self.url + "/ping", timeout=HEALTH_CHECK_SECONDS).status_code
            except requests.RequestException as error:
                self.failures.append(repr(error))
                continue
            self.latencies.append(time.monotonic() - started)
            if status != 200:
                self.failures.append(f"status {status}")


def expected_answers(root: Path, cases: dict[str, ModelCase | None]) -> dict[str, bytes]:
    """What the single-model server answers for each model's rows (in process)."""
    answers = {}
    for name, case in cases.items():
        settings = Settings.from_env(
            {"SM_MODEL_DIR": str(model_dir(root, name)), "BYOM_ALLOW_PICKLE": "true"}
        )
        answers[name] = (
            Client(create_app(settings)).post("/invocations", data=csv_rows(case), headers=CSV).get_data()
        )
    return answers


def invoke_everywhere(url: str, name: str, body: bytes) -> list[tuple[int, bytes]]:
    return [
        (reply.status_code, reply.content)
        for reply in (requests.post(f"{url}/models/{name}/invoke", data=body, headers=CSV, timeout=30)
                      for _ in range(INVOKES_AFTER_EACH_CHANGE))
    ]  # fmt: skip


def test_models_load_and_unload_on_every_worker_while_ping_and_other_models_answer(
    server: ServeProcess, multi_model_root: tuple[Path, dict[str, ModelCase | None]]
) -> None:
    root, cases = multi_model_root
    expected = expected_answers(root, cases)
    url = server.url
    assert requests.post(f"{url}/models", data=load_body("demo", model_dir(root, "demo")), timeout=60).ok
    watch = PingWatch(url)
    watch.start()
    others: list[str] = []  # the demo model's invokes while the others load and unload
    stop_invoking = threading.Event()

    def invoke_demo() -> None:
        while not stop_invoking.is_set():
            reply = requests.post(f"{url}/models/demo/invoke", data=csv_rows(None), headers=CSV, timeout=30)
            if (reply.status_code, reply.content) != (200, expected["demo"]):
                others.append(f"{reply.status_code} {reply.content[:100]!r}")

    def load_then_invoke(name: str) -> list[str]:
        reply = requests.post(f"{url}/models", data=load_body(name, model_dir(root, name)), timeout=60)
        if reply.status_code != 200:
            return [f"load {name}: {reply.status_code} {reply.text[:200]}"]
        answers = invoke_everywhere(url, name, csv_rows(cases[name]))
        return [
            f"{name}: {status} {body[:100]!r}"
            for status, body in answers
            if (status, body) != (200, expected[name])
        ]

    def unload_then_invoke(name: str) -> list[str]:
        reply = requests.delete(f"{url}/models/{name}", timeout=60)
        if reply.status_code != 200:
            return [f"unload {name}: {reply.status_code} {reply.text[:200]}"]
        return [f"{name} after unload: {status}" for status, _ in invoke_everywhere(url, name, csv_rows(cases[name]))
                if status != 404]  # fmt: skip

    names = [name for name in cases if name != "demo"]
    invoker = threading.Thread(target=invoke_demo, daemon=True)
    invoker.start()
    try:
        with ThreadPoolExecutor(4) as pool:
            problems = [line for lines in pool.map(load_then_invoke, names) for line in lines]
            assert problems == []
            listed = requests.get(f"{url}/models", timeout=10).json()["models"]
            assert sorted(model["modelName"] for model in listed) == sorted(cases)
            replace_a_worker(server)
            problems = [
                line for lines in pool.map(invoke_again(url, cases, expected), names) for line in lines
            ]
            assert problems == []
            problems = [line for lines in pool.map(unload_then_invoke, names) for line in lines]
            assert problems == []
    finally:
        stop_invoking.set()
        invoker.join()
        watch.stopped.set()
        watch.join()
    assert others == []
    assert watch.failures == [] and len(watch.latencies) > 20
    latencies = sorted(watch.latencies)
    print(f"/ping while {len(names)} models loaded and unloaded: {len(latencies)} pings, "
          f"median {latencies[len(latencies) // 2] * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms")  # fmt: skip
    answered_by = {
        json.loads(line)["pid"] for line in server.log().splitlines() if '"/models/demo/invoke"' in line
    }
    assert len(answered_by) >= WORKERS  # every worker served (the replaced one and its successor too)


def replace_a_worker(server: ServeProcess) -> None:
    """Stop one worker (SIGTERM: it finishes what it accepted, so the pings and invokes running
    meanwhile lose nothing; a SIGKILL would reset whichever it held) and wait for gunicorn's
    replacement to answer (it loads every model first)."""
    workers = children(server.process.pid)
    os.kill(workers[0], signal.SIGTERM)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        now = children(server.process.pid)
        if len(now) == WORKERS and workers[0] not in now and server.log().count("Booting worker") > WORKERS:
            time.sleep(0.5)  # it loads every model before it takes a connection
            return
        time.sleep(0.1)
    pytest.fail(f"no replacement worker:\n{server.log()[-3000:]}")


def invoke_again(
    url: str, cases: dict[str, ModelCase | None], expected: dict[str, bytes]
) -> Callable[[str], list[str]]:
    def invoke(name: str) -> list[str]:
        answers = invoke_everywhere(url, name, csv_rows(cases[name]))
        return [f"{name} after a worker was replaced: {status}" for status, body in answers
                if (status, body) != (200, expected[name])]  # fmt: skip

    return invoke


def test_an_unload_gives_every_workers_memory_back(tmp_path: Path) -> None:
    forest = model_dir(tmp_path / "models", "forest")
    large_forest(forest)
    size = (forest / "model.skops").stat().st_size
    with serving_many(tmp_path / "models", tmp_path) as server:
        before, loaded, unloaded = memory_around_a_load(server, forest)
    mib = 1024 * 1024
    print(f"forest of {size / mib:.1f} MiB, {WORKERS} workers: PSS of all processes {before / mib:.0f} MiB, "
          f"loaded {loaded / mib:.0f} MiB, unloaded {unloaded / mib:.0f} MiB")  # fmt: skip
    assert loaded - before > WORKERS * size  # every worker holds it
    assert unloaded - before < 0.15 * (loaded - before)


def memory_around_a_load(server: ServeProcess, model: Path) -> tuple[int, int, int]:
    """PSS of the master and its workers before the load, once loaded, once unloaded."""
    url = server.url
    before = tree_pss_bytes(server.process.pid)
    assert requests.post(f"{url}/models", data=load_body("forest", model), timeout=120).status_code == 200
    loaded = tree_pss_bytes(server.process.pid)
    assert requests.delete(f"{url}/models/forest", timeout=120).status_code == 200
    unloaded = tree_pss_bytes(server.process.pid)
    return before, loaded, unloaded
