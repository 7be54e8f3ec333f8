"""byom.plan.capacity, byom.plan.sizing and byom.plan.step_search on synthetic timelines: the search and the formula."""

from __future__ import annotations

import math

import numpy as np
import pytest

from byom.errors import CommandError
from byom.measure import latency_histogram
from byom.measure.timeline import Second
from byom.plan import capacity, sizing
from byom.plan.capacity import Slo
from byom.plan.prices import InstanceType, load
from byom.plan.step_search import Search


def second(index: int, rate: int, p99: float, errors: int = 0, achieved: int | None = None) -> Second:
    err = {"503": errors} if errors else {}
    return Second(index, rate, rate if achieved is None else achieved, rate - errors, p99 / 2, p99, p99, err)


def ramp(rates: list[int], p99_of: dict[int, float] | None = None) -> list[Second]:
    """A timeline whose p99 is 5 ms below 400 req/s and explodes past it (an open-loop queue)."""
    rows = []
    for i, rate in enumerate(rates):
        p99 = (p99_of or {}).get(i, 5.0 if rate <= 400 else 500.0 * (rate - 400))
        rows.append(second(i, rate, p99, achieved=min(rate, 420)))
    return rows


def test_max_rps_is_the_best_window_within_the_slo() -> None:
    rows = ramp(list(range(100, 700, 25)))
    found = capacity.max_sustained(rows, Slo())
    assert found is not None
    assert found.rps == pytest.approx((300 + 325 + 350 + 375 + 400) / 5)
    assert found.p99_ms == 5.0


def test_a_noisy_second_at_low_load_does_not_lower_max_rps() -> None:
    rows = ramp([100] * 6 + [400] * 6 + [600] * 3, p99_of={2: 80.0})
    found = capacity.max_sustained(rows, Slo())
    assert found is not None and found.rps == 400


def test_a_noisy_second_inside_the_plateau_needs_a_clean_window_elsewhere() -> None:
    rows = ramp([400] * 9, p99_of={4: 40.0})
    assert capacity.max_sustained(rows, Slo()) is None
    assert capacity.max_sustained(rows, Slo(window=4)) is not None


def test_errors_past_the_budget_fail_a_second_and_the_budget_is_configurable() -> None:
    rows = [second(i, 500, 5.0, errors=40) for i in range(5)]  # 8% errors
    assert capacity.max_sustained(rows, Slo()) is None
    found = capacity.max_sustained(rows, Slo(error_budget=0.1))
    assert found is not None and found.rps == 460 and found.error_rate == pytest.approx(0.08)


def test_the_slo_latency_is_configurable() -> None:
    rows = [second(i, 300, 20.0) for i in range(5)]
    assert capacity.max_sustained(rows, Slo(p99_ms=15)) is None
    assert capacity.max_sustained(rows, Slo(p99_ms=25)) is not None


def timed_second(index: int, latencies_ms: list[float]) -> Second:
    """A second built from its requests' latencies, histogram included, as `byom loadtest` records it."""
    latency = np.array(latencies_ms)
    p50, p95, p99 = np.percentile(latency, [50, 95, 99])
    return Second(
        index, latency.size, latency.size, latency.size, p50, p95, p99,
        latency_histogram=latency_histogram.of(latency),
    )  # fmt: skip


def test_a_window_is_judged_by_all_its_requests_together() -> None:
    quiet, stalled = [4.0] * 1000, [4.0] * 985 + [200.0] * 15  # a stall delays 1.5% of one second
    rows = [timed_second(i, stalled if i == 2 else quiet) for i in range(5)]
    assert rows[2].p99_ms > 100  # the stalled second alone misses a 15 ms SLO
    found = capacity.max_sustained(rows, Slo(window=5))
    assert found is not None and found.rps == 1000 and 4.0 <= found.p99_ms <= 4.0 * 1.045
    two_stalls = [timed_second(i, stalled if i % 2 else quiet) for i in range(5)]  # 0.6% of the window
    assert capacity.max_sustained(two_stalls, Slo(window=5)) is not None
    worse = [timed_second(i, [4.0] * 970 + [200.0] * 30) for i in range(5)]  # 3% of every second
    assert capacity.max_sustained(worse, Slo(window=5)) is None


def test_timelines_without_histograms_are_judged_by_their_worst_second() -> None:
    rows = [second(i, 500, 200.0 if i == 2 else 4.0) for i in range(5)]
    assert capacity.window_p99_ms(rows, 5) == [200.0]
    assert capacity.max_sustained(rows, Slo(window=5)) is None


def test_histogram_percentiles_are_within_one_bucket_above_the_exact_value() -> None:
    rng = np.random.default_rng(3)
    latency = rng.lognormal(mean=1.5, sigma=1.2, size=20_000)
    counts = latency_histogram.dense([latency_histogram.of(latency)])
    for q in (50, 95, 99, 99.9):
        exact = float(np.sort(latency)[round(latency.size * q / 100) - 1])  # nearest rank
        read = float(latency_histogram.percentiles(counts, q)[0])
        assert exact <= read <= exact * 2 ** (1 / latency_histogram.PER_OCTAVE) * 1.0001
    assert np.isnan(latency_histogram.percentiles(latency_histogram.dense([[]]), 99)[0])
    assert latency_histogram.of(np.array([0.0, 1e12])) == [[0, 1], [latency_histogram.BUCKETS - 1, 1]]


def test_saturation_is_the_best_sustained_throughput() -> None:
    rows = ramp(list(range(100, 900, 50)))
    assert capacity.saturation_rps(rows, 5) == pytest.approx(420)
    draining = [
        second(i, 500, 900.0, achieved=achieved) for i, achieved in enumerate([300, 900, 300, 900, 300])
    ]
    assert capacity.saturation_rps(draining, 5) == pytest.approx((300 * 3 + 500 * 2) / 5)  # bursts capped


def test_the_latency_curve_rises_and_stops_at_saturation() -> None:
    rows = ramp(list(range(100, 900, 10)), p99_of={3: 30.0})
    curve = capacity.latency_curve(rows, up_to_rps=420, bins=8)
    rates, p99s = zip(*curve, strict=True)
    assert max(rates) <= 420 and min(rates) >= 100
    assert list(p99s) == sorted(p99s)
    assert p99s[0] == 5.0  # the one noisy second is outvoted by its bin


def test_the_curve_averages_a_noisy_bin_instead_of_lifting_every_bin_after_it() -> None:
    assert capacity.non_decreasing([5.0, 5.0, 40.0, 6.0, 6.0, 50.0, 90.0]) == pytest.approx(
        [5, 5, 52 / 3, 52 / 3, 52 / 3, 50, 90]
    )
    assert capacity.non_decreasing([1.0, 2.0, 3.0]) == [1.0, 2.0, 3.0]


def test_step_search_brackets_the_knee_and_refines_it() -> None:
    true_max = 530.0

    def run_step(rate: float) -> list[Second]:
        p99 = 4.0 if rate <= true_max else 900.0
        return [second(i, round(rate), p99) for i in range(5)]

    search = Search(Slo(), step_seconds=5, growth=1.5, refine=3)
    found = search.run(100.0, run_step)
    offered = [rate for rate, _ in search.steps]
    assert offered[:5] == [100.0, 150.0, 225.0, 337.5, 506.25]
    assert offered[5] == offered[6] == pytest.approx(759.375)  # a failure is confirmed once
    assert len(offered) == 11 and found is not None
    assert offered[-1] == max(rate for rate, passed in search.steps if passed)  # the best, re-run
    assert true_max * 0.95 <= found.rps <= true_max
    assert len(search.rows) == 55 and [row.second for row in search.rows] == list(range(55))


def test_a_lucky_pass_above_the_knee_is_dropped_when_its_rerun_fails() -> None:
    lucky = {506.25}

    def run_step(rate: float) -> list[Second]:
        p99 = 4.0 if rate <= 400 or rate in lucky else 900.0
        lucky.discard(rate)  # passes once only
        return [second(i, round(rate), p99) for i in range(5)]

    search = Search(Slo(), growth=1.5, refine=2)
    found = search.run(100.0, run_step)
    assert (506.25, True) in [(rate, passed is not None) for rate, passed in search.steps]
    assert found is not None and found.rps <= 400


def test_a_refuted_best_rate_is_bisected_not_dropped_a_whole_growth_factor() -> None:
    lucky = {506.25}  # the knee is at 450; 506.25 passes once

    def run_step(rate: float) -> list[Second]:
        p99 = 4.0 if rate <= 450 or rate in lucky else 900.0
        lucky.discard(rate)
        return [second(i, round(rate), p99) for i in range(5)]

    search = Search(Slo(), growth=1.5, refine=0)
    found = search.run(100.0, run_step)
    tail = [(rate, passed is not None) for rate, passed in search.steps][-3:]
    assert tail == [(506.25, False), (421.875, True), (421.875, True)]  # re-run, refuted, gap bisected
    assert found is not None and found.rps == 422  # not 337.5, the next rate the bracket had passed


def test_nothing_is_confirmed_when_every_rerun_fails() -> None:
    calls: dict[float, int] = {}

    def run_step(rate: float) -> list[Second]:
        calls[rate] = calls.get(rate, 0) + 1
        p99 = 4.0 if calls[rate] == 1 and rate <= 300 else 900.0
        return [second(i, round(rate), p99) for i in range(5)]

    assert Search(Slo(), growth=2.0, refine=0).run(100.0, run_step) is None


def test_one_noisy_step_does_not_cap_the_search() -> None:
    noisy = {225.0}

    def run_step(rate: float) -> list[Second]:
        p99 = 900.0 if rate in noisy or rate > 530 else 4.0
        noisy.discard(rate)  # noisy once only
        return [second(i, round(rate), p99) for i in range(5)]

    found = Search(Slo(), growth=1.5, refine=3).run(100.0, run_step)
    assert found is not None and found.rps > 500


def test_step_search_steps_down_when_it_starts_past_the_knee() -> None:
    def run_step(rate: float) -> list[Second]:
        return [second(i, round(rate), 4.0 if rate <= 300 else 900.0) for i in range(5)]

    search = Search(Slo(), growth=2.0, refine=2)
    found = search.run(1000.0, run_step)
    assert [rate for rate, _ in search.steps] == [1000.0, 1000.0, 500.0, 250.0, 375.0, 312.5, 250.0]
    assert found is not None and found.rps == 250


def test_step_search_where_nothing_passes_finds_nothing() -> None:
    search = Search(Slo(), max_steps_down=3)
    assert search.run(100.0, lambda rate: [second(i, round(rate), 99.0) for i in range(5)]) is None
    assert len(search.steps) == 5


def test_the_invocations_target_is_aws_formula() -> None:
    assert sizing.invocations_target(412.0, 0.5) == pytest.approx(412 * 0.5 * 60)
    assert sizing.invocations_target(412.0, 1.0) == pytest.approx(24720)


@pytest.mark.parametrize("factor", [0.0, -0.1, 1.01])
def test_the_safety_factor_must_be_in_0_1(factor: float) -> None:
    with pytest.raises(CommandError, match="safety-factor"):
        sizing.invocations_target(400.0, factor)


def test_fleet_bounds_keep_two_instances_and_size_for_the_peak() -> None:
    sized = sizing.size_fleet(400.0, 0.5, 2, peak_rps=800.0)
    assert (sized.min_instances, sized.max_instances) == (2, 4)  # 800 / (400 x 0.5)
    assert sizing.size_fleet(400.0, 0.5, 2, peak_rps=801.0).max_instances == 5
    assert sizing.size_fleet(400.0, 0.5, 3, peak_rps=100.0).max_instances == 3
    assert sizing.size_fleet(400.0, 0.5, 2, peak_rps=None).max_instances == 4
    with pytest.raises(CommandError, match="at least 2"):
        sizing.size_fleet(400.0, 0.5, 1, None)
    with pytest.raises(CommandError, match="peak-rps"):
        sizing.size_fleet(400.0, 0.5, 2, -5.0)
    with pytest.raises(CommandError, match="MAX_RPS is 0"):
        sizing.size_fleet(0.0, 0.5, 2, None)


def test_cost_per_hour_and_per_million() -> None:
    instance = InstanceType("ml.m4.xlarge", 4, 0.28)
    sized = sizing.size_fleet(400.0, 0.5, 2, peak_rps=800.0)
    cost = sizing.cost(sized, 400.0, instance)
    assert cost.min_fleet_usd_per_hour == pytest.approx(0.56)
    assert cost.max_fleet_usd_per_hour == pytest.approx(1.12)
    assert cost.usd_per_million_at_target == pytest.approx(0.28 / (200 * 3600) * 1e6, rel=1e-3)
    assert cost.usd_per_million_at_max_rps == pytest.approx(0.28 / (400 * 3600) * 1e6, rel=1e-3)


def test_the_cpu_target_is_summed_over_cores() -> None:
    assert sizing.cpu_target(70.0, InstanceType("ml.m5.xlarge", 4, 0.23)) == 280.0
    with pytest.raises(CommandError, match="per-core"):
        sizing.cpu_target(150.0, InstanceType("ml.m5.xlarge", 4, 0.23))


def test_the_shipped_price_table_covers_the_seeds_instances() -> None:
    table = load(None)
    assert table.region and table.as_of
    for name in ("ml.m5.large", "ml.m5.xlarge", "ml.m4.xlarge", "ml.c5.xlarge"):
        assert table.get(name).usd_per_hour > 0 and table.get(name).vcpus >= 2
    with pytest.raises(CommandError, match="not in the price table"):
        table.get("ml.p99.mega")
    assert math.isclose(table.get("ml.m5.xlarge").usd_per_hour, 2 * table.get("ml.m5.large").usd_per_hour)
