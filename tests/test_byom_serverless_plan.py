"""Serverless in the capacity plan: byom.plan.serverless's billing against hand-computed cases, the
serverless prices in the price table, `byom plan`'s comparison lines and plan-file fields, and
`byom simulate`'s serverless run. No server: the load test is a timeline written here."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from byom.cli import main
from byom.errors import CommandError
from byom.measure.timeline import RESULT_KIND, Second, write_json
from byom.plan import prices, serverless, sizing
from byom.plan.prices import ServerlessPrice
from byom.plan.serverless import Rates, Shape

PRICE = ServerlessPrice(1024, 0.00002, 0.000005, 0.00001)
PRICE_2GB = ServerlessPrice(2048, 0.00002, 0.000005, 0.00001)


def rates_of(shape: Shape, billed_ms: int, price: ServerlessPrice = PRICE, per_million: float = 0.0) -> Rates:
    return Rates(shape, billed_ms, price, per_million / 1e6)


@pytest.mark.parametrize(("latency", "billed"), [(3.2, 4), (4.0, 4), (0.2, 1), (10.0001, 11)])
def test_each_request_is_billed_in_whole_milliseconds_rounded_up(latency: float, billed: int) -> None:
    assert serverless.billed_ms(latency) == billed


def test_on_demand_compute_and_requests_by_hand() -> None:
    billing = serverless.rates_for(Shape(1024), 9.5, prices.ServerlessPrices("x", 0.2, {1024: PRICE}), PRICE)
    assert billing.billed_ms == 10
    found = serverless.bill(np.full(60, 100.0), billing)  # 6000 requests in a minute
    assert found.requests == 6000 and found.throttled == 0
    assert found.compute_usd == pytest.approx(6000 * 0.010 * 1 * 0.00002)  # $0.0012
    assert found.request_usd == pytest.approx(6000 * 0.2 / 1e6)  # $0.0012
    assert found.total_usd == pytest.approx(0.0024)
    assert found.peak_concurrency == pytest.approx(100 * 0.010)  # Little's law: 1 in flight
    assert billing.on_demand_usd_per_request == pytest.approx(0.0024 / 6000)


def test_memory_scales_the_compute_price() -> None:
    one = serverless.bill(np.full(10, 50.0), rates_of(Shape(1024), 4))
    three = serverless.bill(np.full(10, 50.0), rates_of(Shape(3072), 4, ServerlessPrice(3072, 0.00002, 0, 0)))
    assert three.compute_usd == pytest.approx(3 * one.compute_usd)


def test_past_the_maximum_concurrency_requests_are_throttled_and_not_billed() -> None:
    billing = rates_of(Shape(1024, max_concurrency=2), 10)  # 2 at a time x 100 per second each
    assert billing.servable_rps == pytest.approx(200)
    found = serverless.bill(np.full(10, 300.0), billing)
    assert found.throttled == pytest.approx(1000)
    assert found.peak_concurrency == pytest.approx(3.0)
    assert found.compute_usd == pytest.approx(2000 * 0.010 * 0.00002)


def test_provisioned_concurrency_bills_its_hours_and_its_own_compute_price() -> None:
    billing = rates_of(Shape(2048, max_concurrency=10, provisioned=1), 10, PRICE_2GB)  # 1 warm = 100 req/s
    within = serverless.bill(np.full(100, 50.0), billing)
    assert within.provisioned_usd == pytest.approx(1 * 2 * 0.000005 * 100)
    assert within.compute_usd == pytest.approx(5000 * 0.010 * 2 * 0.00001)
    spilling = serverless.bill(np.full(100, 150.0), billing)  # 100 req/s warm, 50 on demand
    assert spilling.compute_usd == pytest.approx(100 * 0.010 * 2 * (100 * 0.00001 + 50 * 0.00002))
    assert spilling.provisioned_usd == within.provisioned_usd


def test_the_breakeven_rate_against_the_minimum_fleet() -> None:
    billing = rates_of(Shape(1024), 4)  # $0.00000008 per request
    assert serverless.breakeven_rps(0.23, billing) == pytest.approx(0.23 / 3600 / 8e-8)  # 798.6 req/s
    provisioned = rates_of(Shape(2048, provisioned=2), 4, PRICE_2GB)
    assert serverless.breakeven_rps(0.23, provisioned) == pytest.approx(
        (0.23 / 3600 - 2 * 2 * 0.000005) / 16e-8
    )
    assert serverless.breakeven_rps(0.01, provisioned) == 0.0  # its provisioned hours alone cost more


def test_minutes_accumulate_cost_and_report_throttling() -> None:
    billing = rates_of(Shape(1024, max_concurrency=1), 10)  # serves 100 req/s
    rates = np.concatenate([np.full(60, 50.0), np.full(60, 200.0), np.full(30, 0.0)])
    first, second, third = serverless.minutes(rates, billing, 9.5)
    assert (first.throttle_rate, second.throttle_rate) == (0.0, 0.5)
    assert (first.served_rps, second.served_rps, second.peak_concurrency) == (50.0, 100.0, 2.0)
    assert first.cost == pytest.approx(3000 * 0.010 * 0.00002)
    assert second.cost == pytest.approx((3000 + 6000) * 0.010 * 0.00002)
    assert third.cost == second.cost and third.p99_ms == 0.0 and first.p99_ms == 9.5


def test_the_tracked_fleet_follows_its_target_within_its_bounds() -> None:
    sized = sizing.size_fleet(400.0, 0.5, 2, peak_rps=800.0)  # 200 req/s each, 2..4
    assert sizing.tracked_fleet(np.full(3600, 100.0), sized, 0.115).instance_hours == pytest.approx(2)
    assert sizing.tracked_fleet(np.full(3600, 500.0), sized, 0.115).usd == pytest.approx(3 * 0.115)
    assert sizing.tracked_fleet(np.full(3600, 900.0), sized, 0.115).instance_hours == pytest.approx(4)


def test_the_shipped_table_prices_every_serverless_memory_size() -> None:
    table = prices.load(None)
    assert table.serverless is not None and table.serverless.as_of == table.as_of
    for memory in serverless.MEMORY_SIZES_MB:
        _, price = table.serverless_price(memory)
        assert price.usd_per_gb_second > price.provisioned_compute_usd_per_gb_second > 0
        assert price.provisioned_usd_per_gb_second > 0
    document = json.loads(Path(prices.__file__).parent.parent.joinpath("data/prices.json").read_text())
    assert "--prices" in document["serverless"]["note"] and "UNSURE" in document["serverless"]["note"]


def table_text(serverless_member: object) -> str:
    instances = {"ml.m5.large": {"vcpus": 2, "usd_per_hour": 0.115}}
    return json.dumps({"instances": instances, "serverless": serverless_member})


@pytest.mark.parametrize(
    "member",
    [
        {},
        {"memory_mb": {}},
        {"memory_mb": []},
        {"memory_mb": {"1024": {"usd_per_gb_second": 0.00002}}},
        {
            "memory_mb": {
                "x": {
                    "usd_per_gb_second": 1,
                    "provisioned_usd_per_gb_second": 1,
                    "provisioned_compute_usd_per_gb_second": 1,
                }
            }
        },
        {
            "memory_mb": {
                "1024": {
                    "usd_per_gb_second": -1,
                    "provisioned_usd_per_gb_second": 1,
                    "provisioned_compute_usd_per_gb_second": 1,
                }
            }
        },
        {"usd_per_million_requests": "free", "memory_mb": {"1024": {}}},
        "cheap",
    ],
)
def test_bad_serverless_prices_are_refused_with_the_expected_shape(member: object) -> None:
    with pytest.raises(CommandError, match=re.escape("expected {'serverless'")) as caught:
        prices.parse(table_text(member), "t.json")
    assert "\n" not in str(caught.value)


def test_a_memory_size_the_table_lacks_is_named_with_the_ones_it_has() -> None:
    good = {
        "usd_per_gb_second": 1,
        "provisioned_usd_per_gb_second": 1,
        "provisioned_compute_usd_per_gb_second": 1,
    }
    table = prices.parse(table_text({"memory_mb": {"2048": good}}), "t.json")
    with pytest.raises(CommandError, match=r"no serverless price for 1024 MB \(it has: 2048\)"):
        table.serverless_price(1024)
    bare = prices.parse(json.dumps({"instances": {"ml.m5.large": {"vcpus": 2, "usd_per_hour": 1}}}), "b.json")
    assert bare.serverless is None
    with pytest.raises(CommandError, match="has no serverless prices"):
        bare.serverless_price(1024)


@pytest.fixture
def bare(tmp_path: Path) -> Path:
    """A price table without serverless prices."""
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"instances": {"ml.m5.large": {"vcpus": 2, "usd_per_hour": 0.115}}}))
    return path


@pytest.fixture
def result(tmp_path: Path) -> Path:
    """One instance that holds 400 req/s at p99 3.2 ms and falls over past it."""
    rows = [
        Second(
            i,
            rate,
            min(rate, 420),
            min(rate, 420),
            1.6,
            3.2 if rate <= 400 else 500.0,
            3.2 if rate <= 400 else 500.0,
        )
        for i, rate in enumerate([100, 200, 300, 400, 400, 400, 400, 400, 500, 600, 700])
    ]
    path = tmp_path / "ramp.json"
    write_json(path, {"kind": RESULT_KIND, "version": 1, "target": "http://x"}, rows)
    return path


def plan(result: Path, *flags: str) -> int:
    return main(["plan", str(result), "--out", str(result.parent / "plan"), *flags])


def test_plan_prices_serverless_against_the_fleet_with_its_arithmetic(
    result: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert plan(result, "--profile-ramp", "100:100:1h") == 0
    printed = capsys.readouterr().out.splitlines()
    section = json.loads((result.parent / "plan.json").read_text())["serverless"]
    assert section["compared"] and section["memory_mb"] == 1024 and section["memory_choice"] == "the smallest"
    assert section["max_concurrency"] == 200 and section["provisioned_concurrency"] == 0
    assert (section["latency_ms"], section["billed_ms_per_request"]) == (3.2, 4)
    assert section["profile"]["requests"] == 360000 and section["profile"]["duration_s"] == 3600
    assert section["peak_concurrency"] == pytest.approx(0.4)  # 100 req/s x 0.004 s
    assert section["serverless_usd"]["total"] == pytest.approx(360000 * 0.004 * 1 * 0.00002)  # $0.0288
    assert section["fleet_usd"] == pytest.approx(2 * 0.115) and section["fleet_instance_hours"] == 2
    assert section["breakeven_rps"] == pytest.approx(798.61, abs=0.01)
    assert section["cheaper"] == "serverless" and section["throttled_requests"] == 0
    assert "cold starts" in section["not_measured"]
    start = printed.index(section["arithmetic"][0])
    assert printed[start : start + len(section["arithmetic"])] == section["arithmetic"]
    text = "\n".join(section["arithmetic"])
    for shown in (
        "billed 4 ms (rounded up to the ms) x 1 GB x $0.00002/GB-s",
        "= $0.08 per million on demand",
        "360,000 requests in 3600 s",
        "100.0 req/s x 0.004 s = 0.4 of 200 (Little's law): nothing throttled",
        "2 instance-hours x $0.115 = $0.23",
        "serverless costs less for this traffic ($0.0288 < $0.23)",
        "below 798.6 req/s sustained",
        "the smallest size: pass --serverless-memory",
        "not measured: cold starts",
    ):
        assert shown in text


def test_plan_says_when_serverless_throttles_or_costs_more(
    result: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        plan(result, "--profile-ramp", "100:700:10m", "--max-concurrency", "2", "--serverless-memory", "2048")
        == 0
    )
    section = json.loads((result.parent / "plan.json").read_text())["serverless"]
    assert section["memory_choice"] == "--serverless-memory" and section["cheaper"] == "instances"
    served = 2 / 0.004  # 500 req/s at most
    expected = sum(max(0.0, rate - served) for rate in np.interp(np.arange(600), [0, 600], [100, 700]))
    assert section["throttled_requests"] == pytest.approx(expected, abs=0.1)
    assert "serverless cannot carry this traffic at max concurrency 2" in capsys.readouterr().out
    assert plan(result, "--profile-ramp", "1:1:1h", "--provisioned-concurrency", "20") == 0
    section = json.loads((result.parent / "plan.json").read_text())["serverless"]
    assert section["serverless_usd"]["provisioned"] == pytest.approx(20 * 1 * 0.000005 * 3600)  # $0.36
    assert section["cheaper"] == "instances"  # $0.36 of provisioned hours > $0.23 of instances
    assert "at no steady rate" in section["arithmetic"][5]


def test_a_table_without_serverless_prices_plans_instances_only(
    result: Path, bare: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert plan(result, "--prices", str(bare)) == 0
    assert json.loads((result.parent / "plan.json").read_text())["serverless"]["compared"] is False
    assert (
        f"serverless: not compared (the price table {bare} has no serverless prices)"
        in capsys.readouterr().out
    )


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--serverless-memory", "1000"], "--serverless-memory 1000: must be 1024, 2048"),
        (["--max-concurrency", "201"], "--max-concurrency 201: must be 1-200"),
        (["--max-concurrency", "4", "--provisioned-concurrency", "5"], "up to the max concurrency (4)"),
        (["--profile-ramp", "1:2"], "--profile-ramp '1:2': expected START:END:DURATION"),
        (["--profile-ramp", "1:2:0.5s"], "shorter than one second"),
        (["--prices", "{bare}", "--serverless-memory", "2048"], "has no serverless prices: expected"),
        (["--prices", "{bad}"], "expected {'serverless'"),
        (
            ["--prices", "{small}", "--serverless-memory", "4096"],
            "no serverless price for 4096 MB (it has: 1024)",
        ),
    ],
)
def test_serverless_mistakes_are_one_line_and_exit_2(
    flags: list[str], message: str, result: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    instances = {"ml.m5.large": {"vcpus": 2, "usd_per_hour": 0.115}}
    one = {
        "usd_per_gb_second": 1,
        "provisioned_usd_per_gb_second": 1,
        "provisioned_compute_usd_per_gb_second": 1,
    }
    tables = {
        "bare": {"instances": instances},
        "bad": {"instances": instances, "serverless": {"memory_mb": {"1024": {"usd_per_gb_second": "x"}}}},
        "small": {"instances": instances, "serverless": {"memory_mb": {"1024": one}}},
    }
    for name, table in tables.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(table))
    flags = [flag.format(**{name: tmp_path / f"{name}.json" for name in tables}) for flag in flags]
    assert plan(result, *flags) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1 and error.startswith("byom plan: ")


def test_simulate_runs_the_plans_serverless_shape(result: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert plan(result, "--max-concurrency", "2") == 0
    capsys.readouterr()
    out = result.parent / "sim"
    assert (
        main(["simulate", str(result.parent / "plan.json"), "--ramp", "100:700:10m", "--out", str(out)]) == 0
    )
    printed = capsys.readouterr().out
    minutes = json.loads(out.with_suffix(".json").read_text())["serverless"]
    assert len(minutes) == 10 and minutes[0]["throttle_rate"] == 0.0
    offered = np.interp(np.arange(600), [0, 600], [100, 700])
    throttled = np.maximum(offered - 500, 0)  # 2 concurrent x 4 ms: 500 req/s
    assert minutes[-1]["throttle_rate"] == pytest.approx(
        throttled[540:].sum() / offered[540:].sum(), abs=1e-5
    )
    assert minutes[-1]["cost"] == pytest.approx((offered - throttled).sum() * 0.004 * 0.00002, rel=1e-4)
    assert "SRVLESS conc" in printed
    assert f"throttled requests {throttled.sum():,.0f}" in printed
    assert "SERVERLESS (1024 MB, max concurrency 2, provisioned none)" in printed


def test_simulate_without_a_serverless_section_runs_the_fleets_only(
    result: Path, bare: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert plan(result, "--prices", str(bare)) == 0
    out = tmp_path / "sim"
    assert (
        main(["simulate", str(result.parent / "plan.json"), "--ramp", "100:200:2m", "--out", str(out)]) == 0
    )
    assert "SERVERLESS" not in capsys.readouterr().out
    assert "serverless" not in json.loads(out.with_suffix(".json").read_text())


def test_the_fleet_line_says_when_the_peak_needs_more_than_the_maximum(result: Path) -> None:
    assert plan(result, "--profile-ramp", "100:1000:1m") == 0  # 2..4 instances at 200 req/s each: 800
    section = json.loads((result.parent / "plan.json").read_text())["serverless"]
    assert (
        "its peak needs more than 4 instances at the target load (raise --peak-rps)"
        in section["arithmetic"][4]
    )
    assert plan(result, "--profile-ramp", "100:1000:1m", "--peak-rps", "1000") == 0
    section = json.loads((result.parent / "plan.json").read_text())["serverless"]
    assert "raise --peak-rps" not in section["arithmetic"][4]


def test_simulate_refuses_an_incomplete_serverless_section_in_one_line(
    result: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert plan(result) == 0
    path = result.parent / "plan.json"
    document = json.loads(path.read_text())
    del document["serverless"]["prices"]
    path.write_text(json.dumps(document))
    capsys.readouterr()
    assert main(["simulate", str(path), "--ramp", "1:2:2m", "--out", str(result.parent / "sim")]) == 2
    error = capsys.readouterr().err
    assert "the plan's serverless section is incomplete" in error and error.count("\n") == 1
