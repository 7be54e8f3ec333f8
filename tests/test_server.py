"""The process model, against a real `./serve` (gunicorn) on 127.0.0.1.

Durations are compared as ratios within one run (the machine is noisy), never to fixed seconds.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import threading
import time
from functools import partial
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import requests

from container.server.read_ahead import SMALL_REQUEST
from container.settings import usable_cpu_count
from tests.helpers.harness import (
    REPO,
    exit_code_of_a_server_that_must_stop,
    serving,
    start_serve,
    wait_until_ready,
)
from tests.helpers.metrics import value, wait_for
from tests.helpers.models import CASES, large_forest, slow_xgboost

H1C_INSTALLED = importlib.util.find_spec("gunicorn_h1c") is not None

CSV = {"Content-Type": "text/csv"}


@pytest.fixture(scope="module")
def slow_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    directory = tmp_path_factory.mktemp("slow-model")
    return directory, slow_xgboost(directory)


class Timed:
    """A request sent on its own thread, remembering when it started and ended."""

    def __init__(self, url: str, body: bytes) -> None:
        self.started = time.monotonic()
        self.ended = 0.0
        self.status: int | str = "pending"
        self.thread = threading.Thread(target=self._send, args=(url, body), daemon=True)
        self.thread.start()

    def _send(self, url: str, body: bytes) -> None:
        try:
            self.status = requests.post(url + "/invocations", data=body, headers=CSV, timeout=120).status_code
        except requests.RequestException as error:
            self.status = type(error).__name__
        self.ended = time.monotonic()

    def join(self) -> Timed:
        self.thread.join(150)
        return self


def ping(url: str) -> tuple[float, float]:
    started = time.monotonic()
    assert requests.get(url + "/ping", timeout=120).status_code == 200
    return started, time.monotonic()


def pings_while(url: str, busy: list[Timed]) -> list[tuple[float, float]]:
    answered = []
    while any(request.ended == 0.0 for request in busy):
        answered.append(ping(url))
    return answered


def test_ping_answers_while_the_only_worker_predicts(slow_model: tuple[Path, bytes], tmp_path: Path) -> None:
    model_dir, body = slow_model
    env = {"SAGEMAKER_MODEL_SERVER_WORKERS": "1", "BYOM_WORKER_THREADS": "4"}
    with serving(model_dir, tmp_path, env) as server:
        busy = [Timed(server.url, body) for _ in range(2)]
        answered = pings_while(server.url, busy)
        shortest = min(request.join().ended - request.started for request in busy)
    assert [request.status for request in busy] == [200, 200]
    during = [(start, end) for start, end in answered if end < min(request.ended for request in busy)]
    assert len(during) >= 3, f"only {len(during)} pings answered while both predictions ran"
    slowest_ping = max(end - start for start, end in during)
    print(f"slowest /ping while busy: {slowest_ping * 1000:.1f} ms; prediction took {shortest:.2f} s")
    assert slowest_ping < 0.1 * shortest


def test_with_one_thread_busy_predicting_ping_is_answered_by_the_event_loop(
    slow_model: tuple[Path, bytes], tmp_path: Path
) -> None:
    """The one pool thread predicts; /ping, answered by the event loop itself (container.server.inline),
    does not queue behind it."""
    model_dir, body = slow_model
    env = {"SAGEMAKER_MODEL_SERVER_WORKERS": "1", "BYOM_WORKER_THREADS": "1"}
    with serving(model_dir, tmp_path, env) as server:
        busy = send_and_wait_until_predicting(server.url, server.log_path, body)
        started, answered = ping(server.url)
        busy.join()
    assert busy.status == 200
    assert answered < busy.ended and answered - started < 0.1 * (busy.ended - busy.started)


def test_small_quick_requests_are_answered_by_the_event_loop_itself(tmp_path: Path) -> None:
    """container.server.inline: once a small request was seen to be quick, the worker's main thread
    answers the small ones without handing them to its pool."""
    env = {"SAGEMAKER_MODEL_SERVER_WORKERS": "1"}
    with serving(REPO / "model", tmp_path, env) as server, requests.Session() as session:
        post = partial(session.post, server.url + "/invocations", data=b"5.1,3.5,1.4,0.2", headers=CSV)
        post(timeout=30)  # a pool thread answers the first, and it was quick
        (pid,) = worker_pids(server.log_path)
        before = main_and_pool_cpu(pid)
        for _ in range(2000):
            assert post(timeout=30).status_code == 200
        after = main_and_pool_cpu(pid)
    main, pool = after[0] - before[0], after[1] - before[1]
    # Handed over, the pool does ~3/4 of the work. Here it does none, unless one request took over
    # QUICK_SECONDS of CPU (a busy machine) and the next went to the pool for a pause. 2,000
    # requests take 0.28-0.35 s of the main thread's CPU here: 0.1 s only proves it did them.
    assert main > 0.1 and pool < main / 2, (main, pool)


def test_slow_small_requests_hold_the_event_loop_twice_then_go_to_the_threads(
    slow_model: tuple[Path, bytes], tmp_path: Path
) -> None:
    """container.server.inline: the first slow one is timed by the wall clock, which makes the second
    CPU-timed; that one starts the pause, and the next ones go to the pool."""
    model_dir, body = slow_model
    lines = body.split(b"\n")
    small = b"\n".join(lines[: (SMALL_REQUEST - 2048) // (len(lines[0]) + 1)])  # ~0.1 s of CPU
    # One worker per core, so XGBoost predicts on the calling thread only (no OpenMP threads).
    env = {"SAGEMAKER_MODEL_SERVER_WORKERS": str(usable_cpu_count())}
    with serving(model_dir, tmp_path, env) as server, requests.Session() as session:
        post = partial(session.post, server.url + "/invocations", headers=CSV, timeout=60)
        # A small request refused at once (422) is quick, whatever the model's speed on this machine.
        assert post(data=b"not,a,number").status_code == 422
        pid = access_records(server.log())[-1]["pid"]  # the worker holding the session's connection
        readings = [main_and_pool_cpu(pid)]
        for _ in range(5):
            assert post(data=small).status_code == 200
            readings.append(main_and_pool_cpu(pid))
    spent = [(main - main0, pool - pool0) for (main0, pool0), (main, pool) in pairwise(readings)]
    for main, pool in spent[:2]:
        assert main >= 0.02 and pool < main / 3, spent  # the first two, on the event loop
    later_main, later_pool = sum(main for main, _ in spent[2:]), sum(pool for _, pool in spent[2:])
    assert later_main < later_pool / 3, spent  # the second paused that: the others, on the pool


def main_and_pool_cpu(pid: int) -> tuple[float, float]:
    """CPU seconds of a worker's main thread (its event loop) and of all its other threads."""
    threads = {
        int(task.name): cpu_seconds(pid, int(task.name)) for task in Path(f"/proc/{pid}/task").iterdir()
    }
    main = threads.pop(pid)
    return main, sum(threads.values())


def send_and_wait_until_predicting(url: str, log_path: Path, body: bytes) -> Timed:
    """Send `body`; return once the workers' CPU time has climbed: the prediction is running."""
    baseline = workers_cpu_seconds(log_path)
    request = Timed(url, body)
    give_up = time.monotonic() + 30
    while time.monotonic() < give_up and request.ended == 0.0:
        if workers_cpu_seconds(log_path) > baseline + 0.3:
            return request
        time.sleep(0.05)
    raise AssertionError("the request never started predicting")


def workers_cpu_seconds(log_path: Path) -> float:
    return sum(cpu_seconds(pid) for pid in worker_pids(log_path))


def worker_pids(log_path: Path) -> list[int]:
    return [int(pid) for pid in re.findall(r"Booting worker with pid: (\d+)", log_path.read_text())]


def cpu_seconds(pid: int, thread: int | None = None) -> float:
    """Of a process, or of one of its threads."""
    path = Path(f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat")
    try:
        fields = path.read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks


def test_sigterm_finishes_in_flight_requests_then_exits_0(
    slow_model: tuple[Path, bytes], tmp_path: Path
) -> None:
    model_dir, body = slow_model
    server = start_serve(model_dir, tmp_path, {"SAGEMAKER_MODEL_SERVER_WORKERS": "1"})
    try:
        wait_until_ready(server.url, server.alive, server.log)
        busy = send_and_wait_until_predicting(server.url, server.log_path, body)
        signalled = time.monotonic()
        exit_code = server.stop(signal.SIGTERM, timeout=60)
        stopped = time.monotonic() - signalled
    finally:
        server.stop(signal.SIGKILL)
    busy.join()
    assert busy.status == 200, server.log()
    assert exit_code == 0, server.log()
    assert stopped < 2 * (busy.ended - busy.started), "drained, but took far longer than the request"


def exited_workers(log_path: Path) -> list[int]:
    return [int(pid) for pid in re.findall(r"Worker exiting \(pid: (\d+)\)", log_path.read_text())]


@pytest.mark.parametrize("stop", ["sigterm_to_one_worker", "hup_reload"])
def test_a_worker_stopping_alone_leaves_the_server_accepting_connections(stop: str, tmp_path: Path) -> None:
    """The lossless stop's filter is shared by every process holding the listener: set by a worker
    stopping alone, it once left the server answering no new connection, /ping included."""
    with serving(REPO / "model", tmp_path) as server:
        first = worker_pids(server.log_path)
        if stop == "hup_reload":
            server.process.send_signal(signal.SIGHUP)  # gunicorn: new workers, the old ones stopped
        else:
            os.kill(first[0], signal.SIGTERM)
        stopped = first if stop == "hup_reload" else first[:1]
        give_up = time.monotonic() + 60
        while not set(stopped) <= set(exited_workers(server.log_path)) and time.monotonic() < give_up:
            time.sleep(0.1)
        assert set(stopped) <= set(exited_workers(server.log_path)), server.log()
        wait_until_ready(server.url, server.alive, server.log, deadline=60)
        for _ in range(10):  # a new connection each time
            assert requests.get(server.url + "/ping", timeout=5).status_code == 200


def test_a_request_past_the_timeout_restarts_its_worker(
    slow_model: tuple[Path, bytes], tmp_path: Path
) -> None:
    model_dir, body = slow_model
    env = {
        "SAGEMAKER_MODEL_SERVER_WORKERS": "1",
        "SAGEMAKER_MODEL_SERVER_TIMEOUT": "1",
        "SAGEMAKER_MAX_PAYLOAD_IN_MB": "20",
    }
    # Four times the slow body: with a 1 s timeout checked once a second, the request must run
    # for several seconds to be caught every time (the plain body takes ~1.1 s on two threads).
    much_slower = b"\n".join([body] * 4)
    with serving(model_dir, tmp_path, env) as server:
        timed_out = Timed(server.url, much_slower).join()
        wait_until_ready(server.url, server.alive, server.log)
        small = requests.post(
            server.url + "/invocations", data=body[: body.index(b"\n")], headers=CSV, timeout=60
        )
        samples = wait_for(
            server.metrics_url, lambda samples: value(samples, "byom_worker_restarts_total") == 1
        )
    assert timed_out.status == "ConnectionError"
    assert small.status_code == 200
    assert value(samples, "byom_request_timeouts_total") == 1
    assert value(samples, "byom_worker_restarts_total") == 1
    assert "a request ran longer than the 1 s timeout" in server.log()
    assert len(worker_pids(server.log_path)) == 2  # the original and its replacement


def test_default_worker_count_is_twice_the_usable_cores_plus_one(tmp_path: Path) -> None:
    expected = 2 * usable_cpu_count() + 1
    with serving(REPO / "model", tmp_path, {"SAGEMAKER_MODEL_SERVER_WORKERS": ""}) as server:
        assert f"with {expected} workers x 4 threads" in server.log()
        give_up = time.monotonic() + 30
        while len(worker_pids(server.log_path)) < expected and time.monotonic() < give_up:
            time.sleep(0.05)
        assert len(worker_pids(server.log_path)) == expected


def test_the_older_worker_variable_is_honoured(tmp_path: Path) -> None:
    env = {"SAGEMAKER_MODEL_SERVER_WORKERS": "", "MODEL_SERVER_WORKERS": "3"}
    with serving(REPO / "model", tmp_path, env) as server:
        assert "with 3 workers" in server.log()


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="SCHED_BATCH is Linux's")
def test_workers_and_their_threads_run_under_sched_batch(tmp_path: Path) -> None:
    with serving(REPO / "model", tmp_path) as server:
        pids = pids_answering(server.url, server.log_path, workers=2)
        threads = [int(task.name) for pid in pids for task in Path(f"/proc/{pid}/task").iterdir()]
        policies = {thread: os.sched_getscheduler(thread) for thread in threads}
        master = os.sched_getscheduler(server.process.pid)  # ./serve's process is gunicorn's master
    assert len(threads) > len(pids)  # the pool threads that answered are there too
    assert set(policies.values()) == {os.SCHED_BATCH}, policies
    assert master == os.sched_getscheduler(0)  # the arbiter keeps the policy it was started with


def test_workers_share_the_scikit_learn_model_the_master_loaded(tmp_path: Path) -> None:
    model_bytes = large_forest(tmp_path / "model")
    with serving(tmp_path / "model", tmp_path) as server:
        pids = pids_answering(server.url, server.log_path, workers=2)
        private = {pid: private_dirty_bytes(pid) for pid in pids}
    # A worker that loaded its own copy holds all of it privately; an inherited one stays shared.
    assert all(size < model_bytes / 2 for size in private.values()), (model_bytes, private)


def pids_answering(url: str, log_path: Path, workers: int) -> set[int]:
    """Send requests on new connections until every worker has answered one (so has its model)."""
    for attempt in range(400):
        requests.post(
            url + "/invocations",
            data=b"0,0,0,0",
            headers={**CSV, "X-Amzn-SageMaker-Inference-Id": str(attempt)},
            timeout=30,
        )
        log = log_path.read_text()
        pids = {record["pid"] for record in access_records(log)}
        if len(pids) == workers:
            return pids
    pytest.fail(f"not every worker answered:\n{log}")


def access_records(log: str) -> list[dict[str, Any]]:
    """The server's access log lines (one JSON object per request), among gunicorn's own."""
    return [json.loads(line) for line in log.splitlines() if line.startswith('{"')]


def private_dirty_bytes(pid: int) -> int:
    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    return int(re.search(r"^Private_Dirty:\s+(\d+) kB", rollup, re.MULTILINE)[1]) * 1024


def test_each_request_logs_one_json_line(tmp_path: Path) -> None:
    with serving(REPO / "model", tmp_path) as server:
        headers = {**CSV, "X-Amzn-SageMaker-Inference-Id": "req-42"}
        requests.post(server.url + "/invocations", data=b"5.1,3.5,1.4,0.2", headers=headers, timeout=30)
        requests.get(server.url + "/nope", timeout=30)
        give_up = time.monotonic() + 10
        while '"path":"/nope"' not in server.log() and time.monotonic() < give_up:
            time.sleep(0.05)
        lines = access_records(server.log())
    invocation = next(line for line in lines if line.get("inference_id") == "req-42")
    assert invocation["status"] == 200 and invocation["bytes_in"] == 15 and invocation["bytes_out"] == 7
    assert invocation["method"] == "POST" and invocation["latency_us"] > 0 and invocation["pid"] > 0
    assert any(line["path"] == "/nope" and line["status"] == 404 for line in lines)


@pytest.mark.parametrize(
    "parser",
    [
        "python",
        pytest.param(
            "fast", marks=pytest.mark.skipif(not H1C_INSTALLED, reason="gunicorn_h1c is not installed")
        ),
    ],
)
def test_gunicorns_own_parsers_serve_the_same_answers(tmp_path: Path, parser: str) -> None:
    """BYOM_HTTP_PARSER=python|fast: every request through gunicorn's parser and Response."""
    body, headers = (
        b"5.1,3.5,1.4,0.2\n6.2,3.4,5.4,2.3",
        {"Content-Type": "text/csv", "Accept": "application/json"},
    )
    answers = {}
    for choice in ("byom", parser):
        env = {"SAGEMAKER_MODEL_SERVER_WORKERS": "1", "BYOM_HTTP_PARSER": choice}
        (tmp_path / choice).mkdir()
        with serving(REPO / "model", tmp_path / choice, env) as server:
            ping = requests.get(server.url + "/ping", timeout=30)
            reply = requests.post(server.url + "/invocations", data=body, headers=headers, timeout=30)
            refused = requests.post(server.url + "/invocations", data=b"x", headers=headers, timeout=30)
        answers[choice] = (
            ping.status_code,
            reply.status_code,
            reply.content,
            refused.status_code,
            refused.json(),
        )
    assert answers[parser] == answers["byom"]
    assert answers["byom"][:3] == (200, 200, b'{"predictions":["setosa","virginica"]}')


@pytest.mark.parametrize(
    ("prepare", "env", "says", "exit_code"),
    [
        ("corrupt", {}, "byom: cannot serve: model.json is not an XGBoost model", 4),
        ("empty", {}, "byom: cannot serve: no model file in", 1),
        ("golden", {}, "no longer reproduces its training-time predicted_label on the golden rows", 4),
        ("pickle", {}, "set BYOM_ALLOW_PICKLE=true only if you trust", 1),
        ("corrupt", {"SAGEMAKER_MODEL_SERVER_WORKERS": "none"}, "SAGEMAKER_MODEL_SERVER_WORKERS='none'", 1),
        (
            "corrupt",
            {"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "image/png"},
            "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT",
            4,
        ),
        pytest.param(
            "corrupt",
            {"BYOM_HTTP_PARSER": "fast"},
            "BYOM_HTTP_PARSER=fast: gunicorn's C parser is not installed (pip install gunicorn_h1c)",
            1,
            marks=pytest.mark.skipif(H1C_INSTALLED, reason="gunicorn_h1c is installed here"),
        ),
    ],
)
def test_a_server_that_cannot_serve_stops_with_one_line(
    model_dir: Path, tmp_path: Path, prepare: str, env: dict[str, str], says: str, exit_code: int
) -> None:
    if prepare == "corrupt":
        (model_dir / "model.json").write_text('{"not": "xgboost"}')
    elif prepare == "golden":  # the demo model, with a manifest its rows no longer match
        shutil.copytree(REPO / "model", model_dir, dirs_exist_ok=True)
        recorded = json.loads((model_dir / "manifest.json").read_text())
        recorded["golden_outputs"]["predicted_label"][0] = "virginica"
        (model_dir / "manifest.json").write_text(json.dumps(recorded))
    elif prepare == "pickle":
        CASES["pickle-decision-tree"](model_dir)
    if "ACCEPT" in str(env):
        CASES["sklearn-decision-tree"](model_dir)
        (model_dir / "model.json").unlink()
    server = start_serve(model_dir, tmp_path, {"SAGEMAKER_MODEL_SERVER_WORKERS": "3", **env})
    code = exit_code_of_a_server_that_must_stop(server)
    log = server.log()
    assert code == exit_code, log
    assert says in log and log.count("cannot serve") == 1, log  # said once
    assert log.strip().splitlines()[-1].startswith("byom: cannot serve: "), log  # and last
    assert "[INFO]" not in log and "Traceback" not in log, log  # before gunicorn started a thing
    assert worker_pids(server.log_path) == []


def test_a_413_says_connection_close_and_closes(tmp_path: Path) -> None:
    """The body is left unread, so the connection cannot carry another request: the client is
    told, and the server closes at once rather than after reading some of the body."""
    head = (
        b"POST /invocations HTTP/1.1\r\nHost: t\r\nContent-Type: text/csv\r\nContent-Length: 99999999\r\n\r\n"
    )
    with (
        serving(REPO / "model", tmp_path) as server,
        socket.create_connection(("127.0.0.1", server.port)) as sock,
    ):
        sock.sendall(head)
        sock.settimeout(30)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status, *headers = answer.split(b"\r\n\r\n")[0].decode().split("\r\n")
    assert status.startswith("HTTP/1.1 413") and "Connection: close" in headers
