"""Faults under load against a real `./serve` (gunicorn) on 127.0.0.1: workers killed, SIGTERM,
slow clients, oversized and maximum-size requests. Bounded in time and count; counts and ratios,
not seconds.

Figures are printed (`pytest -s tests/test_faults.py`) and quoted in docs/operations.md.
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.helpers import hostile
from tests.helpers.harness import REPO, ServeProcess, serving, start_serve, wait_until_ready
from tests.helpers.load import (
    PING,
    Load,
    Outcome,
    SlowClients,
    burst,
    children,
    csv_request,
    exchange,
    failures,
    pending_signals,
    read_response,
    socket_inodes,
    status_of,
    tree_rss_bytes,
    wait_until,
)

pytestmark = pytest.mark.server
WORKERS = 2
THREADS = 4
KILLS = 3


def test_kill_9_loses_only_the_requests_on_the_killed_worker(tmp_path: Path) -> None:
    env = {"SAGEMAKER_MODEL_SERVER_WORKERS": str(WORKERS), "BYOM_WORKER_THREADS": str(THREADS)}
    held_by_victims = []
    with serving(REPO / "model", tmp_path, env) as server, Load(server.port, 6, csv_request()) as load:
        master = server.process.pid
        for _ in range(KILLS):
            load.wait_for(len(load.outcomes) + 100)
            victim = children(master)[0]
            held_by_victims.append(connections_held(victim, master))
            signal_and_replace(master, victim)
        load.wait_for(len(load.outcomes) + 100)
        outcomes = load.stop()
        after = exchange(server.port, csv_request())
        log = server.log()
    lost = failures(outcomes)
    print(
        f"{len(outcomes)} requests, {KILLS} kills: {len(lost)} failed; "
        f"connections held by each killed worker: {held_by_victims}"
    )
    assert len(lost) <= sum(held_by_victims), lost
    assert all(outcome.connected is not None for outcome in lost), "a connection was refused"
    assert after.status == 200
    assert log.count("Booting worker with pid") == WORKERS + KILLS


def connections_held(worker: int, master: int) -> int:
    """Freeze the worker (SIGSTOP) and count its client sockets: what a kill can cut."""
    signal_pid(worker, signal.SIGSTOP)
    return len(socket_inodes(worker) - socket_inodes(master))  # the master holds only the listener


def signal_and_replace(master: int, victim: int) -> None:
    signal_pid(victim, signal.SIGKILL)
    assert wait_until(lambda: victim not in children(master) and len(children(master)) == WORKERS)


def signal_pid(pid: int, sig: int) -> None:
    os.kill(pid, sig)


def test_sigterm_answers_every_connection_accepted_before_it(tmp_path: Path) -> None:
    """Workers are frozen while clients connect, so the kernel queues those connections on the
    listener; SIGTERM reaches the master then; the workers resume into their shutdown."""
    env = {"SAGEMAKER_MODEL_SERVER_WORKERS": str(WORKERS)}
    server = start_serve(REPO / "model", tmp_path, env)
    try:
        wait_until_ready(server.url, server.alive, server.log)
        master = server.process.pid
        with Load(server.port, 8, csv_request(), keep_going=server.alive) as load:
            load.wait_for(200)
            workers = children(master)
            for worker in workers:
                signal_pid(worker, signal.SIGSTOP)
            frozen = time.monotonic()
            burst = Load(server.port, 8, csv_request(), keep_going=server.alive).__enter__()
            time.sleep(0.3)  # the burst connects meanwhile: the kernel queues its connections
            signalled = time.monotonic()
            signal_pid(master, signal.SIGTERM)
            assert wait_until(lambda: all(pending_signals(w) & (1 << (signal.SIGTERM - 1)) for w in workers))
            for worker in workers:
                signal_pid(worker, signal.SIGCONT)
            exit_code = server.process.wait(timeout=40)
            drained = time.monotonic() - signalled
            outcomes = load.stop() + burst.stop()
    finally:
        server.stop(signal.SIGKILL)
    before = [outcome for outcome in outcomes if outcome.connected and outcome.connected < signalled]
    queued = [outcome for outcome in before if outcome.connected and outcome.connected > frozen]
    print(
        f"SIGTERM: {len(before)} connections accepted before it, {len(queued)} of them queued in the "
        f"kernel with every worker frozen; {len(failures(before))} failed; exit {exit_code} "
        f"after {drained:.2f} s"
    )
    assert queued, "no connection was waiting in the backlog: the test did not test it"
    assert failures(before) == [], server.log()
    assert exit_code == 0, server.log()
    assert drained < 25
    assert "new handshakes are completed" not in server.log(), "the arbiter did not refuse handshakes"


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """One server for the tests that leave it as they found it."""
    env = {"SAGEMAKER_MODEL_SERVER_WORKERS": str(WORKERS), "BYOM_WORKER_THREADS": str(THREADS)}
    with serving(REPO / "model", tmp_path_factory.mktemp("shared"), env) as server:
        yield server


def test_an_oversized_request_gets_413_before_its_body_is_sent(shared_server: ServeProcess) -> None:
    head = (
        b"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/csv\r\n"
        b"Content-Length: 1000000000\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", shared_server.port), timeout=30) as sock:
        sock.sendall(head)  # and not one byte of the gigabyte
        reply = read_response(sock)  # answered at once, though not a byte of body was sent
    assert status_of(reply) == 413, reply


def test_parallel_maximum_size_requests_stay_within_a_memory_bound(tmp_path: Path) -> None:
    """More maximum-size requests at once than there are threads: a worker reads and processes
    at most one large body per thread at a time; the rest wait, unread, in the kernel."""
    workers, threads = 1, THREADS
    env = {"SAGEMAKER_MODEL_SERVER_WORKERS": str(workers), "BYOM_WORKER_THREADS": str(threads)}
    row = b"5.1,3.5,1.4,0.2\n"  # the cheapest rows: the most values per byte
    body = row * (6 * 1024 * 1024 // len(row))
    with serving(REPO / "model", tmp_path, env) as server:
        master = server.process.pid
        assert wait_until(lambda: exchange(server.port, csv_request()).status == 200)
        pids, idle = children(master), tree_rss_bytes(master)
        with PeakMemory(master) as peak:
            outcomes = burst(server.port, csv_request(body), threads + 2)
        survived = children(master) == pids
    per_body = (peak.bytes - idle) / (workers * threads * len(body))
    print(
        f"{len(outcomes)} requests of {len(body) / 2**20:.2f} MiB at once, {workers} worker x {threads} "
        f"threads: idle {idle / 2**20:.0f} MiB, peak {peak.bytes / 2**20:.0f} MiB (RSS of the tree), "
        f"growth {per_body:.1f} x workers x threads x payload"
    )
    assert failures(outcomes) == []
    assert survived, "a worker died"
    assert peak.bytes - idle < MEMORY_FACTOR * workers * threads * len(body)


MEMORY_FACTOR = 24  # measured 16-17: body, parsed float64 table (2x the text), outputs, allocator slack


class PeakMemory:
    """The highest resident memory of a process tree, sampled every 20 ms on a thread."""

    def __init__(self, pid: int) -> None:
        self.pid, self.bytes = pid, tree_rss_bytes(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.bytes = max(self.bytes, tree_rss_bytes(self.pid))


SLOW_CLIENTS = 3 * WORKERS * THREADS  # three times the threads there are


@pytest.mark.parametrize("kind", ["headers", "body"])
def test_slow_clients_starve_neither_the_threads_nor_ping(shared_server: ServeProcess, kind: str) -> None:
    port = shared_server.port
    alone = latencies(port)
    with SlowClients(port, SLOW_CLIENTS, kind) as slow:
        assert wait_until(lambda: slow.all_trickling(at_least=3))
        beside = latencies(port)
        still_trickling = slow.all_trickling(at_least=3) and slow.closed_by_server == 0
    ratio = statistics.median(beside) / statistics.median(alone)
    print(
        f"{SLOW_CLIENTS} slow clients ({kind}) on {WORKERS} x {THREADS} threads: /ping and /invocations "
        f"median {statistics.median(alone) * 1000:.1f} ms alone, {statistics.median(beside) * 1000:.1f} ms "
        f"beside them ({ratio:.1f}x), slowest {max(beside) * 1000:.1f} ms"
    )
    assert still_trickling
    assert ratio < 10


def latencies(port: int, rounds: int = 10) -> list[float]:
    """Alternate /ping and a one-row /invocations; each must answer 200 (10 s hang limit)."""
    taken = []
    for request in [PING, csv_request()] * rounds:
        outcome = exchange(port, request, timeout=10)
        assert outcome.status == 200, outcome
        taken.append(time.monotonic() - outcome.started)
    return taken


def test_hostile_connections_of_every_kind_leave_normal_traffic_unharmed(shared_server: ServeProcess) -> None:
    """Every pattern of tests/helpers/hostile.py held open at once (about a hundred connections) beside
    steady one-row traffic: no request of that traffic fails, and its p99 stays near its p99 alone."""
    port = shared_server.port
    alone = steady_traffic(port)
    with ExitStack() as held:
        for pattern in hostile.PATTERNS:
            held.enter_context(hostile.holding(port, pattern))
        beside = steady_traffic(port)
    after = steady_traffic(port)
    p99 = {name: hostile.percentile([o.seconds for o in runs], 0.99) for name, runs in
           [("alone", alone), ("beside", beside), ("after", after)]}  # fmt: skip
    connections = sum(pattern.connections for pattern in hostile.PATTERNS)
    print(
        f"{connections} hostile connections ({len(hostile.PATTERNS)} kinds) beside 4 clients of one-row "
        f"requests: {len(beside)} requests, {len(failures(beside))} failed; p99 "
        + ", ".join(f"{name} {seconds * 1000:.1f} ms" for name, seconds in p99.items())
    )
    assert failures(alone + beside + after) == []
    assert p99["beside"] < 10 * max(p99["alone"], p99["after"])


def steady_traffic(port: int, seconds: float = hostile.HOLD_SECONDS) -> list[Outcome]:
    with Load(port, 4, csv_request()) as load:
        time.sleep(seconds)
        return load.stop()
