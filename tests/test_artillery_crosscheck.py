"""The capacity arithmetic against an independent client: the same ramp through artillery and
through `byom loadtest` on one ./serve, one after the other, each planned by `byom plan`, gives
MAX_RPS within 15% of each other (bench/results/artillery-crosscheck.md has the figures).

One artillery process keeps to about 1,000 req/s on this 2-core machine, so the server is made the
bottleneck well below that: one worker with one thread (one request at a time, about one core),
serving the 2,000-tree XGBoost forest of tests/helpers/models.py with 30-row CSV bodies (under
XGBoost's 64-row block, so one model thread), a few milliseconds a request: its knee is a few
hundred req/s. A short `byom loadtest` ramp finds roughly where saturation is; the ramp both tools
then run goes from 50% to 120% of it over 70 s, past the knee and a little into overload (the
probe's figure moves by a tenth from run to run).

Artillery's report has one row per 10 s period (its p99 is the period's), so the loadtest result
is planned with `--window 10` too: both MAX_RPS are a 10 s average served rate under the same SLO
(p99 50 ms, errors 5%, as the live check's). Artillery's periods are fixed on the wall clock
while the loadtest window slides by a second, so artillery's figure may come out somewhat lower;
on this ramp one period is about 10% of the knee's rate. Both keep CONNECTIONS connections alive
(artillery's `http.pool`).

Opt-in, as tests/test_byom_capacity_live.py (it times a real server for about five minutes): it
runs with BYOM_LIVE_ARTILLERY=1 on a machine quiet enough to measure (that check's
OVERLOADED_PER_CORE) and artillery installed (`make artillery`). Two attempts at most, the order of
the two tools swapped in the second; if both miss and the load average shows other work joined
in meanwhile, it is skipped with the misses in its reason, and otherwise it fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from byom.cli import main
from byom.measure.timeline import read_result
from byom.plan.capacity import saturation_rps
from tests.helpers.harness import serving
from tests.helpers.live_load import OVERLOADED_PER_CORE, OWN_LOAD, TOLERANCE, artillery
from tests.helpers.models import slow_xgboost

pytestmark = pytest.mark.server

SLO_FLAGS = ["--slo-p99-ms", "50", "--error-budget", "0.05", "--window", "10"]
RAMP_SECONDS = 70
ROWS = 30
# A ramp far past the knee; few requests in flight keep the server's queue short.
PROBE = ["--rate", "50", "--ramp-to", "1500", "--duration", "4", "--max-in-flight", "64"]
TIMEOUT_S = 2  # both clients give up on a request after this long, so overload ends in errors
# Both clients keep this many connections alive: artillery opens one per request unless its
# `http.pool` shares a pool (on a quiet machine that cost this one-thread server 16-32% of its
# MAX_RPS against byom loadtest's 32 kept-alive connections).
CONNECTIONS = 32


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The server's URL and the body file it is slow on."""
    if os.environ.get("BYOM_LIVE_ARTILLERY") != "1":
        pytest.skip("the artillery cross-check is opt-in: BYOM_LIVE_ARTILLERY=1 on a quiet machine")
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    if load > OVERLOADED_PER_CORE * cores:
        pytest.skip(f"load average {load:.1f} on {cores} cores: other work would decide the timings")
    artillery()  # skips (or fails under BYOM_REQUIRE_DOCKER=1) without it, before any training
    model = tmp_path_factory.mktemp("model")
    body = model.parent / "rows.csv"
    body.write_bytes(slow_xgboost(model, rows=ROWS))
    env = {"SAGEMAKER_MODEL_SERVER_WORKERS": "1", "BYOM_WORKER_THREADS": "1"}
    with serving(model, tmp_path_factory.mktemp("serve"), env) as running:
        yield running.url, body


def loadtest(url: str, body: Path, out: Path, *flags: str) -> Path:
    argv = ["loadtest", "--target", url, "--body-file", str(body), "--out", str(out)]
    assert (
        main([*argv, "--timeout", str(TIMEOUT_S), "--connections", str(CONNECTIONS), "--quiet", *flags]) == 0
    )
    return out.with_suffix(".json")


def artillery_script(url: str, body: str, ramp: tuple[int, int]) -> dict[str, object]:
    phase = {"duration": RAMP_SECONDS, "arrivalRate": ramp[0], "rampTo": ramp[1]}
    config = {"target": url, "http": {"timeout": TIMEOUT_S, "pool": CONNECTIONS}, "phases": [phase]}
    post = {"url": "/invocations", "headers": {"Content-Type": "text/csv"}, "body": body}
    return {"config": config, "scenarios": [{"flow": [{"post": post}]}]}


def run_artillery(url: str, body: Path, ramp: tuple[int, int], out: Path) -> Path:
    script, report = out.with_suffix(".yml"), out.with_suffix(".json")
    script.write_text(json.dumps(artillery_script(url, body.read_text(), ramp)))  # JSON is YAML
    environment = {**os.environ, "ARTILLERY_DISABLE_TELEMETRY": "true", "NO_COLOR": "1"}
    command = [artillery(), "run", "--output", str(report), str(script)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=environment, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return report


def max_rps(result: Path, out: Path) -> float:
    """`byom plan`'s MAX_RPS from a result; 0 when no window met the SLO (it exits 2 then)."""
    if main(["plan", str(result), *SLO_FLAGS, "--out", str(out), "--quiet"]) != 0:
        return 0.0
    return float(json.loads(out.with_suffix(".json").read_text())["capacity"]["max_rps"])


def wait_until_drained(url: str, deadline: float = 60.0) -> None:
    """Requests the clients gave up on are still served; the next run starts once /ping (queued
    behind them on the one thread) answers at once again."""
    give_up = time.monotonic() + deadline
    while time.monotonic() < give_up:
        started = time.perf_counter()
        requests.get(url + "/ping", timeout=deadline)
        if time.perf_counter() - started < 0.05:
            return
    pytest.fail(f"the server still had a backlog {deadline} s after a run")


def ramp_around_the_knee(url: str, body: Path, out: Path) -> tuple[int, int]:
    probe = loadtest(url, body, out, *PROBE)
    saturation = saturation_rps(read_result(probe)[1], 2)
    wait_until_drained(url)
    return round(0.5 * saturation), round(1.2 * saturation)


def crosscheck(url: str, body: Path, out: Path, artillery_first: bool) -> tuple[float, float, str]:
    """(artillery's MAX_RPS, byom loadtest's, the ramp) on the same ramp, one after the other."""
    start, end = ramp_around_the_knee(url, body, out / "probe")
    ramp = f"--rate {start} --ramp-to {end} --duration {RAMP_SECONDS}"

    def through_artillery() -> float:
        return max_rps(run_artillery(url, body, (start, end), out / "artillery"), out / "artillery-plan")

    def through_loadtest() -> float:
        return max_rps(loadtest(url, body, out / "loadtest", *ramp.split()), out / "loadtest-plan")

    runs = [through_artillery, through_loadtest] if artillery_first else [through_loadtest, through_artillery]
    figures = {}
    for run in runs:
        figures[run] = run()
        wait_until_drained(url)
    return figures[through_artillery], figures[through_loadtest], ramp


@pytest.mark.timeout(900)  # two attempts of about 3 minutes each, past pytest's 300 s default
def test_artillery_and_byom_loadtest_find_the_same_max_rps(served: tuple[str, Path], tmp_path: Path) -> None:
    url, body = served
    misses: list[str] = []
    for attempt in range(2):
        out = tmp_path / f"attempt{attempt}"
        out.mkdir()
        by_artillery, by_loadtest, ramp = crosscheck(url, body, out, artillery_first=attempt == 0)
        ratio = by_artillery / by_loadtest if by_loadtest else 0.0
        figures = f"{ramp}: MAX_RPS artillery {by_artillery:.1f}, byom loadtest {by_loadtest:.1f}, ratio {ratio:.3f}"
        print(f"attempt {attempt + 1} ({'artillery' if attempt == 0 else 'byom loadtest'} first), {figures}")
        if abs(ratio - 1) <= TOLERANCE:
            return
        misses.append(f"attempt {attempt + 1}, {figures}")
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    if load - OWN_LOAD > 0.5 * cores:  # other work joined in while this measured
        pytest.skip(
            f"load average rose to {load:.1f} on {cores} cores while measuring:\n" + "\n".join(misses)
        )
    pytest.fail("\n".join(misses))
