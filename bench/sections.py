"""The six measurements of the report, one function each.

Owns: what each section starts, sends and computes. Every function starts the servers it needs
inside `with` blocks (so they are stopped whatever happens), measures, and returns report
Sections; numbers compared with each other always come from the same run.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import client
import load
import machine
import numpy as np
from image_start import ImageStarts, image_starts
from models import (
    DEMO_MODEL,
    IRIS_ROW,
    BoosterModel,
    csv_body,
    feature_rows,
    iris_models,
    json_body,
    load_booster,
    parse_csv,
    served_model,
    slow_xgboost_model,
    xgboost_model,
)
from procs import children, cpu_busy_seconds, memory_kib, tree_cpu_seconds
from refenv import ReferenceEnv
from report import Section, Table, count, ms, percent, runs, times
from servers import Server, start_ours, start_reference, start_trivial
from stats import median, percentile, ratio

BENCH = Path(__file__).resolve().parent
POST_CSV_LUA = BENCH / "post-csv.lua"  # POSTs IRIS_ROW
CSV = "text/csv"
JSON = "application/json"
WORKERS = 3  # 2 x 1 core + 1: the server has CPU 0 only
THREADS = 4  # BYOM_WORKER_THREADS, the server's default
WRK_CONNECTIONS = 16
HEY_CONNECTIONS = 8
LOW_RATE = 100  # req/s on one connection: the unloaded round trip
CONTENTION = 0.10  # CPU 0 used by others (or stolen) above this share of a run is reported
PAYLOAD_BUDGET = 5 * 1024 * 1024  # under the reference's 5m and our 6 MiB limits
TRIVIAL_POST = "trivial POST handler (1-row body)"  # bench/trivial.py: the ceiling of /invocations


@dataclass(frozen=True)
class Plan:
    mode: str
    seconds: float  # one load measurement
    runs: int  # load measurements per configuration (median reported)
    warmup_s: float
    sequential: int  # timed requests (and in-process calls) in section 3
    cold_starts: int
    long_request_s: float  # what one long request of section 4 should take alone


FULL = Plan("full", seconds=10, runs=3, warmup_s=3, sequential=10, cold_starts=5, long_request_s=3.0)
QUICK = Plan("quick", seconds=3, runs=1, warmup_s=1, sequential=3, cold_starts=1, long_request_s=1.0)


class LoadResult(Protocol):
    def to_json(self) -> dict[str, Any]: ...


Result = TypeVar("Result", bound=LoadResult)


@dataclass(frozen=True)
class CpuUse:
    """How CPU 0 was used during a run (shares of its wall time; 1.0 = the whole core)."""

    server: float  # CPU time of the server's processes (master, workers; nginx for the sample)
    busy: float  # CPU 0 busy, whoever used it: above `server` means something else ran there
    steal: float  # CPU 0 time the hypervisor gave to someone else

    @property
    def contended(self) -> bool:
        return self.busy - self.server > CONTENTION or self.steal > CONTENTION

    def percentages(self) -> str:
        return f"{100 * self.server:.0f}/{100 * self.busy:.0f}"

    def to_json(self) -> dict[str, Any]:
        return {"server_cpu": self.server, "cpu0_busy": self.busy, "cpu0_steal": self.steal}


@dataclass(frozen=True)
class Measured(Generic[Result]):
    """A load generator's run (wrk's, or byom loadtest's) and how CPU 0 was used during it."""

    result: Result
    cpu: CpuUse

    def to_json(self) -> dict[str, Any]:
        return {**self.result.to_json(), **self.cpu.to_json()}


Wrk = Measured[load.WrkResult]
OpenLoopRun = Measured[load.OpenLoopResult]


def measuring_cpu(server: Server, run: Callable[[], Result]) -> tuple[Result, CpuUse]:
    """run()'s result, and how CPU 0 was used while it ran."""
    pids = [process.pid for process in server.processes]
    busy_before, steal_before = cpu_busy_seconds(load.SERVER_CPU)
    own_before = tree_cpu_seconds(pids)
    started = time.monotonic()
    result = run()
    wall = time.monotonic() - started
    busy, steal = cpu_busy_seconds(load.SERVER_CPU)
    own = tree_cpu_seconds(pids) - own_before
    return result, CpuUse(
        server=own / wall, busy=(busy - busy_before) / wall, steal=(steal - steal_before) / wall
    )


def measured_wrk(server: Server, url: str, seconds: float, script: Path | None) -> Wrk:
    return Measured(*measuring_cpu(server, lambda: load.wrk(url, seconds, WRK_CONNECTIONS, script)))


def saturate(targets: dict[str, tuple[Server, str, Path | None]], plan: Plan) -> dict[str, list[Wrk]]:
    """wrk on each target: a warm-up, then `plan.runs` rounds with the targets interleaved."""
    for _, url, script in targets.values():
        load.wrk(url, plan.warmup_s, WRK_CONNECTIONS, script)
    results: dict[str, list[Wrk]] = {name: [] for name in targets}
    for _ in range(plan.runs):
        for name, (server, url, script) in targets.items():
            results[name].append(measured_wrk(server, url, plan.seconds, script))
    return results


def rates(results: list[Wrk]) -> list[float]:
    return [result.result.requests_per_s for result in results]


def middle(results: list[Wrk]) -> Wrk:
    """The run with the median rate (the upper median for an even count)."""
    return sorted(results, key=lambda result: result.result.requests_per_s)[len(results) // 2]


def cpu_use(results: Sequence[Measured[Any]]) -> str:
    """Server CPU and CPU 0 busy, run by run, as "server/busy" percentages."""
    return " / ".join(r.cpu.percentages() for r in results)


def dirty_runs(results: dict[str, list[Wrk]]) -> list[str]:
    return [
        f"WARNING: {name}: a run had {r.result.non_2xx} non-2xx answers and {r.result.socket_errors} socket errors"
        for name, found in results.items()
        for r in found
        if not r.result.clean
    ]


def contention(results: Mapping[str, Sequence[Measured[Any]]]) -> list[str]:
    """Runs where CPU 0 was busy with something other than the server, or stolen by the hypervisor."""
    return [
        f"WARNING: {name}, run {index}: CPU 0 was {100 * r.cpu.busy:.0f}% busy but the server used"
        f" {100 * r.cpu.server:.0f}% (steal {100 * r.cpu.steal:.0f}%): it shared its core; its figures are not"
        " comparable."
        for name, found in results.items()
        for index, r in enumerate(found, 1)
        if r.cpu.contended
    ]


CPU_NOTE = (
    "CPU % (server/CPU 0 busy), per run: the CPU time of the server's processes (master and workers; nginx"
    " too for the sample) over the run's length, then all use of CPU 0 by anyone. 100/100 is a server that"
    " had the core to itself and used all of it."
)


def process_memory(server: Server) -> list[dict[str, Any]]:
    """Peak and current RSS of each process of a server and of its children (its workers)."""
    rows = []
    for process, program in zip(server.processes, server.programs, strict=True):
        for pid in [process.pid, *children(process.pid)]:
            role = "master" if pid == process.pid else "worker"
            rows.append(
                {"server": server.name, "process": f"{program} {role}", "pid": pid, **memory_kib(pid)}
            )
    return rows


def body_file(work: Path, name: str, body: bytes) -> Path:
    path = work / name
    path.write_bytes(body)
    return path


# 1 ---------------------------------------------------------------------------------------------


def section_iris(plan: Plan, work: Path, ref_env: ReferenceEnv) -> Section:
    section = Section(
        "iris", "1. Single-row iris CSV on the decision tree: our server vs the AWS sample's stack"
    )
    models = iris_models(work)
    with (
        start_ours("iris-ours", models.ours, work, WORKERS, THREADS) as ours,
        start_reference("iris-reference", models.reference, work / "reference", ref_env, WORKERS) as ref,
        start_trivial("iris-trivial", models.ours, work, WORKERS, THREADS) as trivial,
    ):
        answers = {s.name: client.request(s.port, "POST", "/invocations", IRIS_ROW, CSV) for s in (ours, ref)}
        targets: dict[str, tuple[Server, str, Path | None]] = {
            "ours /invocations": (ours, ours.url + "/invocations", POST_CSV_LUA),
            "reference /invocations": (ref, ref.url + "/invocations", POST_CSV_LUA),
            "ours /ping": (ours, ours.url + "/ping", None),
            "reference /ping": (ref, ref.url + "/ping", None),
            TRIVIAL_POST: (trivial, trivial.url + "/invocations", POST_CSV_LUA),
        }
        results = saturate(targets, plan)
        capacity = median(rates(results["ours /invocations"]))
        row = body_file(work, "iris-row.csv", IRIS_ROW)
        fixed: dict[str, load.HeyResult] = {}
        for rate, connections, load_name in ((capacity / 2, HEY_CONNECTIONS, "half"), (LOW_RATE, 1, "low")):
            for name, server in (("ours", ours), ("reference", ref)):
                url = server.url + "/invocations"
                fixed[f"{name}, {load_name}"] = load.hey(url, plan.seconds, rate, connections, row, CSV)
        reference_capacity = median(rates(results["reference /invocations"]))
        open_loop = open_loop_runs(plan, work, row, ours, capacity, ref, reference_capacity)
        reference_memory = process_memory(ref)
        section.commands = [*ours.commands, *ref.commands, *trivial.commands]
    section.commands += [middle(found).result.command for found in results.values()]
    section.commands += [result.command for result in fixed.values()]
    section.commands += [found[0].result.command for found in open_loop.values()]

    saturation = Table(
        ["Server", "/invocations req/s", "runs", "CPU %", "p50 ms", "p99 ms", "/ping req/s", "/ping runs",
         "/invocations ÷ /ping"]
    )  # fmt: skip
    summary: dict[str, Any] = {}
    for name in ("ours", "reference"):
        inv, ping = results[f"{name} /invocations"], results[f"{name} /ping"]
        inv_rate, ping_rate = median(rates(inv)), median(rates(ping))
        typical = middle(inv)
        label = (
            f"ours (gthread, {WORKERS} workers x {THREADS} threads)"
            if name == "ours"
            else f"AWS sample (nginx -> {ref_env.worker_class}, {WORKERS} workers)"
        )
        saturation.add(
            label, count(inv_rate), runs(rates(inv)), cpu_use(inv), ms(typical.result.p50_ms),
            ms(typical.result.p99_ms), count(ping_rate), runs(rates(ping)), percent(ratio(inv_rate, ping_rate)),
        )  # fmt: skip
        summary[name] = {"invocations_rps": inv_rate, "ping_rps": ping_rate}
    trivial_rate = median(rates(results[TRIVIAL_POST]))
    typical = middle(results[TRIVIAL_POST])
    saturation.add(
        f"{TRIVIAL_POST}, on our gunicorn command line", count(trivial_rate), runs(rates(results[TRIVIAL_POST])),
        cpu_use(results[TRIVIAL_POST]), ms(typical.result.p50_ms), ms(typical.result.p99_ms), "", "", "",
    )  # fmt: skip
    summary["ours"]["trivial_post_rps"] = trivial_rate
    summary["ours"]["fraction_of_trivial_post"] = ratio(summary["ours"]["invocations_rps"], trivial_rate)
    speedup = ratio(summary["ours"]["invocations_rps"], summary["reference"]["invocations_rps"])
    ping_speedup = ratio(summary["ours"]["ping_rps"], summary["reference"]["ping_rps"])
    saturation.add(
        "**ours ÷ AWS sample**", f"**{times(speedup)}**", "", "", "", "", times(ping_speedup), "", ""
    )

    fixed_table = Table(
        ["Server", "offered req/s", "achieved req/s", "p50 ms", "p99 ms", "slowest ms", "non-200 / errors"]
    )
    for name, result in fixed.items():
        server_name, load_name = name.split(", ")
        label = f"{server_name}: {'half our capacity' if load_name == 'half' else 'low load'}, c={result.connections}"
        fixed_table.add(
            label, count(result.offered_per_s), count(result.achieved_per_s), ms(result.p50_ms),
            ms(result.p99_ms), ms(result.slowest_ms), f"{result.non_200} / {result.errors}",
        )  # fmt: skip
    section.tables = [saturation, fixed_table, open_loop_table(open_loop)]
    summary["ours"]["open_loop_half_p99_ms"] = median([r.result.p99_ms for r in open_loop[OPEN_HALF]])
    same = answers["iris-ours"].body == answers["iris-reference"].body
    section.notes = [
        f"Both answer `{IRIS_ROW.decode()}` with {answers['iris-ours'].body!r} (ours) and"
        f" {answers['iris-reference'].body!r} (sample): {'identical' if same else 'DIFFERENT'}.",
        f"Reference: {ref_env.note}. Both stacks run at once, each pinned to CPU 0 with 3 workers, one idle"
        " while the other is measured; the runs alternate between them.",
        f"Saturation: wrk -t1 -c{WRK_CONNECTIONS} (keep-alive) for {plan.seconds:g} s per run after a"
        f" {plan.warmup_s:g} s warm-up; runs listed in order; p50/p99 from the median run (latency at saturation"
        " is mostly queueing).",
        f"Fixed load: hey with {HEY_CONNECTIONS} keep-alive workers for {plan.seconds:g} s at half of our"
        f" median capacity ({count(capacity / 2)} req/s offered, one request per worker every"
        f" {1000 * HEY_CONNECTIONS / (capacity / 2):.1f} ms), then {LOW_RATE} req/s on one connection for the"
        " unloaded round trip. hey's workers tick in step, so the requests arrive in bursts of"
        f" {HEY_CONNECTIONS}: the p50 includes waiting behind the rest of the burst on the one server core. A"
        " worker waits for each answer and skips the ticks it missed, so a server slower than offered gets"
        " fewer requests (the achieved rate) instead of a growing queue: an overloaded server's latency here"
        " is bounded by the connection count, not by its queue. hey reports latencies to 0.1 ms.",
        OPEN_LOOP_NOTE.format(runs=plan.runs, seconds=plan.seconds),
        f"The ceilings: /ping, a GET, and the {TRIVIAL_POST} (bench/trivial.py: it reads the body and answers"
        " one line, run by the gunicorn command line ./serve runs, same worker class, workers, threads and"
        f" access log). Ours reaches {percent(summary['ours']['fraction_of_trivial_post'])} of the trivial"
        " POST handler's rate.",
        CPU_NOTE,
        *dirty_runs(results),
        *contention(results),
        *[
            f"WARNING: hey on {n}: {r.non_200} non-200 answers, {r.errors} errors"
            for n, r in fixed.items()
            if not r.clean
        ],
        *[
            f"WARNING: open loop on {n}: errors {r.result.errors}"
            for n, found in open_loop.items()
            for r in found
            if not r.result.clean
        ],
        *contention(open_loop),
    ]
    section.data = {
        "summary": summary,
        "ours_vs_reference": speedup,
        "reference_worker_class": ref_env.worker_class,
        "answers": {name: answer.body.decode() for name, answer in answers.items()},
        "saturation": {name: [r.to_json() for r in found] for name, found in results.items()},
        "fixed_rate": {name: result.to_json() for name, result in fixed.items()},
        "open_loop": {name: [r.to_json() for r in found] for name, found in open_loop.items()},
        "reference_memory": reference_memory,
    }
    return section


OPEN_HALF = "ours: half our capacity"
OPEN_LOOP_NOTE = (
    "Open loop (the p99 target is read here): `python -m byom loadtest` (byom/measure/loadgen.py) on CPU 1 sends"
    " request k at k / rate seconds whatever the earlier ones do, evenly spaced, on keep-alive connections"
    " (16 opened beforehand, the last one freed reused first, another opened when none is free), and times"
    " each from its scheduled send, so a late answer or a late client counts against the server. This is"
    " a fixed offered load as the issue means it: a population of independent clients, as behind"
    " SageMaker's front end, never waits for our answers. hey's table above stays for comparison with"
    " earlier runs, but its workers tick in lock-step (bursts of"
    f" {HEY_CONNECTIONS} no real client population sends) and each waits for its answer (coordinated"
    " omission). Ours at half capacity: runs of {seconds:g} s, {runs} of them, p99 of the median run and"
    " every run listed; then ours at 100 req/s (both cores idle between requests, and every request pays"
    " for waking them: slower than at half capacity), and the sample's stack at half of its own capacity."
    " The generator is Python: its CPU share of the load core is listed, and its own scheduling delays"
    " are part of every latency here."
)


def open_loop_runs(
    plan: Plan, work: Path, row: Path, ours: Server, capacity: float, ref: Server, reference_capacity: float
) -> dict[str, list[OpenLoopRun]]:
    """Open-loop runs: ours at half its capacity (plan.runs times), ours at LOW_RATE, the sample at half its own."""
    loads = [
        (OPEN_HALF, "half", ours, capacity / 2, plan.runs),
        ("ours: low load", "low", ours, LOW_RATE, 1),
        ("reference: half its capacity", "half", ref, reference_capacity / 2, 1),
    ]
    return {
        name: [
            _open_loop(plan, server, rate, row, work / f"open-loop-{server.name}-{key}-{i}")
            for i in range(times)
        ]
        for name, key, server, rate, times in loads
    }


def _open_loop(plan: Plan, server: Server, rate: float, row: Path, out_prefix: Path) -> OpenLoopRun:
    return Measured(
        *measuring_cpu(server, lambda: load.open_loop(server.url, plan.seconds, rate, row, CSV, out_prefix))
    )


def open_loop_table(found: dict[str, list[OpenLoopRun]]) -> Table:
    table = Table(
        [
            "Open loop",
            "offered req/s",
            "requests",
            "p50 ms",
            "p99 ms",
            "p99 ms, each run",
            "CPU % (server/CPU 0 busy), each run",
            "generator CPU %",
            "errors",
        ]
    )
    for name, runs_ in found.items():
        results = [run.result for run in runs_]
        typical = sorted(results, key=lambda result: result.p99_ms)[len(results) // 2]
        errors = ", ".join(f"{code}: {n}" for r in results for code, n in r.errors.items()) or "none"
        table.add(
            name, count(typical.offered_per_s), count(typical.requests), ms(typical.p50_ms), ms(typical.p99_ms),
            " / ".join(ms(r.p99_ms) for r in results), cpu_use(runs_), f"{typical.generator_cpu_percent:.0f}",
            errors,
        )  # fmt: skip
    return table


# 2 and 3 ---------------------------------------------------------------------------------------


def section_xgboost(plan: Plan, work: Path) -> list[Section]:
    model = xgboost_model(work)
    bodies = {"1 row": csv_body(feature_rows(1, seed=11)), "100 rows": csv_body(feature_rows(100, seed=12))}
    scripts = {
        name: load.post_script(work / f"xgb-{rows}.lua", body_file(work, f"xgb-{rows}.csv", body), CSV)
        for (name, body), rows in zip(bodies.items(), (1, 100), strict=True)
    }
    with (
        start_ours("xgboost-200", model.directory, work, WORKERS, THREADS) as server,
        start_trivial("trivial-post", model.directory, work, WORKERS, THREADS) as trivial,
    ):
        statuses = {
            n: client.request(server.port, "POST", "/invocations", b, CSV).status for n, b in bodies.items()
        }
        targets: dict[str, tuple[Server, str, Path | None]] = {
            name: (server, server.url + "/invocations", script) for name, script in scripts.items()
        }
        targets[TRIVIAL_POST] = (trivial, trivial.url + "/invocations", scripts["1 row"])
        targets["/ping"] = (server, server.url + "/ping", None)
        results = saturate(targets, plan)
        throughput = _xgboost_table(plan, model, results, statuses)
        throughput.commands = [
            *server.commands,
            *trivial.commands,
            *(middle(found).result.command for found in results.values()),
        ]
        end_to_end = section_end_to_end(plan, server, model)
        end_to_end.commands = [*server.commands]
    return [throughput, end_to_end]


def _xgboost_table(
    plan: Plan, model: BoosterModel, results: dict[str, list[Wrk]], statuses: dict[str, int]
) -> Section:
    section = Section(
        "xgboost", f"2. XGBoost, {model.n_trees} trees of depth 6, 30 features: CSV requests/s on our server"
    )
    table = Table(
        ["Request", "req/s", "runs", "CPU %", "rows/s", "p50 ms", "p99 ms", "÷ trivial POST", "÷ /ping"]
    )
    trivial_rate, ping_rate = median(rates(results[TRIVIAL_POST])), median(rates(results["/ping"]))
    summary = {}
    for name, found in results.items():
        rate = median(rates(found))
        rows = {"1 row": 1, "100 rows": 100}.get(name, 0)
        typical = middle(found)
        table.add(
            name if rows or name == TRIVIAL_POST else "/ping (GET, trivial)", count(rate), runs(rates(found)),
            cpu_use(found), count(rate * rows) if rows else "", ms(typical.result.p50_ms), ms(typical.result.p99_ms),
            percent(ratio(rate, trivial_rate)), percent(ratio(rate, ping_rate)),
        )  # fmt: skip
        summary[name] = {
            "rps": rate,
            "ratio_to_trivial_post": ratio(rate, trivial_rate),
            "ratio_to_ping": ratio(rate, ping_rate),
        }
    section.tables = [table]
    section.notes = [
        f"The model: xgboost.train(binary:logistic, max_depth=6, eta=0.1, seed=0) for 200 rounds on 10,000"
        f" synthetic rows ({model.train_seconds:.1f} s to train), saved as {model.path.name}; it answers the"
        " probability.",
        f"Server pinned to CPU 0, {WORKERS} workers x {THREADS} threads; wrk -t1 -c{WRK_CONNECTIONS} on CPU 1,"
        f" {plan.seconds:g} s per run, {plan.runs} run(s) per request kind, interleaved, after a warm-up.",
        f"{TRIVIAL_POST}: bench/trivial.py, which reads the body and answers one line, on the gunicorn command"
        " line ./serve runs (same workers, threads, worker class and access log): the ceiling of /invocations.",
        f"First answers: {statuses}.",
        CPU_NOTE,
        *dirty_runs(results),
        *contention(results),
    ]
    section.data = {
        "n_trees": model.n_trees,
        "summary": summary,
        "saturation": {name: [r.to_json() for r in found] for name, found in results.items()},
    }
    return section


def section_end_to_end(plan: Plan, server: Server, model: BoosterModel) -> Section:
    section = Section(
        "large_bodies", "3. 10,000-row bodies on the XGBoost model: end to end vs in-process predict"
    )
    rows = feature_rows(10_000, seed=13)
    bodies = {"CSV": (csv_body(rows), CSV), "JSON": (json_body(rows), JSON)}
    array = parse_csv(bodies["CSV"][0])
    booster = load_booster(model.path, nthread=1)
    expected = booster.inplace_predict(array)
    served = served_model(model.path)
    table = Table(
        ["Body", "bytes", "end to end ms", "XGBoost predict ms", "end to end ÷ XGBoost predict",
         "our predict ms", "end to end ÷ our predict", "rows/s end to end", "answers = XGBoost's"]
    )  # fmt: skip
    data: dict[str, Any] = {"rows": len(array)}
    for name, (body, content_type) in bodies.items():
        client.timed_sequence(server.port, "/invocations", body, content_type, 1)  # warm-up
        InterleavedPredicts(booster, served, array)()  # warm-up
        predicts = InterleavedPredicts(booster, served, array)
        seconds, responses = client.timed_sequence(
            server.port, "/invocations", body, content_type, plan.sequential, after_each=predicts
        )
        statuses = sorted({r.status for r in responses})
        answered = (
            np.array(responses[-1].body.split(), dtype=np.float32) if statuses == [200] else np.array([])
        )
        identical = answered.shape == expected.shape and bool(np.array_equal(answered, expected))
        took, predict_s, ours_s = median(seconds), median(predicts.xgboost_s), median(predicts.ours_s)
        table.add(
            name, f"{len(body):,}", ms(took * 1000), ms(predict_s * 1000), times(ratio(took, predict_s)),
            ms(ours_s * 1000), times(ratio(took, ours_s)), count(len(array) / took),
            "yes" if identical else f"NO (statuses {statuses})",
        )  # fmt: skip
        data[name] = {
            "bytes": len(body),
            "end_to_end_s": seconds,
            "in_process_s": predicts.xgboost_s,
            "ours_in_process_s": predicts.ours_s,
            "statuses": statuses,
            "identical": identical,
        }
    section.tables = [table]
    section.notes = [
        f"End to end: {plan.sequential} sequential POSTs on one keep-alive connection from this script (CPU"
        f" {load.LOAD_CPU}), after one warm-up; median. The answer is text/csv, one probability per row.",
        "XGBoost predict: xgboost.Booster.inplace_predict on the parsed float64 array, nthread=1, timed after"
        f" each of those POSTs on CPU {load.SERVER_CPU}, the server's core, while the server idles: each ratio"
        " compares times taken on one core, a second apart at most; median. The same booster file the server"
        " loads.",
        "Our predict: the server's own predict path (container.flavours, one model thread) on the same array"
        f" in this process, here {type(served.walk).__name__}, timed beside XGBoost's. End to end ÷ our predict"
        " is the server's own overhead: HTTP, parsing, checks and writing the answer.",
    ]
    section.data = data
    return section


@dataclass
class InterleavedPredicts:
    """XGBoost's predict and the server's own on `array`, timed each time this is called, on the
    server's core (the server idles meanwhile): a call after each POST interleaves the three."""

    booster: Any
    served: Any
    array: np.ndarray
    xgboost_s: list[float] = field(default_factory=list)
    ours_s: list[float] = field(default_factory=list)

    def __call__(self) -> None:
        with machine.on_cpu(load.SERVER_CPU):
            self.xgboost_s.append(_timed_once(lambda: self.booster.inplace_predict(self.array)))
            self.ours_s.append(_timed_once(lambda: self.served.native(self.array)))


def _timed_once(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


# 4 ---------------------------------------------------------------------------------------------


def section_busy_ping(plan: Plan, work: Path) -> Section:
    section = Section("busy_ping", "4. /ping latency while every worker is busy (2 workers, 2 long requests)")
    model = slow_xgboost_model(work)
    body, rows, alone_s = _long_body(model, plan.long_request_s)
    with start_ours("busy", model.directory, work, workers=2, threads=THREADS) as server:
        client.request(server.port, "POST", "/invocations", csv_body(feature_rows(10, seed=23)), CSV)
        idle = [client.ping(server.port).seconds * 1000 for _ in range(20)]
        attempts: list[dict[str, int]] = []
        for attempt in range(1, 5):
            longs, pings = _pings_during_long_requests(server.port, body, f"a{attempt}")
            served_by = _served_by(server.logs["serve"], [f"a{attempt}-{i}" for i in range(2)])
            attempts.append(served_by)
            if len(set(served_by.values())) == 2:
                break
        section.commands = [*server.commands]
    started, ended = max(r.started for r in longs), min(r.ended for r in longs)
    window = [
        (start - started, (end - start) * 1000)
        for start, end, _ in pings
        if start >= started and end <= ended
    ]
    during = [latency for _, latency in window]
    slowest_at = max(window, key=lambda ping: ping[1])[0] if window else math.nan
    statuses = sorted({str(status) for _, _, status in pings})
    table = Table(["Measure", "value"])
    table.add("long request: rows, bytes", f"{rows:,} rows, {len(body):,} bytes")
    table.add("long request alone, in-process predict (nthread=1)", f"{alone_s:.2f} s")
    table.add(
        "the 2 long requests, end to end (concurrent)",
        " / ".join(f"{r.seconds:.2f} s ({r.status})" for r in longs),
    )
    table.add("workers that served them (pids)", ", ".join(str(pid) for pid in served_by.values()))
    table.add("/ping answered while both ran", f"{len(during)} (statuses {', '.join(statuses)})")
    if during:
        table.add(
            "/ping p50 / p99 / max while busy",
            f"{ms(median(during))} / {ms(percentile(during, 0.99))} / {ms(max(during))} ms",
        )
        table.add("the slowest /ping was sent", f"{slowest_at:.2f} s after the second long request")
        table.add(
            "max /ping ÷ long request", percent(ratio(max(during) / 1000, min(r.seconds for r in longs)))
        )
    table.add("/ping p50 / max when idle (20 pings)", f"{ms(median(idle))} ms / {ms(max(idle))} ms")
    section.tables = [table]
    section.notes = [
        f"Model: {model.n_trees} trees of depth up to 12 (2 rounds of 1,000 parallel trees, 30 features,"
        f" {model.train_seconds:.1f} s to train). Body sized to take ~{plan.long_request_s:g} s alone in process.",
        "Server pinned to CPU 0 with SAGEMAKER_MODEL_SERVER_WORKERS=2 (4 threads each): the two predictions"
        " share the core, so each takes about twice its time alone.",
        "Pings: GET /ping on a new connection every 20 ms from this script (CPU 1); counted when sent after"
        " both long requests and answered before the first of them finished.",
        "The two long requests are sent at once on two connections; gunicorn does not choose the worker, the"
        " kernel hands each connection to whichever worker accepts first, so both can land on one worker while"
        " the other idles. Such an attempt is repeated (the table shows the last). Workers per attempt: "
        + "; ".join(", ".join(str(pid) for pid in found.values()) for found in attempts)
        + ("." if len(set(served_by.values())) == 2 else " (WARNING: never on two different workers)."),
    ]
    section.data = {
        "rows": rows, "bytes": len(body), "alone_in_process_s": alone_s,
        "long_requests_s": [r.seconds for r in longs], "long_statuses": [r.status for r in longs],
        "served_by": served_by, "attempts": attempts, "ping_during_ms": during, "ping_idle_ms": idle,
        "ping_during_p50_ms": median(during) if during else math.nan,
        "ping_during_max_ms": max(during) if during else math.nan,
        "ping_during_p99_ms": percentile(during, 0.99) if during else math.nan,
        "slowest_ping_sent_after_s": slowest_at,
        "ping_during_sent_after_s": [offset for offset, _ in window],
    }  # fmt: skip
    return section


def _long_body(model: BoosterModel, target_s: float) -> tuple[bytes, int, float]:
    """A CSV body within the payload budget that takes about `target_s` to predict on one thread."""
    booster = load_booster(model.path, nthread=1)
    probe = feature_rows(2_000, seed=21)
    booster.inplace_predict(probe[:10])  # the first call sets up the predictor
    started = time.perf_counter()
    booster.inplace_predict(probe)
    per_row = (time.perf_counter() - started) / len(probe)
    rows = max(1_000, int(target_s / per_row))
    body = csv_body(feature_rows(rows, seed=22))
    while len(body) > PAYLOAD_BUDGET:
        rows = int(rows * PAYLOAD_BUDGET / len(body) * 0.98)
        body = csv_body(feature_rows(rows, seed=22))
    started = time.perf_counter()
    booster.inplace_predict(parse_csv(body))
    return body, rows, time.perf_counter() - started


def _pings_during_long_requests(
    port: int, body: bytes, tag: str
) -> tuple[list[client.LongRequest], list[tuple[float, float, int | str]]]:
    longs = [client.LongRequest(port, body, CSV, timeout=300, inference_id=f"{tag}-{i}") for i in range(2)]
    pings: list[tuple[float, float, int | str]] = []
    give_up = time.monotonic() + 300
    while not all(r.done for r in longs) and time.monotonic() < give_up:
        started = time.monotonic()
        try:
            status: int | str = client.ping(port, timeout=60).status
        except OSError as error:
            status = type(error).__name__
        pings.append((started, time.monotonic(), status))
        time.sleep(0.02)
    for request in longs:
        request.join(60)
    return longs, pings


def _served_by(log: Path, inference_ids: list[str]) -> dict[str, int]:
    """The worker pid that logged each inference id (from our server's JSON access log)."""
    found: dict[str, int] = {}
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("inference_id") in inference_ids:
                found[record["inference_id"]] = record["pid"]
    return found


# 5 ---------------------------------------------------------------------------------------------


def section_cold_start(plan: Plan, work: Path, reference_memory: list[dict[str, Any]]) -> Section:
    section = Section("cold_start", "5. Cold start and memory (the demo iris tree)")
    model_dir = work / "cold-model"
    shutil.copytree(DEMO_MODEL, model_dir)
    startups: dict[int, list[float]] = {WORKERS: [], 1: []}
    memory: list[dict[str, Any]] = []
    for index in range(plan.cold_starts):
        for workers, found in startups.items():
            with start_ours(f"cold-{workers}w-{index}", model_dir, work, workers, THREADS) as server:
                found.append(server.startup_seconds)
                section.commands.append(server.commands[0])
                if workers == WORKERS and index == plan.cold_starts - 1:
                    load.wrk(
                        server.url + "/invocations", max(plan.warmup_s, 2), WRK_CONNECTIONS, POST_CSV_LUA
                    )
                    memory = process_memory(server)
    in_image = image_starts("byom:test", model_dir, WORKERS, plan.cold_starts)
    section.commands += in_image.commands
    start_table = Table(
        ["Workers (CPU 0 only)", f"spawn -> first 200 on /ping, median of {plan.cold_starts}", "each start"]
    )
    for workers, found in startups.items():
        label = f"{workers} (the benchmark's setting)" if workers == WORKERS else str(workers)
        _add_starts(start_table, label, found)
    _add_image_starts(start_table, in_image)
    memory_table = Table(["Server", "process", "pid", "peak RSS (VmHWM) MiB", "RSS now MiB", "PSS now MiB"])
    for name, rows in (("ours", memory), ("AWS sample", reference_memory)):
        for row in rows:
            memory_table.add(
                name, row["process"], row["pid"], f"{row['VmHWM'] / 1024:.1f}", f"{row['VmRSS'] / 1024:.1f}",
                f"{row['Pss'] / 1024:.1f}",
            )  # fmt: skip
        if rows:
            total = sum(row["Pss"] for row in rows) / 1024
            memory_table.add(f"**{name}**", "**all processes**", "", "", "", f"**{total:.1f}**")
    section.tables = [start_table, memory_table]
    section.notes = [
        f"Our server pinned to CPU 0, {THREADS} threads per worker; starts alternate between the two worker"
        " counts. Clock: from just before spawning ./serve to the first 200 from GET /ping (one connection at a"
        " time, a new one 5 ms after each failure). The first worker to load the model answers; the others may"
        " still be loading.",
        f"In the image ({in_image.image}: {in_image.note}): `serve` started in an idle container of the image"
        " pinned to CPU 0 and timed there by bench/start_clock.py on the image's python3, so Docker's start-up is"
        " not in the clock; then `docker run IMAGE serve` timed from the host to its first 200 (Docker's container"
        " start and port forwarding included, as a user sees it), and `docker run IMAGE true`, Docker's own share."
        " The image's CPython is its base image's (Debian's python3 in CI, built with profile-guided and link-time"
        " optimisation; python:3.11-slim's is built so too); this checkout's .venv may use another build.",
        f"Memory: our {WORKERS}-worker server after a {max(plan.warmup_s, 2):g} s wrk warm-up on /invocations;"
        " the sample's processes were read after section 1's load. RSS counts pages shared with the master"
        " (copy-on-write) in every process that maps them, so summing RSS overstates the total; PSS divides each"
        " shared page among its sharers, so the PSS sum is the stack's real footprint.",
    ]
    section.data = {
        "startup_s": {str(workers): found for workers, found in startups.items()},
        "image_startup_s": {
            "image": in_image.image,
            "note": in_image.note,
            "serve_in_container": in_image.inside,
            "docker_run_serve": in_image.docker_run,
            "docker_run_true": in_image.docker_true,
        },
        "memory_kib": memory,
        "reference_memory_kib": reference_memory,
    }
    return section


def _add_starts(table: Table, label: str, found: list[float]) -> None:
    table.add(label, f"{median(found):.2f} s", " / ".join(f"{s:.2f} s" for s in found))


def _add_image_starts(table: Table, found: ImageStarts) -> None:
    if not found.inside:
        table.add(f"{WORKERS}, in the image", found.note, "")
        return
    _add_starts(table, f"{WORKERS}, in the image (`serve` in a running container)", found.inside)
    _add_starts(table, f"{WORKERS}, in the image: `docker run IMAGE serve` from the host", found.docker_run)
    _add_starts(table, "Docker alone: `docker run --rm IMAGE true`", found.docker_true)


# 6 ---------------------------------------------------------------------------------------------


def section_image() -> Section:
    section = Section("image", "6. Image size")
    size, command = machine.docker_image_size("byom:test")
    table = Table(["Image", "size"])
    table.add("byom:test", size)
    section.tables = [table]
    section.commands = [command]
    section.data = {"byom:test": size}
    return section
