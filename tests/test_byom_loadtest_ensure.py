"""byom loadtest reading artillery scripts as people paste them (keys in any case, named when not
read) and judging their `ensure` checks: the metrics, the expression evaluator, and the exit code
of a short load test against a local HTTP server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from byom.cli import main
from byom.errors import CommandError
from byom.measure import ensure
from byom.measure.loadgen import STATUS_TIMEOUT
from byom.measure.loadspec import Phase, Request, from_artillery
from tests.helpers.http_server import serving

# The AWS post's script, as the post gives it (capitalised `Phases` and `Ensure`), with the
# post's API Gateway target left as a placeholder.
POST_TARGET = "https://xxxxxxxxxx.execute-api.us-east-1.amazonaws.com"
POST_SCRIPT = f"""
config:
  target: "{POST_TARGET}"
  Phases:
    - duration: 120
      arrivalRate: 20
      rampTo: 200
  Ensure:
    p95: 300
    maxErrorRate: 1
scenarios:
  - flow:
      - post:
          url: "/invocations"
          headers:
            Content-Type: "text/csv"
          body: "5.1,3.5,1.4,0.2"
"""
LOWER_CASE_SCRIPT = POST_SCRIPT.replace("Phases", "phases").replace("Ensure", "ensure")
CAPITALISED_SCRIPT = """
Config:
  Target: "https://example.com"
  Phases:
    - Duration: 120
      ArrivalRate: 20
      RampTo: 200
  Ensure:
    P95: 300
    MaxErrorRate: 1
Scenarios:
  - Flow:
      - Post:
          Url: "/invocations"
          Headers:
            Content-Type: "text/csv"
          Body: "5.1,3.5,1.4,0.2"
"""

EXPECTED_PHASES = [Phase(120.0, 20.0, 200.0)]
EXPECTED_REQUESTS = [Request("POST", "/invocations", {"Content-Type": "text/csv"}, b"5.1,3.5,1.4,0.2")]
EXPECTED_CHECKS = ["p95 < 300 ms", "maxErrorRate <= 1%"]


def labels(checks: Sequence[ensure.Check]) -> list[str]:
    return [check.label for check in checks]


def respelt(warnings: Sequence[str]) -> list[str]:
    return [warning.split(": read as artillery spells it")[0] for warning in warnings]


def test_the_posts_script_is_read_with_a_warning_for_each_capitalised_key() -> None:
    spec = from_artillery(POST_SCRIPT)
    assert spec.target == POST_TARGET
    assert spec.phases == EXPECTED_PHASES and spec.requests == EXPECTED_REQUESTS
    assert labels(spec.checks) == EXPECTED_CHECKS
    assert list(spec.warnings) == [
        "config.Phases -> phases: read as artillery spells it (artillery itself would ignore Phases)",
        "config.Ensure -> ensure: read as artillery spells it (artillery itself would ignore Ensure)",
    ]


def test_the_lower_case_script_reads_the_same_without_a_warning() -> None:
    spec, post = from_artillery(LOWER_CASE_SCRIPT), from_artillery(POST_SCRIPT)
    assert spec.warnings == []
    assert (spec.target, spec.phases, spec.requests) == (post.target, post.phases, post.requests)
    assert labels(spec.checks) == EXPECTED_CHECKS


def test_a_fully_capitalised_script_is_read_and_every_key_is_named() -> None:
    spec = from_artillery(CAPITALISED_SCRIPT)
    assert spec.phases == EXPECTED_PHASES and spec.requests == EXPECTED_REQUESTS
    assert labels(spec.checks) == EXPECTED_CHECKS
    assert respelt(spec.warnings) == [
        "Config -> config",
        "Scenarios -> scenarios",
        "config.Target -> target",
        "config.Phases -> phases",
        "config.Ensure -> ensure",
        "config.phases[0].Duration -> duration",
        "config.phases[0].ArrivalRate -> arrivalRate",
        "config.phases[0].RampTo -> rampTo",
        "config.ensure.P95 -> p95",
        "config.ensure.MaxErrorRate -> maxErrorRate",
        "scenarios[0].Flow -> flow",
        "scenarios[0].flow[0].Post -> post",
        "scenarios[0].flow[0].post.Url -> url",
        "scenarios[0].flow[0].post.Headers -> headers",
        "scenarios[0].flow[0].post.Body -> body",
    ]


def test_keys_byom_does_not_use_and_unknown_keys_are_named() -> None:
    script = """
config:
  target: http://x
  processor: ./hooks.js
  plugins: {expect: {}, Ensure: {}}
  bogus: 1
  phases: [{duration: 1, arrivalRate: 1, maxVusers: 5, speed: 2}]
  ensure: {p95: 10, p90: 5}
scenarios:
  - weight: 2
    flow:
      - get: {url: /ping}
      - think: 1
      - post: {url: /invocations, capture: {json: $.id, as: id}, Bdy: x}
"""
    spec = from_artillery(script)
    assert respelt(spec.warnings) == [
        "config.processor: not used by byom loadtest",
        "config.bogus: unknown key, ignored",
        "config.phases[0].maxVusers: not used by byom loadtest (see --max-in-flight)",
        "config.phases[0].speed: unknown key, ignored",
        "config.plugins.expect: not used by byom loadtest",
        "config.plugins.Ensure -> ensure",
        "config.ensure.p90: unknown key, ignored",  # not one of the plugin's legacy keys
        "scenarios[0].weight: not used by byom loadtest",
        "scenarios[0].flow[0].get: not used by byom loadtest (it sends post steps only)",
        "scenarios[0].flow[1].think: not used by byom loadtest",
        "scenarios[0].flow[2].post.capture: not used by byom loadtest",
        "scenarios[0].flow[2].post.Bdy: unknown key, ignored",
    ]
    assert labels(spec.checks) == ["p95 < 10 ms"]


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("config: {phases: [], Phases: []}", r"config\.Phases: phases is given twice"),
        (
            "config: {ensure: {p95: 1}, plugins: {ensure: {p99: 2}}}",
            "config.ensure and config.plugins.ensure both set checks",
        ),
    ],
)
def test_a_key_given_twice_is_refused(script: str, message: str) -> None:
    with pytest.raises(CommandError, match=message):
        from_artillery(script)


def test_v2_thresholds_and_conditions_and_plugins_ensure_are_read() -> None:
    script = """
config:
  plugins:
    ensure:
      thresholds:
        - http.response_time.p95: 100
        - engine.http.response_time.p99: 250
      conditions:
        - expression: "http.response_time.p99 < 200 and http.codes.500 == 0"
        - expression: vusers.failed == 0
          strict: false
"""
    checks = from_artillery(script).checks
    assert labels(checks) == [
        "http.response_time.p95 < 100",
        "engine.http.response_time.p99 < 250",
        "http.response_time.p99 < 200 and http.codes.500 == 0",
        "vusers.failed == 0",
    ]
    assert [check.strict for check in checks] == [True, True, True, False]


@pytest.mark.parametrize(
    ("ensure_section", "message"),
    [
        ("{p99: fast}", r"config\.ensure\.p99: 'fast' is not a number"),
        ("{thresholds: [{http.latency.p99: 1}]}", "cannot compute the metric 'http.latency.p99'"),
        ("{thresholds: [{http.response_time.P99: 1}]}", "artillery spells it http.response_time.p99"),
        ("{thresholds: {http.response_time.p99: 1}}", "expected a list"),
        ("{thresholds: [{http.requests: 1, http.responses: 1}]}", "expected one `metric: value`"),
        ("{conditions: {expression: 'http.requests > 1'}}", "expected a list"),
        ("{conditions: [{expression: 'core.vusers.created.total > 10'}]}", "'core.vusers.created.total'"),
        ("{conditions: [{expression: 'http.requests >'}]}", "cannot read the expression"),
        ("{conditions: [{expression: 'http.requests'}]}", "compares nothing"),
        ("{conditions: [{expression: 'http.requests ^ 2 > 1'}]}", r"uses \^"),
        ("{conditions: [{expression: 'http.requests ** 99 > 1'}]}", r"uses \*\*"),
        ("{conditions: [{expression: 'max(http.requests) > 1'}]}", "cannot compute the metric 'max'"),
        ("{conditions: [{expression: \"__import__('os') == 1\"}]}", "'__import__'"),
        ("{conditions: [{expression: 'http.requests > \"1\"'}]}", "uses Constant"),
        ("{conditions: [{expression: '0 < http.requests < 9'}]}", "chains comparisons"),
        ("{conditions: [{expression: 'not http.requests > 1'}]}", r"write `not \(\.\.\.\)`"),
        ("{conditions: [{expression: 'http.requests > 1', strict: maybe}]}", "not true or false"),
        ("{conditions: [{strict: true}]}", "needs an expression"),
    ],
)
def test_a_check_byom_cannot_judge_is_refused_when_the_script_is_read(
    ensure_section: str, message: str
) -> None:
    with pytest.raises(CommandError, match=message):
        from_artillery(f"config:\n  ensure: {ensure_section}\n")


# A run's measured results: 1000 requests, 10 of them 503, p95 8 ms, p99 12.3 ms, max 40 ms.
METRICS = {
    "http.response_time.p95": 8.0,
    "http.response_time.p99": 12.3,
    "http.response_time.max": 40.0,
    "http.requests": 1000.0,
    "http.request_rate": 100.0,
    "http.codes.200": 990.0,
    "http.codes.503": 10.0,
    "vusers.created": 1000.0,
    "vusers.failed": 10.0,
}


@pytest.mark.parametrize(
    ("ensure_section", "passed"),
    [
        ({"p95": 10}, True),
        ({"p95": 8}, False),  # below the value, as artillery's legacy check: 8 < 8 fails
        ({"p99": 20}, True),
        ({"p99": 12}, False),
        ({"max": 50}, True),
        ({"max": 40}, False),
        ({"maxErrorRate": 1}, True),  # at most: 1% of 1000 is 10 failed
        ({"maxErrorRate": 0.5}, False),
        ({"thresholds": [{"http.response_time.p99": 13}]}, True),
        ({"thresholds": [{"http.response_time.p99": 12}]}, False),
        ({"thresholds": [{"engine.http.response_time.p95": 9}]}, True),
        ({"thresholds": [{"http.codes.503": 10}]}, False),
        ({"conditions": [{"expression": "http.response_time.p95 < 250 and http.request_rate > 50"}]}, True),
        (
            {"conditions": [{"expression": "http.response_time.p95 < 250 and http.request_rate > 1000"}]},
            False,
        ),
    ],
)
def test_each_ensure_form_passes_and_fails_on_measured_results(
    ensure_section: dict[str, object], passed: bool
) -> None:
    (check,) = ensure.parse(ensure_section, "config.ensure")
    assert ensure.verdict([check], METRICS)[1] is passed


@pytest.mark.parametrize(
    ("expression", "passed"),
    [
        ("http.response_time.p99 < 200", True),
        ("http.response_time.p99 < 200 and http.codes.503 == 0", False),
        ("http.response_time.p99 > 200 or http.codes.500 == 0", True),  # a code that never came is 0
        ("not (http.codes.503 > 5)", False),
        ("not(http.codes.503 > 50)", True),
        ("http.codes.503 / http.requests * 100 <= 1", True),
        ("http.codes.200 + http.codes.503 == http.requests", True),
        ("-http.response_time.p99 < -12", True),
        ("http.requests % 7 != 0", True),
        ("(http.codes.503 > 5) + (http.requests > 5) >= 2", True),
        ("http.codes.503 / http.codes.404 < 1", False),  # a division by zero fails the check
    ],
)
def test_conditions_evaluate_comparisons_logic_and_arithmetic(expression: str, passed: bool) -> None:
    check = ensure.parse({"conditions": [{"expression": expression}]}, "config.ensure")[0]
    assert check.judge(METRICS)[0] is passed


def test_each_check_prints_one_line_and_only_strict_ones_fail_the_run() -> None:
    section = {
        "p99": 200,
        "maxErrorRate": 0.5,
        "conditions": [{"expression": "vusers.failed == 0", "strict": False}],
    }
    lines, passed = ensure.verdict(ensure.parse(section, "config.ensure"), METRICS)
    assert lines == [
        "ensure p99 < 200 ms: ok (p99 12.3 ms)",
        "ensure maxErrorRate <= 0.5%: FAILED (error rate 1%: 10 of 1000 requests)",
        "ensure vusers.failed == 0: failed (optional) (vusers.failed 10)",
    ]
    assert passed is False
    optional = {"conditions": [{"expression": "vusers.failed == 0", "strict": False}]}
    assert ensure.verdict(ensure.parse(optional, "e"), METRICS)[1] is True


def test_whole_run_metrics_count_every_request_and_its_status() -> None:
    latency_ms = np.array([10.0] * 99 + [500.0, 2000.0])  # the timeout counts as its timeout
    statuses = np.array([200] * 99 + [503, STATUS_TIMEOUT], dtype=np.int32)
    metrics = ensure.measure(latency_ms, statuses, 2.0)
    assert metrics["http.response_time.median"] == 10 and metrics["http.response_time.max"] == 2000
    assert metrics["http.response_time.p99"] == pytest.approx(np.percentile(latency_ms, 99))
    assert metrics["http.requests"] == metrics["vusers.created"] == 101
    assert metrics["http.responses"] == 100 and metrics["http.request_rate"] == 50.5
    assert metrics["http.codes.200"] == 99 and metrics["http.codes.503"] == 1
    assert metrics["vusers.failed"] == 2 and metrics["vusers.completed"] == 99


def test_with_no_request_a_latency_check_fails() -> None:
    metrics = ensure.measure(np.array([]), np.array([], dtype=np.int32), 1.0)
    assert ensure.verdict(ensure.parse({"p95": 100}, "e"), metrics) == (
        ["ensure p95 < 100 ms: FAILED (p95 none: no requests)"],
        False,
    )


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serving() as url:
        yield url


def short_run(script: str, server: str, tmp_path: Path) -> int:
    """The post's script against the local server, for one second: 10/s ramping to 30/s."""
    short = (
        script.replace(POST_TARGET, server)
        .replace("duration: 120", "duration: 1")
        .replace("arrivalRate: 20", "arrivalRate: 10")
        .replace("rampTo: 200", "rampTo: 30")
        .replace("p95: 300", "p95: 2000")  # a shared machine's stall is not the test's subject
    )
    (tmp_path / "script.yml").write_text(short)
    return main(["loadtest", str(tmp_path / "script.yml"), "--out", str(tmp_path / "run"), "--quiet"])


def test_the_posts_script_runs_as_pasted_and_passes_its_checks(
    server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert short_run(POST_SCRIPT, server, tmp_path) == 0
    out, err = capsys.readouterr()
    assert "requests 20  ok 20" in out
    assert "ensure p95 < 2000 ms: ok (p95 " in out
    assert out.rstrip().endswith("ensure maxErrorRate <= 1%: ok (error rate 0%: 0 of 20 requests)")
    assert "config.Phases -> phases" in err and "config.Ensure -> ensure" in err


def test_a_failed_check_exits_3_after_writing_the_result(
    server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert short_run(POST_SCRIPT.replace("/invocations", "/status/503"), server, tmp_path) == 3
    out = capsys.readouterr().out
    assert "ensure maxErrorRate <= 1%: FAILED (error rate 100%: 20 of 20 requests)" in out
    assert (tmp_path / "run.json").exists()


def test_a_metric_byom_cannot_compute_stops_the_test_before_any_load(
    server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = POST_SCRIPT.replace("maxErrorRate: 1", "thresholds: [{core.vusers.created.total: 1}]")
    assert short_run(script, server, tmp_path) == 2
    assert "cannot compute the metric 'core.vusers.created.total'" in capsys.readouterr().err
    assert not (tmp_path / "run.json").exists()


def test_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["loadtest", "--help"])
    assert f"{ensure.CHECKS_FAILED}    a strict config.ensure check failed" in capsys.readouterr().out
