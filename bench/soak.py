"""The soak run (`make soak`): hours of mixed valid and invalid traffic at a steady share of capacity.

    .venv/bin/python bench/soak.py [--seconds 3600] [--warmup S] [--load 0.7] [--out PREFIX]

Serves the demo model (the iris tree) and the benchmark's XGBoost model (bench/models.py: 200 trees
on 30 features) each with `./serve` (real gunicorn, 2 workers) pinned to CPU 0, from this process
pinned to CPU 1. It measures their capacity together, closed loop (each keeps CONNECTIONS requests
in flight for --capacity-seconds), then sends --load of it open loop (byom's generator,
byom/measure/loadgen.py) for --seconds: round robin over the cases below, valid and invalid. Every
--sample seconds it reads the RSS of every process of both servers. At the end bench/soak_report.py
judges the curve after --warmup (default a sixth of the run: 10 minutes of an hour), the answers
and the worker pids, and writes PREFIX.csv (the curve) and PREFIX.md; exit status 1 on a failed
verdict. The capacity is the one this Python generator measures: if it, not the servers, is the
bottleneck, the rates are lower than the servers could take, and the report shows its CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import machine
import procs
import soak_report
from load import LOAD_CPU
from models import IRIS_ROW, csv_body, feature_rows, xgboost_model
from servers import CHECKOUT, Server, start_ours

sys.path.insert(0, str(CHECKOUT))

from byom.measure.http_client import Origin
from byom.measure.loadgen import Generator, HttpSender
from byom.measure.loadspec import Phase, Request, schedule

WORKERS = 2
CONNECTIONS = 8
TIMEOUT_S = 10.0
CSV, JSON = {"Content-Type": "text/csv"}, {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Case:
    name: str
    request: Request
    expected: int


def post(name: str, headers: dict[str, str], body: bytes, expected: int) -> Case:
    return Case(name, Request("POST", "/invocations", headers, body), expected)


def iris_cases() -> list[Case]:
    return [
        post("one CSV row", CSV, IRIS_ROW, 200),
        post("ten CSV rows", CSV, b"\n".join([IRIS_ROW] * 10), 200),
        post("one JSON row", JSON, b'{"instances": [[5.1, 3.5, 1.4, 0.2]]}', 200),
        post("not a number", CSV, b"5.1,abc,1.4,0.2", 422),
        post("three columns", CSV, b"5.1,3.5,1.4", 422),
        post("broken JSON", JSON, b'{"instances": [[5.1, 3.5', 400),
        post("unknown Content-Type", {"Content-Type": "application/x-nope"}, IRIS_ROW, 415),
        post("unknown Accept", {**CSV, "Accept": "image/png"}, IRIS_ROW, 406),
    ]


def xgboost_cases() -> list[Case]:
    rows = feature_rows(20, seed=7)
    return [
        post("one CSV row", CSV, csv_body(rows[:1]), 200),
        post("twenty CSV rows", CSV, csv_body(rows), 200),
        post("JSON Lines rows", {"Content-Type": "application/jsonlines"}, _json_lines(rows[:5]), 200),
        post("29 columns", CSV, csv_body(rows[:1, :29]), 422),
        post("empty body", CSV, b"", 400),
        post("a stray quote", CSV, b'"' + csv_body(rows[:1]), 422),
    ]


def _json_lines(rows: Sequence[Sequence[float]]) -> bytes:
    return b"".join(("[" + ",".join(f"{v:.4f}" for v in row) + "]\n").encode() for row in rows)


@dataclass
class Target:
    name: str
    server: Server
    cases: list[Case]

    def sender(self) -> HttpSender:
        return HttpSender(Origin.parse(self.server.url), [case.request for case in self.cases])

    def pids(self) -> dict[int, str]:
        master = self.server.processes[0].pid
        return {master: "master"} | {pid: "worker" for pid in _descendants(master)}


def _descendants(pid: int) -> list[int]:
    found = procs.children(pid)
    return found + [grandchild for child in found for grandchild in _descendants(child)]


async def closed_loop(target: Target, seconds: float) -> float:
    """Requests per second `target` answers with CONNECTIONS requests always in flight."""
    sender = target.sender()
    await sender.prepare(CONNECTIONS)
    done, end = 0, time.monotonic() + seconds

    async def loop(first: int) -> None:
        nonlocal done
        index = first
        while time.monotonic() < end:
            await sender(index)
            done, index = done + 1, index + CONNECTIONS

    await asyncio.gather(*(loop(k) for k in range(CONNECTIONS)))
    sender.close()
    return done / seconds


async def sample_rss(targets: Sequence[Target], seconds: float, every: float) -> list[soak_report.Sample]:
    samples, start = [], time.monotonic()
    while (elapsed := time.monotonic() - start) <= seconds:
        for target in targets:
            for pid, role in target.pids().items():
                rss = procs.memory_kib(pid)["VmRSS"]
                samples.append(soak_report.Sample(elapsed, target.name, role, pid, rss))
        await asyncio.sleep(every)
    return samples


async def offer(
    target: Target, rate: float, seconds: float
) -> tuple[list[soak_report.CaseCount], Counter[int]]:
    """`rate` requests per second, open loop, for `seconds`; what each case was answered, and how
    many answers were wrong in each minute of the load."""
    sender = target.sender()
    await sender.prepare(CONNECTIONS)
    outcomes = await Generator(sender, TIMEOUT_S, 1000).run(schedule([Phase(seconds, rate)]))
    sender.close()
    counts, wrong = [Counter[int]() for _ in target.cases], Counter[int]()
    for offset, status in zip(outcomes.scheduled, outcomes.status, strict=True):
        case = round(offset * rate) % len(target.cases)  # request k is sent at k / rate
        counts[case][status] += 1
        wrong[int(offset // 60)] += status != target.cases[case].expected
    cases = [
        soak_report.CaseCount(target.name, case.name, case.expected, dict(count))
        for case, count in zip(target.cases, counts, strict=True)
    ]
    return cases, wrong


@dataclass(frozen=True)
class Observed:
    capacities: list[float]
    capacity_cpu: float  # percent of its core this generator used while measuring them
    rates: list[float]
    counts: list[soak_report.CaseCount]
    wrong_by_minute: dict[str, dict[int, int]]
    samples: list[soak_report.Sample]
    before: dict[str, frozenset[int]]
    after: dict[str, frozenset[int]]


async def soak(targets: Sequence[Target], arguments: argparse.Namespace) -> Observed:
    cpu = time.process_time()
    capacities = await asyncio.gather(*(closed_loop(t, arguments.capacity_seconds) for t in targets))
    capacity_cpu = 100 * (time.process_time() - cpu) / arguments.capacity_seconds
    rates = [arguments.load * capacity for capacity in capacities]
    before = {t.name: frozenset(t.pids()) for t in targets}
    offered = asyncio.gather(*(offer(t, r, arguments.seconds) for t, r in zip(targets, rates, strict=True)))
    answers, samples = await asyncio.gather(offered, sample_rss(targets, arguments.seconds, arguments.sample))
    after = {t.name: frozenset(t.pids()) for t in targets}
    flat = [case for cases, _ in answers for case in cases]
    wrong = {t.name: dict(by_minute) for t, (_, by_minute) in zip(targets, answers, strict=True)}
    return Observed(list(capacities), capacity_cpu, rates, flat, wrong, samples, before, after)


def header(
    arguments: argparse.Namespace, targets: Sequence[Target], seen: Observed, usage: float
) -> list[str]:
    lines = [
        f"Written by `{shlex.join(['.venv/bin/python', 'bench/soak.py', *sys.argv[1:]])}` on {machine.now()}",
        f"({arguments.seconds:.0f} s of load, RSS judged after {arguments.warmup:.0f} s, sampled every"
        f" {arguments.sample:.0f} s; {os.cpu_count()} CPUs, load average at the end {machine.load_average()}).",
        "",
    ]
    for target, capacity, rate in zip(targets, seen.capacities, seen.rates, strict=True):
        lines.append(
            f"- {target.name}: `{target.server.commands[0]}`; capacity {capacity:,.0f} req/s closed loop"
            f" ({CONNECTIONS} in flight, both servers at once), offered {rate:,.0f} req/s"
            f" ({arguments.load:.0%}), round robin over {len(target.cases)} cases."
        )
    lines.append(
        f"- This generator (CPU {LOAD_CPU}) used {seen.capacity_cpu:.0f}% of its core while measuring the"
        f" capacity (near 100%: it, not the servers, set the capacity) and {usage:.0f}% over the run."
    )
    return lines


def run(arguments: argparse.Namespace, work: Path) -> soak_report.Soak:
    xgboost = xgboost_model(work)
    with (
        start_ours("iris", CHECKOUT / "model", work, WORKERS) as iris,
        start_ours("xgboost", xgboost.directory, work, WORKERS) as booster,
    ):
        targets = [Target("iris", iris, iris_cases()), Target("xgboost", booster, xgboost_cases())]
        cpu, wall = time.process_time(), time.monotonic()
        seen = asyncio.run(soak(targets, arguments))
        usage = 100 * (time.process_time() - cpu) / (time.monotonic() - wall)
    soak_report.write_csv(arguments.out.with_suffix(".csv"), seen.samples)
    growth = soak_report.memory_verdict(seen.samples, arguments.warmup)
    lines = header(arguments, targets, seen, usage)
    return soak_report.Soak(lines, seen.counts, growth, seen.before, seen.after, seen.wrong_by_minute)


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=3600.0, help="seconds of load (3600)")
    parser.add_argument("--warmup", type=float, help="seconds before RSS is judged (a sixth of --seconds)")
    parser.add_argument("--load", type=float, default=0.7, help="share of the measured capacity (0.7)")
    parser.add_argument("--sample", type=float, default=5.0, help="seconds between RSS samples (5)")
    parser.add_argument("--capacity-seconds", type=float, default=30.0, help="closed-loop measurement (30)")
    parser.add_argument("--out", type=Path, default=CHECKOUT / "bench" / "results" / "soak", help="PREFIX")
    arguments = parser.parse_args(argv)
    if arguments.warmup is None:
        arguments.warmup = arguments.seconds / 6
    return arguments


def main(argv: Sequence[str]) -> int:
    arguments = parse(argv)
    os.sched_setaffinity(0, {LOAD_CPU})
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="byom-soak-") as work:
        result = run(arguments, Path(work))
    arguments.out.with_suffix(".md").write_text(soak_report.markdown(result))
    print(soak_report.markdown(result))
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
