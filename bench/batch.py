"""`python bench/batch.py [--mib N] [--out FILE]`: batch transform's largest requests, against
the server's memory and against predicting in process.

Owns the measurements of bench/results/batch.md. Two cases, each a CSV body of `--mib` MiB
(100 by default, batch transform's largest): narrow rows (iris' 4 features) to the demo tree, and
rows of 30 features to the 200-tree XGBoost model (bench/models.py). Each case is sent once alone
and then `MaxConcurrentTransforms` times at once (what `/execution-parameters` advertises), to
`./serve` with SAGEMAKER_MAX_PAYLOAD_IN_MB=100 and 2 workers, pinned to the server CPU. Measured:
- peak memory: the resident memory of the master and every worker, summed, sampled every 5 ms,
  over what they held idle just before; and, as a bound, the sum of each process's own peak
  (VmHWM) over idle, after a fresh start;
- rows/s end to end (request sent to last byte received) against, in process on the same CPU:
  the server's own answer to the same body (decode, predict, encode: `Invoker.answer`) and the
  model's predict alone on the rows already decoded;
- time to first byte: from the first byte sent to the status line received.
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from load import CHECKOUT, SERVER_CPU
from machine import cpu_model, load_average, now, on_cpu
from models import DEMO_MODEL, N_FEATURES, xgboost_model
from procs import children, memory_kib
from servers import Server, start_ours

RESULTS = Path(__file__).resolve().parent / "results"
MIB = 1024 * 1024
WORKERS = 2
SAMPLE_SECONDS = 0.005


@dataclass(frozen=True)
class Case:
    name: str
    model_dir: Path
    body: bytes
    rows: int


@dataclass(frozen=True)
class Sent:
    status: int
    seconds: float
    first_byte_seconds: float
    reply_bytes: int


def narrow_body(mib: int) -> bytes:
    """Iris-like rows of 4 features (about 16 bytes a row), just under `mib` MiB."""
    rng = np.random.default_rng(0)
    rows = np.round(rng.uniform([4.3, 2.0, 1.0, 0.1], [7.9, 4.4, 6.9, 2.5], size=(mib * MIB // 15, 4)), 1)
    return _csv_within(rows, mib)


def wide_body(mib: int) -> bytes:
    """Rows of 30 features of 4 decimals (about 220 bytes a row), just under `mib` MiB."""
    rows = np.round(np.random.default_rng(1).normal(size=(mib * MIB // 200, N_FEATURES)), 4)
    return _csv_within(rows, mib)


def _csv_within(rows: np.ndarray, mib: int) -> bytes:
    lines = [",".join(map(str, row)) for row in rows.tolist()]
    body = ("\n".join(lines) + "\n").encode()
    if len(body) > mib * MIB:
        body = body[: body.rindex(b"\n", 0, mib * MIB) + 1]
    return body


def post(url_port: int, body: bytes) -> Sent:
    connection = http.client.HTTPConnection("127.0.0.1", url_port, timeout=600)
    started = time.perf_counter()
    connection.request("POST", "/invocations", body, {"Content-Type": "text/csv", "Accept": "text/csv"})
    response = connection.getresponse()
    first = time.perf_counter()
    reply = response.read()
    seconds = time.perf_counter() - started
    connection.close()
    return Sent(response.status, seconds, first - started, len(reply))


class Sampler:
    """The summed resident memory of a server's processes, sampled in a thread."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.peak = 0
        self.running = False
        self.thread = threading.Thread(target=self._run, daemon=True)

    def now(self) -> int:
        total = 0
        for pid in self.pids:
            with suppress(OSError, KeyError):
                total += memory_kib(pid)["VmRSS"] * 1024
        return total

    def _run(self) -> None:
        while self.running:
            self.peak = max(self.peak, self.now())
            time.sleep(SAMPLE_SECONDS)

    @contextmanager
    def sampling(self) -> Iterator[None]:
        self.running = True
        self.thread.start()
        try:
            yield
        finally:
            self.running = False
            self.thread.join()


def server_pids(server: Server) -> list[int]:
    """The master and its workers, once every worker has booted (the first answers /ping alone)."""
    master = server.processes[0].pid
    deadline = time.monotonic() + 60
    while len(children(master)) < WORKERS and time.monotonic() < deadline:
        time.sleep(0.05)
    return [master, *children(master)]


def wait_idle(sampler: Sampler, seconds: float = 1.0) -> int:
    """The processes' resident memory once it has stopped falling for `seconds`."""
    last = sampler.now()
    while True:
        time.sleep(seconds)
        current = sampler.now()
        if current >= last - MIB:
            return current
        last = current


def hwm_sum(pids: list[int]) -> int:
    return sum(memory_kib(pid)["VmHWM"] * 1024 for pid in pids)


def measure_server(case: Case, work: Path, concurrency: int) -> dict[str, Any]:
    extra = {"SAGEMAKER_MAX_PAYLOAD_IN_MB": "100", "SAGEMAKER_BATCH": "true"}
    with start_ours(f"batch-{case.name}-{concurrency}", case.model_dir, work, WORKERS, extra=extra) as server:
        post(server.port, case.body[: case.body.index(b"\n") + 1])  # every worker's first request
        pids = server_pids(server)
        sampler = Sampler(pids)
        idle = wait_idle(sampler)
        idle_hwm = hwm_sum(pids)
        started = time.perf_counter()
        with sampler.sampling(), ThreadPoolExecutor(concurrency) as pool:
            sent = list(pool.map(lambda _: post(server.port, case.body), range(concurrency)))
        wall = time.perf_counter() - started
        peak_hwm = hwm_sum(pids)
    assert all(one.status == 200 for one in sent), [one.status for one in sent]
    return {
        "concurrency": concurrency,
        "peak_over_idle": sampler.peak - idle,
        "hwm_over_idle": peak_hwm - idle_hwm,
        "rows_per_s": case.rows * concurrency / wall,
        "first_byte_s": [one.first_byte_seconds for one in sent],
        "seconds": [one.seconds for one in sent],
        "reply_bytes": sent[0].reply_bytes,
    }


def measure_in_process(case: Case) -> dict[str, float]:
    """Rows/s of the server's own answer, and of predict alone, in this process on the server CPU."""
    if str(CHECKOUT) not in sys.path:
        sys.path.insert(0, str(CHECKOUT))
    from container.flavours import load_model
    from container.invocations import Invoker
    from container.schema import conform
    from container.settings import Settings

    settings = Settings(model_dir=case.model_dir, max_payload_mb=100, batch=True)
    model = load_model(settings)
    invoker = Invoker(settings, model)
    plan = invoker.plan("text/csv", "text/csv", None)
    with on_cpu(SERVER_CPU):
        started = time.perf_counter()
        invoker.answer(plan, case.body)
        answer_s = time.perf_counter() - started
        rows = conform(plan.decoder(case.body, plan.params), model.schema)
        started = time.perf_counter()
        model.native(rows)
        predict_s = time.perf_counter() - started
    return {"answer_rows_per_s": case.rows / answer_s, "predict_rows_per_s": case.rows / predict_s}


def advertised_concurrency(case: Case, work: Path) -> int:
    extra = {"SAGEMAKER_MAX_PAYLOAD_IN_MB": "100", "SAGEMAKER_BATCH": "true"}
    with start_ours(f"batch-params-{case.name}", case.model_dir, work, WORKERS, extra=extra) as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        connection.request("GET", "/execution-parameters")
        parameters = json.loads(connection.getresponse().read())
    print(f"  /execution-parameters: {parameters}", flush=True)
    return int(parameters["MaxConcurrentTransforms"])


def cases(work: Path, mib: int) -> list[Case]:
    tree_dir = work / "iris"
    shutil.copytree(DEMO_MODEL, tree_dir)
    narrow, wide = narrow_body(mib), wide_body(mib)
    return [
        Case("iris tree, 4 features", tree_dir, narrow, narrow.count(b"\n")),
        Case("XGBoost 200 trees, 30 features", xgboost_model(work).directory, wide, wide.count(b"\n")),
    ]


def report(results: list[dict[str, Any]], command: str) -> str:
    lines = [
        "# Batch transform: 100 MiB requests at bounded memory",
        "",
        f"Command: `{command}` ({now()}; {cpu_model()}; load average {load_average()}; the machine was",
        "shared with other engineers' work, so rates are indicative; memory figures are not affected).",
        f"Server: `./serve`, {WORKERS} workers x 4 threads pinned to CPU {SERVER_CPU},",
        "SAGEMAKER_MAX_PAYLOAD_IN_MB=100, SAGEMAKER_BATCH=true; the client on the other CPU.",
        "",
        "| case | body MiB | rows | at once | peak RSS over idle (sampled) | x body | sum of VmHWM over idle | "
        "rows/s end to end | in-process answer rows/s | ratio | in-process predict rows/s | "
        "time to first byte s | reply MiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        body_mib = result["body_bytes"] / MIB
        for run in result["runs"]:
            total_mib = body_mib * run["concurrency"]
            lines.append(
                f"| {result['name']} | {body_mib:.1f} | {result['rows']:,} | {run['concurrency']} | "
                f"{run['peak_over_idle'] / MIB:.0f} MiB | {run['peak_over_idle'] / MIB / total_mib:.2f} | "
                f"{run['hwm_over_idle'] / MIB:.0f} MiB | {run['rows_per_s']:,.0f} | "
                f"{result['answer_rows_per_s']:,.0f} | {result['answer_rows_per_s'] / run['rows_per_s']:.2f}x | "
                f"{result['predict_rows_per_s']:,.0f} | "
                f"{', '.join(f'{s:.2f}' for s in run['first_byte_s'])} | {run['reply_bytes'] / MIB:.1f} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mib", type=int, default=100)
    parser.add_argument("--out", type=Path, default=RESULTS / "batch.md")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="byom-batch-") as temp:
        work = Path(temp)
        for case in cases(work, args.mib):
            print(f"{case.name}: {len(case.body) / MIB:.1f} MiB, {case.rows:,} rows", flush=True)
            concurrency = advertised_concurrency(case, work)
            result: dict[str, Any] = {"name": case.name, "rows": case.rows, "body_bytes": len(case.body)}
            result |= measure_in_process(case)
            result["runs"] = [measure_server(case, work, n) for n in sorted({1, concurrency})]
            print(f"  {result}", flush=True)
            results.append(result)
    command = "python bench/batch.py" + (f" --mib {args.mib}" if args.mib != 100 else "")
    args.out.write_text(report(results, command))
    print(args.out.read_text())


if __name__ == "__main__":
    main()
