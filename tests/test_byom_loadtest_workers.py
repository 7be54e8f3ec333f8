"""`byom loadtest --workers N`: the schedule's split, the exact merge, and the processes end to end.

The split and the merge are checked on their own, without processes: the shares of a schedule
are the schedule, and records pooled from shares give the timeline, histograms and percentiles
of one process on the same requests. Then the command against tests/helpers/http_server.py:
two processes send the whole schedule and are reported one line each; a process that cannot
connect, or that is killed mid-run, fails the run with its reason; Ctrl-C stops them all.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from byom.cli import main
from byom.measure import ensure, latency_histogram, timeline
from byom.measure.loadspec import Phase, arrival_times, schedule
from byom.measure.outcomes import Outcomes, ProcessUsage, merge
from byom.measure.worker import Job
from tests.helpers.harness import REPO
from tests.helpers.http_server import Handler, serving

PHASES = [Phase(2.0, 101.0), Phase(3.0, 50.0, 333.0), Phase(1.0, 0.0), Phase(2.0, 200.0, 7.0)]


class Counting(Handler):
    """Counts the requests it answers, so a test can act once load is flowing."""

    answered = 0

    def do_POST(self) -> None:
        super().do_POST()
        Counting.answered += 1


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serving(Counting) as url:
        yield url


@pytest.mark.parametrize("shares", [1, 2, 3, 4, 7])
def test_the_shares_of_a_schedule_are_the_schedule(shares: int) -> None:
    whole = list(enumerate(arrival_times(PHASES)))
    parts = [list(schedule(PHASES, share, shares)) for share in range(shares)]
    assert sorted(pair for part in parts for pair in part) == whole  # same indices, same exact times
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    for share, part in enumerate(parts):
        assert all(index % shares == share for index, _ in part)
        assert all(b[1] > a[1] for a, b in itertools.pairwise(part))  # each in time order


def test_limits_are_divided_so_that_the_parts_add_up() -> None:
    job = Job("http://127.0.0.1:1", (), (), 1.0, max_in_flight=1000, connections=16, shares=3)
    parts = [job.for_process(share) for share in range(3)]
    assert [p.max_in_flight for p in parts] == [334, 333, 333] and sum(p.connections for p in parts) == 16
    assert [p.share for p in parts] == [0, 1, 2]


def synthetic(indices_times: list[tuple[int, float]], seed: int = 7) -> Outcomes:
    """Records as a generator would leave them (in completion order), with errors and a slow tail."""
    outcomes = Outcomes()
    rows = []
    for index, offset in indices_times:
        rng = np.random.default_rng([seed, index])  # a request's outcome depends on it alone
        latency = float(rng.lognormal(-6, 1.2)) + (0.4 if index % 97 == 0 else 0.0)
        status = int(rng.choice([200, 200, 200, 200, 200, 200, 200, 503, 0, 1]))
        rows.append((offset + latency, offset, latency, status))
    for _, offset, latency, status in sorted(rows):
        outcomes.add(offset, latency, status)
    outcomes.cpu_samples = [(float(s), 0.1 * s) for s in range(1, 9)]
    return outcomes


def test_records_pooled_from_shares_are_one_process_records_exactly() -> None:
    single = synthetic(list(enumerate(arrival_times(PHASES))))
    parts = [synthetic(list(schedule(PHASES, share, 3))) for share in range(3)]
    for part in parts:
        part.cpu_samples = [(t, c / 3) for t, c in single.cpu_samples]
    pooled = merge(parts)
    rows, pooled_rows = timeline.build(single, 8.0), timeline.build(pooled, 8.0)
    assert pooled_rows == rows  # every second: counts, errors, p50/p95/p99, histogram, CPU
    assert timeline.summary(pooled) == timeline.summary(single)
    as_arrays = lambda o: (np.array(o.latency) * 1000, np.array(o.status, dtype=np.int32))  # noqa: E731
    assert ensure.measure(*as_arrays(pooled), 8.0) == ensure.measure(*as_arrays(single), 8.0)


def test_per_second_histograms_of_shares_add_bucket_by_bucket_to_one_histogram() -> None:
    parts = [synthetic(list(schedule(PHASES, share, 4)), seed=11) for share in range(4)]
    by_part = [timeline.build(part, 8.0) for part in parts]
    pooled_rows = timeline.build(merge(parts), 8.0)
    for second, row in enumerate(pooled_rows):
        added = latency_histogram.dense([rows[second].latency_histogram for rows in by_part]).sum(axis=0)
        one = latency_histogram.dense([row.latency_histogram])[0]
        assert (added == one).all() and added.sum() == row.offered
        for q in (50, 95, 99, 99.9):  # NaN alike in the pause, where no request was scheduled
            np.testing.assert_array_equal(
                latency_histogram.percentiles(added, q), latency_histogram.percentiles(one, q)
            )


def test_cpu_and_usage_add_up_across_processes() -> None:
    a, b = Outcomes(cpu_seconds=1.5, wall_seconds=3.0), Outcomes(cpu_seconds=2.5, wall_seconds=3.2)
    a.cpu_samples = [(1.0, 0.5), (2.0, 1.0), (3.0, 1.5)]
    b.cpu_samples = [(0.5, 0.25), (1.5, 1.25), (2.5, 2.0)]
    a.processes, b.processes = [ProcessUsage(10, 1.5, 3.0, 0, 0.001)], [ProcessUsage(9, 2.5, 3.2, 5, 0.2)]
    pooled = merge([a, b])
    assert pooled.cpu_samples == [(1.0, 0.5 + 0.75), (2.0, 1.0 + 1.625), (3.0, 1.5 + 2.0)]
    assert (pooled.cpu_seconds, pooled.wall_seconds) == (4.0, 3.2)
    assert pooled.processes == a.processes + b.processes
    assert not a.processes[0].saturated and b.processes[0].saturated  # 5 of 9 late


def test_two_processes_send_the_whole_schedule_and_report_one_line_each(
    server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["loadtest", "--target", server, "--rate", "150", "--duration", "2", "--workers", "2"]
    assert main([*argv, "--quiet", "--out", str(tmp_path / "w")]) == 0
    out = capsys.readouterr().out
    document, rows = timeline.read_result(tmp_path / "w.json")
    assert document["summary"]["requests"] == document["summary"]["ok"] == 300
    assert [row.offered for row in rows] == [150, 150]
    assert [p["requests"] for p in document["generator"]["processes"]] == [150, 150]
    lines = re.findall(r"^generator process (\d)/2: (\d+) requests, CPU [\d.]+% of one core", out, re.M)
    assert lines == [("1", "150"), ("2", "150")]


def test_a_process_that_cannot_connect_fails_the_run_with_its_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def answer_the_reachability_check_then_close() -> None:
        listener.accept()[0].close()
        listener.close()

    threading.Thread(target=answer_the_reachability_check_then_close, daemon=True).start()
    argv = ["loadtest", "--target", f"http://127.0.0.1:{port}", "--rate", "10", "--workers", "2"]
    assert main([*argv, "--quiet", "--out", str(tmp_path / "f")]) == 2
    err = capsys.readouterr().err
    assert re.search(r"generator process [12] of 2 failed: .*Connect call failed", err), err
    assert "the test is void" in err and not (tmp_path / "f.json").exists()


def loadtest(server: str, out: Path, *flags: str) -> subprocess.Popen[bytes]:
    """`byom loadtest --workers 2` in its own session, as a terminal would run it (SIGINT default)."""
    command = [sys.executable, "-m", "byom", "loadtest", "--target", server, "--rate", "100", "--quiet"]
    return subprocess.Popen(
        [*command, "--duration", "30", "--workers", "2", "--out", str(out), *flags],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def generator_processes(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat, cmdline = (entry / "stat").read_text(), (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if stat.rsplit(")", 1)[-1].split()[1] == str(parent) and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return found


def wait_for_load(process: subprocess.Popen[bytes], requests: int = 60) -> list[int]:
    """The generator processes, once the server has answered `requests` more requests."""
    before, deadline = Counting.answered, time.monotonic() + 20
    while Counting.answered < before + requests:
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.05)
    children = generator_processes(process.pid)
    assert len(children) == 2
    return children


def gone(pid: int) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_a_process_killed_mid_run_fails_the_run_and_the_other_is_stopped(server: str, tmp_path: Path) -> None:
    process = loadtest(server, tmp_path / "k")
    victim, other = wait_for_load(process)
    os.kill(victim, signal.SIGKILL)
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 2, stderr
    assert re.search(rb"generator process [12] of 2 was killed by SIGKILL: the test is void", stderr), stderr
    assert b"Traceback" not in stderr and not (tmp_path / "k.json").exists()
    assert gone(other)


def test_ctrl_c_stops_every_process_and_keeps_what_each_finished(server: str, tmp_path: Path) -> None:
    process = loadtest(server, tmp_path / "c")
    children = wait_for_load(process)
    os.killpg(process.pid, signal.SIGINT)  # a terminal's Ctrl-C: the whole process group
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 130, stderr
    assert b"interrupted after" in stderr and b"Traceback" not in stderr
    document = json.loads((tmp_path / "c.json").read_text())
    assert document["interrupted"] is True
    assert [p["requests"] > 0 for p in document["generator"]["processes"]] == [True, True]
    assert 0 < document["summary"]["requests"] < 3000
    assert all(gone(child) for child in children)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--workers", "0"], "--workers must be at least 1"),
        (
            ["--workers", "3", "--max-in-flight", "2"],
            "--max-in-flight must be at least 1, and at least --workers",
        ),
    ],
)
def test_impossible_worker_counts_are_refused(
    flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["loadtest", "--target", "http://127.0.0.1:9", "--rate", "1", "--quiet", *flags]) == 2
    assert message in capsys.readouterr().err
