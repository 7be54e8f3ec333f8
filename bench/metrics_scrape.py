"""`python bench/metrics_scrape.py [--replacements 200]`: the time of a /metrics scrape before and
after many worker replacements, and what it would be if dead workers' files were left to pile up.

Owns: this one measurement (bench/results/metrics.md quotes it). `./serve` runs the demo model on
2 workers with metrics on; each replacement SIGKILLs a worker, waits for gunicorn's new one and
sends it requests (so it has written its files), as a server whose workers time out would. Scrapes
are timed end to end (HTTP included), median and max of 30. The pile-up figure times
prometheus_client's MultiProcessCollector alone over a copy of the live directory plus one set of
a dead worker's files per replacement: what each scrape read before the master merged them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

CHECKOUT = Path(__file__).resolve().parents[1]
SCRAPES = 30
ROW = b"5.1,3.5,1.4,0.2"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def workers_of(master: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == master:
                found.add(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return found


def wait_for_workers(master: int, count: int, excluding: set[int]) -> set[int]:
    give_up = time.monotonic() + 60
    while time.monotonic() < give_up:
        workers = workers_of(master)
        if len(workers) == count and not workers & excluding:
            return workers
        time.sleep(0.01)
    raise RuntimeError("the worker was not replaced within 60 s")


def timed_scrapes(url: str) -> list[float]:
    seconds = []
    for _ in range(SCRAPES):
        started = time.perf_counter()
        requests.get(url, timeout=30).raise_for_status()
        seconds.append(time.perf_counter() - started)
    return seconds


def piled_up(directory: Path, dead: int) -> list[float]:
    """MultiProcessCollector's time over the live files plus `dead` unmerged dead workers' files."""
    from prometheus_client.multiprocess import MultiProcessCollector

    scratch = Path(tempfile.mkdtemp())
    try:
        live = [path for path in directory.glob("*.db") if "retired" not in path.name]
        for path in live:
            shutil.copy(path, scratch / path.name)
        sample = next(path for path in live if path.name.startswith("histogram_"))
        counter = scratch / sample.name.replace("histogram_", "counter_")
        for index in range(dead):
            shutil.copy(sample, scratch / f"histogram_{10**7 + index}.db")
            if counter.exists():
                shutil.copy(counter, scratch / f"counter_{10**7 + index}.db")
        seconds = []
        for _ in range(SCRAPES):
            started = time.perf_counter()
            list(MultiProcessCollector(None, path=str(scratch)).collect())
            seconds.append(time.perf_counter() - started)
        return seconds
    finally:
        shutil.rmtree(scratch)


def summary(seconds: list[float]) -> str:
    return f"median {statistics.median(seconds) * 1000:.2f} ms, max {max(seconds) * 1000:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replacements", type=int, default=200)
    args = parser.parse_args()
    port, metrics_port = free_port(), free_port()
    env = dict(os.environ, SM_MODEL_DIR=str(CHECKOUT / "model"), BYOM_HOST="127.0.0.1",
               SAGEMAKER_BIND_TO_PORT=str(port), BYOM_METRICS_PORT=str(metrics_port),
               SAGEMAKER_MODEL_SERVER_WORKERS="2")  # fmt: skip
    server = subprocess.Popen(
        [str(CHECKOUT / "serve")], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url, metrics = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{metrics_port}/metrics"
    try:
        workers = wait_for_workers(server.pid, 2, set())
        time.sleep(1.0)
        session = requests.Session()
        for _ in range(20):
            session.post(url + "/invocations", data=ROW, headers={"Content-Type": "text/csv"}, timeout=30)
        before = timed_scrapes(metrics)
        started = time.monotonic()
        for _ in range(args.replacements):
            victim = min(workers)
            os.kill(victim, signal.SIGKILL)
            workers = wait_for_workers(server.pid, 2, {victim})
            for _ in range(4):  # new connections: spread over both workers
                requests.post(
                    url + "/invocations", data=ROW, headers={"Content-Type": "text/csv"}, timeout=30
                )
        replacing = time.monotonic() - started
        after = timed_scrapes(metrics)
        text = requests.get(metrics, timeout=30).text
        directory = next(Path("/dev/shm").glob(f"byom-metrics-{server.pid}"), None)  # noqa: S108 - the master's
        files = sorted(path.name for path in directory.glob("*.db")) if directory else []
        pile = piled_up(directory, args.replacements) if directory else []
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)
    restarts = next(line for line in text.splitlines() if line.startswith("byom_worker_restarts_total"))
    print(f"replacements: {args.replacements} in {replacing:.1f} s ({restarts})")
    print(f"scrape before: {summary(before)}")
    print(f"scrape after {args.replacements} replacements: {summary(after)}")
    print(f"files read per scrape after: {len(files)}")
    if pile:
        print(f"collector alone, {args.replacements} dead workers' files left unmerged: {summary(pile)}")


if __name__ == "__main__":
    sys.exit(main())
