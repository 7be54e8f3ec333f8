"""byom.plan.fleet: the fleet model's queue, alarms, start times and cost, on synthetic traffic."""

from __future__ import annotations

import numpy as np
import pytest

from byom.plan import fleet, profile
from byom.plan.fleet import Autoscaling, InstanceModel, Timing

MODEL = InstanceModel(capacity_rps=400.0, curve=[(0.0, 4.0), (300.0, 6.0), (400.0, 30.0)], usd_per_hour=3.6)
POLICY = Autoscaling("invocations", target_value=200 * 60, min_instances=2, max_instances=6)


def constant(rps: float, minutes: int) -> np.ndarray:
    return np.full(minutes * 60, rps)


def test_a_fleet_under_capacity_follows_the_latency_curve() -> None:
    minutes = fleet.simulate(constant(300.0, 3), MODEL, 2, None, Timing())
    assert len(minutes) == 3
    assert all(m.error_rate == 0 and m.p99_ms == pytest.approx(4.0 + 2.0 * 150 / 300) for m in minutes)
    assert minutes[-1].utilisation == pytest.approx(300 / 800)
    assert minutes[-1].cost == pytest.approx(2 * 3.6 * 3 / 60)


def test_an_overloaded_fleet_queues_then_fails() -> None:
    minutes = fleet.simulate(constant(1000.0, 6), MODEL, 2, None, Timing())
    p99s = [m.p99_ms for m in minutes]
    assert p99s[0] > 300 and p99s == sorted(p99s)
    # 200 req/s too many: the backlog reaches 60 s of the fleet's work (48,000) after 4 minutes
    assert [m.error_rate for m in minutes[:4]] == [0, 0, 0, 0]
    assert minutes[-1].error_rate == pytest.approx(0.2)
    assert p99s[-1] == pytest.approx(60_000 + 30, rel=0.01)


def test_scale_out_waits_for_three_datapoints_and_the_start_time() -> None:
    rates = np.concatenate([constant(300.0, 5), constant(700.0, 20)])
    minutes = fleet.simulate(rates, MODEL, 2, POLICY, Timing(start_s=360))
    in_service = [m.instances for m in minutes]
    desired = [m.desired for m in minutes]
    assert in_service[:14] == [2.0] * 14
    assert desired[7] == 2 and desired[8] == 4  # decided at the end of minute 7: datapoints 5, 6, 7 high
    assert in_service[14] == 4.0  # 6 minutes after the decision at the end of minute 7
    assert max(in_service) == 4.0


def test_scale_in_waits_for_fifteen_low_datapoints_and_never_goes_below_min() -> None:
    minutes = fleet.simulate(constant(100.0, 40), MODEL, 2, POLICY, Timing())
    assert {m.instances for m in minutes} == {2.0}
    rates = np.concatenate([constant(1000.0, 15), constant(100.0, 40)])
    minutes = fleet.simulate(rates, MODEL, 2, POLICY, Timing(start_s=60))
    peak = max(m.instances for m in minutes)
    assert peak == 5.0  # ceil(1000 / 200)
    assert minutes[-1].instances == 2.0
    low_from = 15
    first_scale_in = next(m.minute for m in minutes[low_from:] if m.desired < 5)
    assert first_scale_in >= low_from + 14


def test_max_instances_caps_the_fleet_and_errors_remain_past_it() -> None:
    minutes = fleet.simulate(constant(3000.0, 30), MODEL, 2, POLICY, Timing(start_s=60))
    assert max(m.instances for m in minutes) == 6.0
    assert minutes[-1].error_rate > 0


def test_a_cpu_policy_sees_cpu_summed_over_cores() -> None:
    model = InstanceModel(400.0, [(0.0, 4.0)], 1.0, vcpus=4)
    cpu = Autoscaling("cpu", target_value=70 * 4, min_instances=2, max_instances=8)
    minutes = fleet.simulate(constant(600.0, 6), model, 2, cpu, Timing())
    assert minutes[0].metric == pytest.approx(600 / 800 * 100 * 4)
    assert minutes[3].desired == 3  # ceil(2 x 300 / 280)


def test_first_breach_on_a_ramp_is_where_the_curve_crosses_the_slo() -> None:
    rates = profile.ramp(0.0, 500.0, 100.0).rates()  # 5 req/s more every second
    second = fleet.first_breach(rates, MODEL, 1, p99_ms=15.0, error_budget=0.05)
    crossing_rps = 300 + (15 - 6) / (30 - 6) * 100  # on the curve between 300 and 400
    assert second is not None
    assert rates[second] == pytest.approx(crossing_rps, abs=5)
    assert fleet.first_breach(rates, MODEL, 2, p99_ms=15.0, error_budget=0.05) is None


def test_the_seed_profile_and_a_csv_profile() -> None:
    rates = profile.seed().rates()
    assert len(rates) == 7200
    assert (rates[0], rates[1800], rates[3600], rates[5400]) == (200.0, 400.0, 600.0, 700.0)
    csv_profile = profile.parse_csv("minute,rps\n0,100\n10,300\n", "test")
    assert len(csv_profile.rates()) == 600 and csv_profile.rates()[300] == 200.0


@pytest.mark.parametrize(
    "text",
    [
        "t,rps\n0,1\n1,2\n",
        "second,rps\n5,1\n9,2\n",
        "second,rps\n0,1\n",
        "second,rps\n0,1\n1,x\n",
        "second,rps\n0,1\n1,-2\n",
    ],
)
def test_a_bad_profile_csv_is_refused(text: str) -> None:
    from byom.errors import CommandError

    with pytest.raises(CommandError, match="profile"):
        profile.parse_csv(text, "test")
