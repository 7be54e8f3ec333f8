"""`python bench/multi_model.py [--rounds N] [--seconds S]`: a multi-model endpoint against the
single-model server, on the same machine, in the same run.

Owns three measurements, written to bench/results/multi-model.md (and .json):
- invoke against /invocations: one CSV row to the 200-tree XGBoost model, through
  `POST /models/xgb/invoke` of a multi-model server holding it and through `/invocations` of the
  single-model server, wrk -t1 -c16 for requests/s and the server's CPU per request at a fixed rate
  (open loop, `byom loadtest`), rounds alternating which side goes first, each on fresh servers;
- each kind of model's load: the time `POST /models` took and the memory (PSS of the master and
  all its workers) it added and an unload gave back: the demo tree (served from its export), the
  XGBoost model, a 28 MiB forest of 40 deep trees (skops);
- /ping while MODEL_COUNT models load, 4 loads at a time: every /ping's latency, each on a new
  connection every 10 ms, against /ping with nothing loading.
Servers run 3 workers x 4 threads pinned to the server CPU, the load on the other (as `make bench`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import load
import numpy as np
import requests
import skops.io
from models import DEMO_MODEL, csv_body, feature_rows, xgboost_model
from procs import children, memory_kib, tree_cpu_seconds
from servers import Server, start_ours
from sklearn.ensemble import RandomForestClassifier
from stats import median

RESULTS = Path(__file__).resolve().parent / "results"
WORKERS = 3
THREADS = 4
CONNECTIONS = 16
WARMUP_SECONDS = 3
FIXED_RATE = 1000.0
MODEL_COUNT = 20
MIB = 1024 * 1024


def build_root(work: Path) -> dict[str, Path]:
    """The models under a SageMaker-shaped root, by name: the demo tree, the XGBoost model, the
    forest, and copies of the tree and the XGBoost model up to MODEL_COUNT."""
    root = work / "models"
    dirs: dict[str, Path] = {}
    dirs["tree"] = _copy(DEMO_MODEL, root / "tree" / "model")
    dirs["xgb"] = _copy(xgboost_model(work).directory, root / "xgb" / "model")
    forest_dir = root / "forest" / "model"
    forest_dir.mkdir(parents=True)
    rng = np.random.default_rng(0)
    forest = RandomForestClassifier(n_estimators=40, random_state=0)
    skops.io.dump(
        forest.fit(rng.normal(size=(20_000, 4)), rng.integers(0, 2, 20_000)), forest_dir / "model.skops"
    )
    dirs["forest"] = forest_dir
    for index in range(MODEL_COUNT - len(dirs)):
        source = dirs["tree"] if index % 2 else dirs["xgb"]
        dirs[f"copy-{index}"] = _copy(source, root / f"copy-{index}" / "model")
    return dirs


def _copy(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def many(root: Path, work: Path) -> Server:
    extra = {"SAGEMAKER_MULTI_MODEL": "true", "BYOM_MODEL_ROOT": str(root)}
    return start_ours("multi-model", DEMO_MODEL, work, WORKERS, THREADS, extra=extra)


def load_model(server: Server, name: str, directory: Path) -> float:
    started = time.perf_counter()
    reply = requests.post(
        f"{server.url}/models", json={"model_name": name, "url": str(directory)}, timeout=300
    )
    if reply.status_code != 200:
        raise RuntimeError(f"load {name}: {reply.status_code} {reply.text}")
    return time.perf_counter() - started


def unload_model(server: Server, name: str) -> float:
    started = time.perf_counter()
    reply = requests.delete(f"{server.url}/models/{name}", timeout=300)
    if reply.status_code != 200:
        raise RuntimeError(f"unload {name}: {reply.status_code} {reply.text}")
    return time.perf_counter() - started


def pss_mib(server: Server) -> float:
    master = server.processes[0].pid
    return sum(memory_kib(pid)["Pss"] for pid in [master, *children(master)]) / 1024


def invoke_round(
    dirs: dict[str, Path], work: Path, seconds: float, order: list[str]
) -> dict[str, dict[str, float]]:
    body = work / "xgboost.csv"
    body.write_bytes(csv_body(feature_rows(1, seed=1)))
    script = load.post_script(work / "xgboost.lua", body, "text/csv")
    found: dict[str, dict[str, float]] = {}
    for side in order:
        if side == "invocations":
            server, path = start_ours("single", dirs["xgb"], work, WORKERS, THREADS), "/invocations"
        else:
            server, path = many(dirs["xgb"].parents[1], work), "/models/xgb/invoke"
            load_model(server, "xgb", dirs["xgb"])
        with server:
            load.wrk(server.url + path, WARMUP_SECONDS, CONNECTIONS, script)
            result = load.wrk(server.url + path, seconds, CONNECTIONS, script)
            if not result.clean:
                raise RuntimeError(f"{side}: {result.non_2xx} non-2xx, {result.socket_errors} socket errors")
            found[side] = {
                "requests_per_s": result.requests_per_s,
                "cpu_us": cpu_per_request(server, path, body, seconds, work),
            }
        print(f"multi-model: {side}: {found[side]}", file=sys.stderr)
    return found


def cpu_per_request(server: Server, path: str, body: Path, seconds: float, work: Path) -> float:
    """The server's CPU microseconds per request at FIXED_RATE, open loop (`byom loadtest`)."""
    pids = [process.pid for process in server.processes]
    before = tree_cpu_seconds(pids)
    result = load.open_loop(
        server.url, seconds, FIXED_RATE, body, "text/csv", work / f"{server.name}-open", path
    )
    if not result.clean:
        raise RuntimeError(f"{server.name}: errors at {FIXED_RATE} req/s: {result.errors}")
    return (tree_cpu_seconds(pids) - before) / result.requests * 1e6


def loads_and_memory(dirs: dict[str, Path], work: Path) -> list[dict[str, Any]]:
    rows = []
    with many(dirs["tree"].parents[1], work) as server:
        for name in ("tree", "xgb", "forest"):
            before = pss_mib(server)
            seconds = load_model(server, name, dirs[name])
            loaded = pss_mib(server)
            unload_seconds = unload_model(server, name)
            rows.append({
                "model": name, "files_mib": sum(p.stat().st_size for p in dirs[name].rglob("*") if p.is_file()) / MIB,
                "load_s": seconds, "unload_s": unload_seconds, "pss_before_mib": before,
                "pss_loaded_mib": loaded, "pss_unloaded_mib": pss_mib(server),
            })  # fmt: skip
            print(f"multi-model: {rows[-1]}", file=sys.stderr)
    return rows


def ping_while_loading(dirs: dict[str, Path], work: Path) -> dict[str, Any]:
    with many(dirs["tree"].parents[1], work) as server:
        idle = pings(server, lambda: time.sleep(3))
        started = time.perf_counter()
        busy = pings(server, lambda: _load_all(server, dirs))
        seconds = time.perf_counter() - started
    return {
        "idle": _percentiles(idle),
        "loading": _percentiles(busy),
        "models": len(dirs),
        "load_all_s": seconds,
    }


def _load_all(server: Server, dirs: dict[str, Path]) -> None:
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda item: load_model(server, *item), dirs.items()))


def pings(server: Server, during: Any) -> list[float]:
    latencies: list[float] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.01):
            started = time.perf_counter()
            requests.get(server.url + "/ping", timeout=10).raise_for_status()
            latencies.append(time.perf_counter() - started)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        during()
    finally:
        stop.set()
        watcher.join()
    return latencies


def _percentiles(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "count": len(ordered),
        "p50_ms": 1000 * ordered[len(ordered) // 2],
        "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "max_ms": 1000 * ordered[-1],
    }


def report(rounds: list[dict[str, dict[str, float]]], memory: list[dict[str, Any]], pinging: dict[str, Any],
           seconds: float) -> str:  # fmt: skip
    lines = [
        "# A multi-model endpoint against the single-model server",
        "",
        "Written by `python bench/multi_model.py`; the method is in its docstring. "
        f"{len(rounds)} rounds of {seconds:g} s per side, alternating which side goes first.",
        "",
        "## One XGBoost row (200 trees): `POST /models/xgb/invoke` against `/invocations`",
        "",
        "| | requests/s (median, range) | CPU us/request at 1,000 req/s (median, range) |",
        "|---|---|---|",
    ]
    for side in ("invocations", "invoke"):
        rps = [r[side]["requests_per_s"] for r in rounds]
        cpu = [r[side]["cpu_us"] for r in rounds]
        lines.append(f"| {side} | {median(rps):,.0f} ({min(rps):,.0f}-{max(rps):,.0f}) | "
                     f"{median(cpu):,.0f} ({min(cpu):,.0f}-{max(cpu):,.0f}) |")  # fmt: skip
    ratios = [r["invoke"]["requests_per_s"] / r["invocations"]["requests_per_s"] for r in rounds]
    lines += ["", f"invoke / invocations, requests/s, paired by round: median {median(ratios):.3f} "
              f"({min(ratios):.3f}-{max(ratios):.3f}).", ""]  # fmt: skip
    lines += [
        f"## Each model's load ({WORKERS} workers; PSS of the master and every worker, MiB)",
        "",
        "| model | files MiB | load s | unload s | PSS before | loaded | unloaded |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in memory:
        lines.append(f"| {row['model']} | {row['files_mib']:.2f} | {row['load_s']:.3f} | {row['unload_s']:.3f} | "
                     f"{row['pss_before_mib']:.0f} | {row['pss_loaded_mib']:.0f} | {row['pss_unloaded_mib']:.0f} |")  # fmt: skip
    idle, busy = pinging["idle"], pinging["loading"]
    lines += [
        "",
        f"## /ping while {pinging['models']} models load, 4 at a time ({pinging['load_all_s']:.1f} s in all)",
        "",
        "| | pings | p50 ms | p99 ms | max ms |",
        "|---|---|---|---|---|",
        f"| nothing loading | {idle['count']} | {idle['p50_ms']:.1f} | {idle['p99_ms']:.1f} | {idle['max_ms']:.1f} |",
        f"| loading | {busy['count']} | {busy['p50_ms']:.1f} | {busy['p99_ms']:.1f} | {busy['max_ms']:.1f} |",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="byom-bench-mme-") as temporary:
        work = Path(temporary)
        dirs = build_root(work)
        rounds = [
            invoke_round(
                dirs, work, options.seconds, ["invocations", "invoke"][:: 1 if index % 2 == 0 else -1]
            )
            for index in range(options.rounds)
        ]
        memory = loads_and_memory(dirs, work)
        pinging = ping_while_loading(dirs, work)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "multi-model.json").write_text(
        json.dumps(
            {"rounds": rounds, "memory": memory, "ping": pinging, "seconds": options.seconds}, indent=2
        )
        + "\n"
    )
    (RESULTS / "multi-model.md").write_text(report(rounds, memory, pinging, options.seconds))
    print((RESULTS / "multi-model.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
