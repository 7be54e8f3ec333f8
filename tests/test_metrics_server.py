"""The metrics on real gunicorn: exact counts across workers, also after one was killed and
replaced; their own port, never the serving one; off with BYOM_METRICS_PORT=0; every metric
the Grafana dashboard queries exists in a real scrape (multi-model, so the model loads count)."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from container.metrics.exposition import metrics_directory
from tests.helpers.harness import DEMO_MODEL, free_port, serving
from tests.helpers.metrics import dashboard_queries, names, scrape, value, wait_for
from tests.helpers.multi_model import load_body
from tests.helpers.scripts import model_with_script

CSV = {"Content-Type": "text/csv"}
ROW = b"5.1,3.5,1.4,0.2"
INVOCATIONS_2XX = {"route": "/invocations", "status_class": "2xx", "model": ""}
AFTER_THE_KILL = 400
HELD_UNTIL_RELEASED = """
    import os
    import time

    def predict_fn(data, model):
        while not os.path.exists(os.environ["RELEASE_FILE"]):
            time.sleep(0.05)
        return ["setosa"] * len(data.rows)
"""


def workers_of(master: int) -> set[int]:
    children = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master:
            children.add(int(stat.parent.name))
    return children


def invoke_on_a_new_connection(url: str) -> int:
    return requests.post(url + "/invocations", data=ROW, headers=CSV, timeout=30).status_code


def test_counts_are_exact_across_workers_after_one_was_killed_and_replaced(tmp_path: Path) -> None:
    with serving(DEMO_MODEL, tmp_path, {"SAGEMAKER_MODEL_SERVER_WORKERS": "3"}) as server:
        before = [invoke_on_a_new_connection(server.url) for _ in range(20)]
        workers = wait_until_three(server.process.pid)
        os.kill(min(workers), signal.SIGKILL)
        wait_for(server.metrics_url, lambda samples: value(samples, "byom_worker_restarts_total") == 1)
        wait_until_three(server.process.pid)
        with ThreadPoolExecutor(16) as pool:
            after = list(pool.map(invoke_on_a_new_connection, [server.url] * AFTER_THE_KILL))
        samples = scrape(server.metrics_url)
        served_by = workers_of(server.process.pid)
    assert before + after == [200] * (20 + AFTER_THE_KILL)
    assert len(served_by) == 3 and min(workers) not in served_by
    assert value(samples, "byom_requests_total", **INVOCATIONS_2XX) == 20 + AFTER_THE_KILL
    assert value(samples, "byom_model_latency_seconds_count", model="") == 20 + AFTER_THE_KILL
    assert value(samples, "byom_overhead_latency_seconds_count", model="") == 20 + AFTER_THE_KILL
    assert value(samples, "byom_request_bytes_total", route="/invocations") == len(ROW) * (
        20 + AFTER_THE_KILL
    )
    assert value(samples, "byom_worker_restarts_total") == 1
    assert value(samples, "byom_requests_in_flight") == 0
    assert value(samples, "byom_resident_memory_bytes", process="workers") > 0
    assert not metrics_directory(server.process.pid).exists()  # removed when the server stopped


def test_a_slow_request_is_in_flight_while_it_runs_and_not_after(tmp_path: Path) -> None:
    release = tmp_path / "release"
    model = model_with_script(tmp_path, HELD_UNTIL_RELEASED)
    env = {"SAGEMAKER_PROGRAM": "inference.py", "RELEASE_FILE": str(release)}
    with serving(model, tmp_path, env) as server, ThreadPoolExecutor(1) as pool:
        answered = pool.submit(requests.post, server.url + "/invocations", data=ROW, headers=CSV, timeout=60)
        during = wait_for(server.metrics_url, lambda samples: value(samples, "byom_requests_in_flight") == 1)
        release.touch()
        assert answered.result().status_code == 200
        after = wait_for(server.metrics_url, lambda samples: value(samples, "byom_requests_in_flight") == 0)
    assert value(during, "byom_requests_in_flight") == 1
    assert value(after, "byom_requests_in_flight") == 0


def wait_until_three(master: int) -> set[int]:
    give_up = time.monotonic() + 30
    while len(workers := workers_of(master)) != 3 and time.monotonic() < give_up:
        time.sleep(0.05)
    return workers


def test_metrics_are_on_their_own_port_never_the_serving_one(tmp_path: Path) -> None:
    with serving(DEMO_MODEL, tmp_path) as server:
        on_serving_port = requests.get(server.url + "/metrics", timeout=10)
        scraped = requests.get(server.metrics_url, timeout=10)
    assert on_serving_port.status_code == 404
    assert scraped.status_code == 200
    assert scraped.headers["Content-Type"].startswith("text/plain")


def test_port_0_turns_metrics_off(tmp_path: Path) -> None:
    port = free_port()
    with serving(DEMO_MODEL, tmp_path, {"BYOM_METRICS_PORT": "0"}) as server:
        assert invoke_on_a_new_connection(server.url) == 200
        directory = metrics_directory(server.process.pid)
        try:
            requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
            answered = True
        except requests.ConnectionError:
            answered = False
    assert not directory.exists()
    assert not answered


def test_every_metric_the_dashboard_queries_exists_in_a_real_scrape(
    tmp_path: Path, multi_model_root: tuple[Path, object]
) -> None:
    root, _cases = multi_model_root
    env = {"SAGEMAKER_MULTI_MODEL": "true", "BYOM_MODEL_ROOT": str(root)}
    with serving(DEMO_MODEL, tmp_path, env) as server:
        loaded = requests.post(
            server.url + "/models", data=load_body("demo", root / "demo" / "model"), timeout=60
        )
        invoked = requests.post(server.url + "/models/demo/invoke", data=ROW, headers=CSV, timeout=30)
        # A worker still starting when the load came loads the model as it joins: wait for it.
        samples = wait_for(
            server.metrics_url,
            lambda samples: value(samples, "byom_model_load_seconds_count", model="demo") == 2,
        )
    assert (loaded.status_code, invoked.status_code) == (200, 200), loaded.text
    assert (
        value(samples, "byom_requests_total", route="/models/{name}/invoke", status_class="2xx", model="demo")
        == 1
    )
    assert value(samples, "byom_model_load_seconds_count", model="demo") == 2  # once in each worker
    assert value(samples, "byom_models_loaded") == 1
    scraped = names(samples)
    queried = dashboard_queries()
    missing = {name for name in queried if name not in scraped}
    assert queried and not missing, f"the dashboard queries metrics no scrape has: {sorted(missing)}"
