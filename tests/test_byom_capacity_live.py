"""The quality bar, measured on a real ./serve: `byom plan`'s MAX_RPS against a direct measurement,
and `byom simulate`'s saturation point against what `byom loadtest` sees on a ramp.

The server runs one worker, so about one core's work bounds it. It is not pinned to a CPU: on
this machine, shared with benchmarks that pin their own servers to CPU 0, a pinned server served a
tenth of its unpinned rate. Everything is compared within one run (the machine is noisy), and the
SLO is 50 ms rather than the 15 ms default so other work's pauses do not decide the result; what
is checked is unchanged: the predicted boundary is where the real one is, within 15%. A short ramp
first finds roughly where the knee is, so the step search that `byom plan` runs needs few steps.
Each direct run is judged as `byom plan` judges a step: all requests after its first second
together. It measures latency against a fixed SLO, so it is opt-in (BYOM_LIVE_CAPACITY=1): on this
shared 2-core machine single seconds of 50-100 ms come and go at any load past ~70% of capacity,
and a timing check must not decide whether work lands. With the pooled judgement, the re-run of
the best step and the bisection of a refuted one, 3 runs in a row passed on 2026-11-29 (one on its
second attempt); before them, 2 of 4 runs failed.
It runs only on a machine quiet enough to measure (see OVERLOADED_PER_CORE); if both attempts
miss and the load average shows other work joined in meanwhile, it is skipped with the misses
in its reason, and otherwise it fails.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from byom.cli import main
from byom.measure.timeline import Second, read_result
from byom.plan import fleet, profile
from byom.plan.capacity import Slo, max_sustained, saturation_rps, second_passes
from byom.plan.simulate import instance_model
from tests.helpers.harness import DEMO_MODEL, serving
from tests.helpers.live_load import OVERLOADED_PER_CORE, OWN_LOAD, TOLERANCE

pytestmark = pytest.mark.server

SLO = Slo(p99_ms=50.0, error_budget=0.05, window=4)
WARM = ["--connections", "32", "--quiet"]
IRIS_ROWS = ["5.1,3.5,1.4,0.2", "6.2,3.4,5.4,2.3", "5.9,3.0,4.2,1.5", "6.7,3.1,4.4,1.4"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if os.environ.get("BYOM_LIVE_CAPACITY") != "1":
        pytest.skip("the timing quality bar is opt-in: BYOM_LIVE_CAPACITY=1 on a quiet machine")
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    if load > OVERLOADED_PER_CORE * cores:
        pytest.skip(f"load average {load:.1f} on {cores} cores: other work would decide the timings")
    env = {"SAGEMAKER_MODEL_SERVER_WORKERS": "1"}
    with serving(DEMO_MODEL, tmp_path_factory.mktemp("serve"), env) as running:
        yield running.url


@pytest.fixture(scope="module")
def body(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("body") / "rows.csv"
    path.write_text("\n".join(IRIS_ROWS * 5))  # 20 rows: ~1 ms of server work, a few hundred to ~2k req/s
    return path


def loadtest(server: str, body: Path, out: Path, *flags: str) -> list[Second]:
    argv = ["loadtest", "--target", server, "--body-file", str(body), "--out", str(out), *WARM, *flags]
    assert main(argv) == 0
    return read_result(out.with_suffix(".json"))[1]


def plan(server: str, body: Path, out: Path) -> dict[str, Any]:
    """`byom plan`'s step search, started near the knee a quick ramp found."""
    # A ramp far past any knee; few requests in flight and a short timeout keep the server's queue short.
    probe_flags = "--rate 200 --ramp-to 6000 --duration 3 --max-in-flight 64 --timeout 1"
    probe = loadtest(server, body, out.parent / "probe", *probe_flags.split())
    start = 0.6 * saturation_rps(probe, 2)
    search = f"--start-rps {start:.0f} --growth 1.25 --refine 2 --step-seconds {SLO.window + 1} --window {SLO.window}"
    argv = ["plan", "--target", server, "--body-file", str(body), "--slo-p99-ms", str(SLO.p99_ms)]
    assert main([*argv, *search.split(), "--out", str(out), *WARM]) == 0
    document: dict[str, Any] = json.loads(out.with_suffix(".json").read_text())
    return document


def bracket_misses(server: str, body: Path, max_rps: float, out: Path) -> list[str]:
    """Direct measurement: 15% under MAX_RPS must hold the SLO, 15% over must not (each run's
    requests after its first second judged together, as `byom plan` judges a step)."""
    misses = []
    for name, factor, should_pass in (("below", 1 - TOLERANCE, True), ("above", 1 + TOLERANCE, False)):
        seconds = str(SLO.window + 1)
        rows = loadtest(server, body, out / name, "--rate", f"{max_rps * factor:.1f}", "--duration", seconds)
        if (max_sustained(rows[1:], SLO) is not None) != should_pass:
            misses.append(f"{name}: {[(row.offered, row.p99_ms) for row in rows]}")
    return misses


def saturation_misses(server: str, body: Path, document: dict[str, Any], out: Path) -> list[str]:
    """One simulated instance must leave the SLO where a ramp on the real one does, within 15%."""
    max_rps = document["capacity"]["max_rps"]
    start, end, seconds = 0.7 * max_rps, 1.5 * max_rps, 10.0
    rows = loadtest(
        server, body, out / "ramp", *f"--rate {start:.1f} --ramp-to {end:.1f} --duration {seconds:g}".split()
    )
    passing = [row.second for row in rows if second_passes(row, SLO)]
    if not passing or passing[-1] == len(rows) - 1:
        return [f"the ramp did not cross the boundary once: {[(row.offered, row.p99_ms) for row in rows]}"]
    measured_rps = rows[passing[-1] + 1].offered  # from here on the SLO never comes back
    rates = profile.ramp(start, end, seconds).rates()
    predicted = fleet.first_breach(rates, instance_model(document, 60.0), 1, SLO.p99_ms, SLO.error_budget)
    if predicted is None or abs(rates[predicted] - measured_rps) > TOLERANCE * measured_rps:
        at = "never" if predicted is None else f"{rates[predicted]:.0f} req/s"
        return [f"simulated breach at {at}, measured at {measured_rps} req/s"]
    return []


def test_plan_and_simulation_match_direct_measurements(server: str, body: Path, tmp_path: Path) -> None:
    """Two attempts at most: a burst of other work on this machine can spoil one, not a wrong plan."""
    misses: list[str] = []
    for attempt in range(2):
        out = tmp_path / f"attempt{attempt}"
        out.mkdir()
        document = plan(server, body, out / "plan")
        found = bracket_misses(server, body, document["capacity"]["max_rps"], out)
        found += saturation_misses(server, body, document, out)
        if not found:
            return
        misses += [
            f"attempt {attempt + 1}, MAX_RPS {document['capacity']['max_rps']}: {miss}" for miss in found
        ]
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    if load - OWN_LOAD > 0.5 * cores:  # other work joined in while this measured
        pytest.skip(
            f"load average rose to {load:.1f} on {cores} cores while measuring:\n" + "\n".join(misses)
        )
    pytest.fail("\n".join(misses))
