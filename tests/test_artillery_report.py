"""`byom plan` from artillery's own JSON report: byom.measure.artillery_report on a report a real
artillery run wrote (tests/fixtures/artillery/, its script beside it), the plan and simulation made
from it, and a real artillery run (tools/artillery, `make artillery`) against ./serve and the image,
planned from.

The real run needs artillery: tools/artillery/node_modules/.bin/artillery (make test installs it
when npm is here) or `artillery` on PATH. Without it the test skips, unless BYOM_REQUIRE_DOCKER=1
(CI), where it fails.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from byom.cli import main
from byom.errors import CommandError
from byom.measure import artillery_report
from tests.helpers.harness import REPO, HttpEndpoint
from tests.helpers.live_load import artillery

FIXTURE = REPO / "tests" / "fixtures" / "artillery" / "report-ramp.json"


def fixture_document() -> dict[str, object]:
    return json.loads(FIXTURE.read_text())  # type: ignore[no-any-return]


def test_a_report_is_recognised_by_its_shape_and_a_loadtest_result_is_not(tmp_path: Path) -> None:
    assert artillery_report.looks_like_report(FIXTURE)
    result = tmp_path / "result.json"
    result.write_text(json.dumps({"kind": "byom.loadtest", "aggregate": {}, "intermediate": []}))
    assert not artillery_report.looks_like_report(result)
    assert not artillery_report.looks_like_report(tmp_path / "missing.json")


def test_each_period_becomes_a_row_of_rates_per_second() -> None:
    report = artillery_report.read(FIXTURE)
    assert report.period_s == 10
    assert [row.second for row in report.periods] == [0, 10, 20, 30, 40]
    first, third = report.periods[0], report.periods[2]
    assert first.seconds == pytest.approx(9.35)  # the run began 0.65 s into its first period
    assert first.offered == pytest.approx(1638 / 9.35)
    assert (third.requests, third.ok_count, third.errors) == (7521, 7435, {"415": 84})
    assert third.offered == pytest.approx(752.1) and third.ok == third.achieved == pytest.approx(743.5)
    assert third.error_rate == pytest.approx(84 / 7521)
    assert third.error_count / third.offered == pytest.approx(third.error_rate)
    assert (third.p50_ms, third.p95_ms, third.p99_ms) == (0, 3, 10.1)


def test_a_period_under_half_long_is_left_out_and_counts_add_up_to_the_aggregate() -> None:
    report = artillery_report.read(FIXTURE)
    [last] = report.left_out
    assert last.second == 50 and last.seconds == pytest.approx(4.751)
    assert last.errors == {"415": 36, "ETIMEDOUT": 1243}  # errors without a status, by artillery's name
    aggregate = fixture_document()["aggregate"]["counters"]  # type: ignore[index]
    assert sum(row.requests for row in [*report.periods, last]) == aggregate["http.requests"]


def report(periods: list[tuple[int, int, float]], section: str = "summaries") -> dict[str, object]:
    """A report of 10 s periods: (start second, requests, p99 ms); every request a 200."""
    base = 1_700_000_000_000
    return {
        "aggregate": {},
        "intermediate": [
            {
                "period": str(base + start * 1000),
                "firstMetricAt": base + start * 1000,
                "lastMetricAt": base + start * 1000 + 10_000,
                "counters": {"http.requests": n, "http.codes.200": n},
                section: {"http.response_time": {"p50": 1, "p95": p99 / 2, "p99": p99}},
            }
            for start, n, p99 in periods
        ],
    }


def test_a_missing_period_is_an_empty_row_and_older_reports_keep_summaries_as_histograms() -> None:
    read = artillery_report.from_document(report([(0, 1000, 4.0), (20, 3000, 6.0)], "histograms"))
    assert [(row.second, row.requests, row.p99_ms) for row in read.periods] == [
        (0, 1000, 4.0),
        (10, 0, 0.0),
        (20, 3000, 6.0),
    ]
    assert read.periods[1].offered == 0


def test_malformed_or_empty_reports_are_refused_in_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "report.json"
    broken.write_text(json.dumps({"aggregate": {}, "intermediate": [{"counters": {}}]}))
    with pytest.raises(CommandError, match="malformed artillery report"):
        artillery_report.read(broken)
    with pytest.raises(CommandError, match="no periods"):
        artillery_report.from_document({"aggregate": {}, "intermediate": []})
    with pytest.raises(CommandError, match="10 s grid"):
        artillery_report.from_document(report([(0, 10, 1.0), (10, 10, 1.0), (25, 10, 1.0)]))


def plan_from(report_path: Path, out: Path, *flags: str) -> dict[str, object]:
    assert main(["plan", str(report_path), "--out", str(out), *flags]) == 0
    return json.loads(out.with_suffix(".json").read_text())  # type: ignore[no-any-return]


def test_plan_from_the_fixture_judges_each_period_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = plan_from(FIXTURE, tmp_path / "plan")
    out, err = capsys.readouterr()
    assert "resolution 10 s: artillery's reporting periods" in out and "window 10 s = 1 period" in out
    assert "left out the period at +50 s" in err
    found = plan["capacity"]
    assert found["max_rps"] == 743.5  # type: ignore[index]  # 7435 200s in the third period's 10 s
    assert found["p99_ms_at_max"] == 10.1 and found["resolution_s"] == 10  # type: ignore[index]
    assert found["load_exceeded_slo"] is True  # type: ignore[index]  # p99 133 ms at 1027 req/s
    assert found["saturation_rps"] == pytest.approx(1099.6)  # type: ignore[index]
    assert len(found["latency_curve"]) == 4  # type: ignore[index,arg-type]  # one point per period up to saturation
    assert plan["slo"]["window_s"] == 10  # type: ignore[index]
    assert plan["source"] == {  # type: ignore[comparison-overlap]
        "method": "artillery",
        "result": str(FIXTURE),
        "target": None,
        "period_s": 10.0,
        "periods": 5,
    }


def test_the_window_is_rounded_up_to_whole_periods(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report([(0, 1000, 4.0), (10, 3000, 40.0), (20, 2000, 5.0), (30, 2500, 6.0)])))
    assert plan_from(path, tmp_path / "one")["capacity"]["max_rps"] == 250  # type: ignore[index]
    two = plan_from(path, tmp_path / "two", "--window", "11")
    assert two["slo"]["window_s"] == 20 and two["capacity"]["max_rps"] == 225  # type: ignore[index]


def test_simulate_from_an_artillery_plan_says_its_resolution(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan_from(FIXTURE, tmp_path / "plan")
    capsys.readouterr()
    argv = ["simulate", str(tmp_path / "plan.json"), "--ramp", "100:3000:20m", "--out", str(tmp_path / "sim")]
    assert main(argv) == 0
    assert capsys.readouterr().out.startswith("the plan's instance was measured per 10 s period (artillery)")


SCRIPT = """config:
  target: "{url}"
  phases:
    - duration: 12
      arrivalRate: 40
scenarios:
  - flow:
      - post:
          url: "/invocations"
          headers:
            Content-Type: text/csv
          body: "5.1,3.5,1.4,0.2"
"""


@pytest.mark.server
def test_a_real_artillery_run_against_serve_and_the_image_is_planned_from(
    http_endpoint: HttpEndpoint, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command = artillery()
    script, output = tmp_path / "script.yml", tmp_path / "report.json"
    script.write_text(SCRIPT.format(url=http_endpoint.base_url))
    environment = {**os.environ, "ARTILLERY_DISABLE_TELEMETRY": "true", "NO_COLOR": "1"}
    run = [command, "run", "--output", str(output), str(script)]
    done = subprocess.run(run, capture_output=True, text=True, timeout=180, env=environment, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    report = artillery_report.read(output)
    every = [*report.periods, *report.left_out]
    assert sum(row.requests for row in every) == 480 and not any(row.errors for row in every)
    # A generous SLO: this checks the reading, not the speed of a machine shared with other work.
    plan = plan_from(output, tmp_path / "plan", "--slo-p99-ms", "500")
    assert 40 * 0.7 <= plan["capacity"]["max_rps"] <= 40 * 1.3  # type: ignore[index,operator]
    assert "resolution 10 s" in capsys.readouterr().out
