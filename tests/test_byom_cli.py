"""The `byom` commands end to end: loadtest against a real ./serve, plan from its result, simulate
from the plan; the files they write, the plots rendered and read back, and their refusals."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from byom.cli import main
from byom.measure.timeline import read_result
from byom.shared import plots
from byom.ship import scaling_plan
from tests.helpers.harness import DEMO_MODEL, REPO, free_port, serving

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serving(DEMO_MODEL, tmp_path_factory.mktemp("serve")) as server:
        yield server.url


@pytest.fixture(scope="module")
def loadtest_result(url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("loadtest") / "run"
    script = out.parent / "seed.yml"
    script.write_text(
        f"config:\n  target: {url}\n  phases:\n    - duration: 3\n      arrivalRate: 50\n      rampTo: 150\n"
        "scenarios:\n  - flow:\n      - post:\n          url: /invocations\n"
        "          headers: {Content-Type: text/csv}\n          body: '5.1,3.5,1.4,0.2'\n"
    )
    assert main(["loadtest", str(script), "--out", str(out), "--quiet"]) == 0
    return out


def blank_fraction(png: Path) -> float:
    pixels = imread(png)
    return float(np.mean(np.all(pixels[..., :3] > 0.98, axis=-1)))


def test_loadtest_writes_its_timeline_as_json_csv_and_png(
    loadtest_result: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document, rows = read_result(loadtest_result.with_suffix(".json"))
    assert [row.offered for row in rows] == [67, 100, 133]  # the ramp's integral, second by second
    assert document["summary"]["requests"] == 300 and document["summary"]["ok"] == 300
    assert all(not row.errors for row in rows)
    assert sum(row.achieved for row in rows) >= 240  # completions after the last second are not counted
    assert 0 < document["generator"]["cpu_percent"] < 100 * 2
    with loadtest_result.with_suffix(".csv").open() as handle:
        table = list(csv.DictReader(handle))
    assert [int(row["offered_rps"]) for row in table] == [67, 100, 133]
    png = loadtest_result.with_suffix(".png")
    assert imread(png).shape[:2] == (720, 650)
    assert 0.5 < blank_fraction(png) < 0.99  # drawn on, not empty


def test_the_loadtest_plot_draws_the_timeline(loadtest_result: Path) -> None:
    _, rows = read_result(loadtest_result.with_suffix(".json"))
    figure = plots.loadtest_figure(rows, "t")
    rate, latency, _ = figure.axes
    offered, achieved = rate.get_lines()
    assert list(offered.get_ydata()) == [row.offered for row in rows]
    assert list(achieved.get_ydata()) == [row.achieved for row in rows]
    assert [line.get_label() for line in latency.get_lines()] == ["p50", "p95", "p99"]
    assert list(latency.get_lines()[2].get_ydata()) == [row.p99_ms for row in rows]


def test_plan_from_the_result_then_simulate(
    loadtest_result: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = tmp_path / "plan"
    argv = [
        "plan",
        str(loadtest_result.with_suffix(".json")),
        "--out",
        str(plan),
        "--window",
        "2",
        "--slo-p99-ms",
        "5000",
        "--peak-rps",
        "800",
        "--instance-type",
        "ml.m4.xlarge",
    ]
    assert main(argv) == 0
    document = json.loads(plan.with_suffix(".json").read_text())
    max_rps = document["capacity"]["max_rps"]
    assert 100 <= max_rps <= 134  # the best 2-second window of a 66/100/133 ramp
    assert document["scaling"]["target_value"] == pytest.approx(max_rps * 0.5 * 60, abs=0.01)
    assert document["scaling"]["min_instances"] == 2
    assert (
        document["policy"]["register_scalable_target"]["MaxCapacity"] == document["scaling"]["max_instances"]
    )
    deployable = scaling_plan.from_plan_file(plan.with_suffix(".json"))  # what `byom deploy --plan` applies
    assert (deployable.min_capacity, deployable.max_capacity) == (2, document["scaling"]["max_instances"])
    assert deployable.target_tracking[0].target_value == document["scaling"]["target_value"]
    assert "put_scaling_policy" in (tmp_path / "plan-boto3.py").read_text()
    assert "AWS::ApplicationAutoScaling::ScalingPolicy" in (tmp_path / "plan-cloudformation.yaml").read_text()
    assert f"MAX_RPS {max_rps}" in capsys.readouterr().out

    simulation = tmp_path / "sim"
    assert (
        main(
            [
                "simulate",
                str(plan.with_suffix(".json")),
                "--ramp",
                "50:400:10m",
                "--start-minutes",
                "1",
                "--out",
                str(simulation),
            ]
        )
        == 0
    )
    result = json.loads(simulation.with_suffix(".json").read_text())
    assert len(result["before"]) == len(result["after"]) == 10
    assert max(m["instances"] for m in result["after"]) > 2  # 400 req/s is past two instances' target
    assert result["before"][-1]["error_rate"] > 0 or result["before"][-1]["p99_ms"] > 1000
    png = simulation.with_suffix(".png")
    assert imread(png).shape[:2] == (1440, 1300)
    assert 0.5 < blank_fraction(png) < 0.99
    output = capsys.readouterr().out
    assert "BEFORE (2 fixed)" in output and "AFTER (autoscaling)" in output


def test_the_simulation_plot_puts_before_and_after_on_one_scale(tmp_path: Path) -> None:
    from byom.plan.fleet import InstanceModel, Timing, simulate

    model = InstanceModel(100.0, [(0.0, 5.0)], 1.0)
    rates = np.full(600, 300.0)
    before = simulate(rates, model, 2, None, Timing())
    after = simulate(rates, model, 4, None, Timing())
    figure = plots.simulation_figure(before, after, "t")
    left, right = figure.axes[2], figure.axes[3]  # the instances row
    assert list(left.get_lines()[0].get_ydata()) == [2.0] * 10
    assert list(right.get_lines()[0].get_ydata()) == [4.0] * 10
    assert left.get_ylim() == right.get_ylim()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["loadtest", "--rate", "10"], "no target"),
        (["loadtest", "--target", "ftp://x", "--rate", "1"], "expected http://"),
        (["loadtest", "--target", "http://127.0.0.1:1", "--duration", "5"], "need --rate"),
        (["loadtest", "--target", "http://127.0.0.1:1", "--rate", "0"], "nothing to send"),
        (
            ["loadtest", "--target", "http://127.0.0.1:{port}", "--rate", "5", "--duration", "1"],
            "cannot connect",
        ),
        (["loadtest", "--target", "http://x", "--phase", "10"], "DURATION:RATE"),
        (["loadtest", "--target", "http://x", "--rate", "1", "--header", "nocolon"], "Name: value"),
        (["loadtest", "--target", "http://x", "--rate", "1", "--error-budget", "1"], "--error-budget within"),
        (["plan"], "nothing to plan from"),
        (["plan", "{missing}"], "cannot read the loadtest result"),
        (["plan", "{missing}", "--target", "http://x"], "not both"),
        (["plan", "--target", "http://x", "--step-seconds", "1"], "--step-seconds >= 2"),
        (["simulate", "{missing}"], "cannot read the plan"),
        (["simulate", "{missing}", "--fixed-instances", "0"], "--fixed-instances"),
        (["simulate", "{missing}", "--timeout", "0"], "--timeout"),
        (["simulate", "{missing}", "--ramp", "1:2"], "START:END:DURATION"),
        (["simulate", "{missing}", "--ramp", "1:2:0.5s"], "shorter than one second"),
    ],
)
def test_mistakes_are_one_line_and_exit_2(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [a.format(port=free_port(), missing=tmp_path / "none.json") for a in argv]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1 and error.startswith(f"byom {argv[0]}: ")


def test_plan_refuses_a_result_where_nothing_met_the_slo(
    loadtest_result: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [
                "plan",
                str(loadtest_result.with_suffix(".json")),
                "--slo-p99-ms",
                "0.001",
                "--out",
                str(tmp_path / "p"),
            ]
        )
        == 2
    )
    assert "no 5 s window met" in capsys.readouterr().err


def test_plan_reads_a_users_price_table(loadtest_result: Path, tmp_path: Path) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(
        json.dumps(
            {
                "region": "eu-west-1",
                "as_of": "2026-11",
                "instances": {"ml.m5.large": {"vcpus": 2, "usd_per_hour": 1.0}},
            }
        )
    )
    argv = [
        "plan",
        str(loadtest_result.with_suffix(".json")),
        "--prices",
        str(prices),
        "--window",
        "2",
        "--slo-p99-ms",
        "5000",
        "--out",
        str(tmp_path / "p"),
        "--metric",
        "cpu",
    ]
    assert main(argv) == 0
    document = json.loads((tmp_path / "p.json").read_text())
    assert document["cost"]["min_fleet_usd_per_hour"] == 2.0
    assert document["instance"]["price_region"] == "eu-west-1"
    assert document["scaling"]["target_value"] == 140.0  # 70% per core x 2 vCPUs
    prices.write_text("{}")
    assert main([*argv[:3], str(prices), *argv[4:]]) == 2


WITHOUT_THE_CLI_EXTRA = """
import sys
for module in ("yaml", "boto3", "botocore", "matplotlib"):
    sys.modules[module] = None  # import fails as if `pip install .` had left it out
from byom.cli import main
sys.exit(main(sys.argv[1:]))
"""


def byom_without_the_cli_extra(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_THE_CLI_EXTRA, *argv],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_without_the_cli_extra_help_and_unpack_work_and_the_rest_say_what_to_install(tmp_path: Path) -> None:
    listed = byom_without_the_cli_extra("--help", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "loadtest  (needs PyYAML: pip install '.[cli]'" in listed.stdout
    assert "push      (needs boto3: pip install '.[cli]'" in listed.stdout

    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(REPO / "model" / "manifest.json", arcname="manifest.json")
    unpacked = byom_without_the_cli_extra("unpack", str(archive), str(tmp_path / "out"), cwd=tmp_path)
    assert unpacked.returncode == 0, unpacked.stderr
    assert (tmp_path / "out" / "manifest.json").exists()

    for argv in (("loadtest", "--rate", "5", "--duration", "1"), ("deploy", "--dry-run")):
        refused = byom_without_the_cli_extra(*argv, cwd=tmp_path)
        assert refused.returncode == 2
        package = "PyYAML" if argv[0] == "loadtest" else "boto3"
        assert (
            refused.stderr
            == f"byom {argv[0]}: needs {package}, which is not installed: pip install '.[cli]' (the cli extra)\n"
        )
