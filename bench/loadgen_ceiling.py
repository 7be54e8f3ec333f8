"""The load generator's own ceiling with 1, 2 and 4 processes (`byom loadtest --workers N`), against
scripts/http_sink.py (a do-nothing keep-alive server) on this machine.

    .venv/bin/python bench/loadgen_ceiling.py --workers 1 2 4 --rates 10000 12000 14000 --seconds 5

Starts the sink on 127.0.0.1, then for each worker count runs, at each rate in turn,
`python -m byom loadtest --target SINK --rate R --duration S --workers N --quiet`, and prints one
markdown row per run: achieved/offered, p99, every process's CPU (percent of one core) and share
of requests started over 10 ms late, how many processes byom called saturated (late, or at 90% of
a core or more: no headroom left), the sink's CPU over the schedule, the CPU other processes used
meanwhile (/proc/stat less the sink and the loadtest), and whether the run kept its schedule:
every request answered with 200, achieved/offered >= 0.99 over the schedule's seconds, and no
process with over 1% of its requests started more than 10 ms late. Each run waits (2 minutes at most) for a quiet machine,
and a failed run while others used 15% of a core or more is run again (twice at most); after
two failed rates in a row, the next worker count. Nothing is pinned: the sink and every
generator process share the machine's cores, as `nproc` gives them. Linux only (/proc).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PORT = 18099
RETRIES = 2  # a failed run while other processes used DISTURBED_PERCENT of a core is run again
DISTURBED_PERCENT = 15.0
QUIET_WAIT_SECONDS = 120.0  # before each run, for the machine to be that quiet
LATE_FRACTION = 0.01  # of a process's requests started over 10 ms late (byom.measure.outcomes)


@contextmanager
def sink(port: int) -> Iterator[tuple[str, int]]:
    process = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "http_sink.py"), str(port)])
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        process.terminate()
        process.wait(5)


def loadtest(target: str, rate: int | str, seconds: int, workers: int | str, out: Path) -> list[str]:
    """The arguments after `python`."""
    return [
        *("-m", "byom", "loadtest", "--target", target, "--rate", str(rate), "--duration", str(seconds)),
        *("--workers", str(workers), "--quiet", "--out", str(out)),
    ]


def judge(document: dict[str, Any]) -> tuple[float, bool]:
    """achieved/offered over the schedule's seconds, and whether the schedule was kept: every
    request answered with 200, achieved/offered >= 0.99, no process over 1% of its requests late."""
    summary, rows = document["summary"], document["timeline"]
    fraction = sum(row["achieved"] for row in rows) / max(sum(row["offered"] for row in rows), 1)
    on_time = all(p["late"] <= LATE_FRACTION * p["requests"] for p in document["generator"]["processes"])
    return fraction, summary["ok"] == summary["requests"] and fraction >= 0.99 and on_time


def row(workers: int, rate: int, document: dict[str, Any], sink: float, others: float) -> tuple[str, bool]:
    fraction, kept = judge(document)
    processes = document["generator"]["processes"]
    cpu = " ".join(f"{p['cpu_percent']:.0f}" for p in processes)
    late = " ".join(f"{100 * p['late'] / max(p['requests'], 1):.1f}" for p in processes)
    saturated = sum(p["saturated"] for p in processes)
    cells = [workers, rate, f"{fraction:.3f}", document["summary"]["p99_ms"], cpu, late, saturated]
    cells += [f"{sink:.0f}", f"{others:.0f}", "yes" if kept else "no"]
    return "| " + " | ".join(map(str, cells)) + " |", kept


def busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (every core, every process)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def process_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ours_seconds(sink_pid: int) -> float:
    """CPU seconds of the sink and of every finished loadtest (with its generator processes)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return children.ru_utime + children.ru_stime + process_seconds(sink_pid)


def wait_for_quiet(sink_pid: int) -> None:
    """Until the machine, the idle sink aside, was busy under DISTURBED_PERCENT of a core for 2 s
    (QUIET_WAIT_SECONDS at most: then the run goes ahead, and its others' CPU says so)."""
    deadline = time.monotonic() + QUIET_WAIT_SECONDS
    while time.monotonic() < deadline:
        busy, ours = busy_seconds(), process_seconds(sink_pid)
        time.sleep(2)
        if 100 * ((busy_seconds() - busy) - (process_seconds(sink_pid) - ours)) / 2 < DISTURBED_PERCENT:
            return


def run_once(
    target: str, sink_pid: int, workers: int, rate: int, seconds: int, out: Path
) -> tuple[dict[str, Any], float, float]:
    """One loadtest's result, the sink's CPU over its schedule and what other processes used
    meanwhile (both in percent of one core)."""
    wait_for_quiet(sink_pid)
    busy, ours, start = busy_seconds(), ours_seconds(sink_pid), time.monotonic()
    sink = process_seconds(sink_pid)
    arguments = loadtest(target, rate, seconds, workers, out)
    subprocess.run([sys.executable, *arguments], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    others = 100 * ((busy_seconds() - busy) - (ours_seconds(sink_pid) - ours)) / (time.monotonic() - start)
    document = json.loads(out.with_suffix(".json").read_text())
    sink = 100 * (process_seconds(sink_pid) - sink) / max(document["generator"]["wall_seconds"], 1e-9)
    return document, sink, others


def measure(
    target: str, sink_pid: int, workers: int, rates: list[int], seconds: int, scratch: Path
) -> Iterator[str]:
    """Rows at increasing rates, until two in a row fail; a run disturbed by others is run again."""
    failed = 0
    for rate in rates:
        for _ in range(1 + RETRIES):
            document, sink, others = run_once(target, sink_pid, workers, rate, seconds, scratch / "run")
            line, kept = row(workers, rate, document, sink, others)
            yield line
            if kept or others < DISTURBED_PERCENT:
                break
        failed = 0 if kept else failed + 1
        if failed == 2:
            return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--rates", type=int, nargs="+", required=True)
    parser.add_argument("--seconds", type=int, default=5)
    arguments = parser.parse_args()
    print(f"cores (nproc): {os.cpu_count()}; sink and generators unpinned, sharing them")
    print("each run: python " + " ".join(loadtest("SINK", "R", arguments.seconds, "N", Path("OUT"))))
    print(
        "| workers | offered req/s | achieved/offered | p99 ms | CPU % per process | % late per process"
        " | saturated | sink CPU % | others' CPU % | kept |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    with sink(PORT) as (target, pid), tempfile.TemporaryDirectory() as scratch:
        for workers in arguments.workers:
            for line in measure(target, pid, workers, arguments.rates, arguments.seconds, Path(scratch)):
                print(line, flush=True)
            time.sleep(1)


if __name__ == "__main__":
    main()
