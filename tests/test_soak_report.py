"""bench/soak_report.py's verdict on curves, answers and pids made here: a flat or noisy RSS curve
passes, a slow leak fails, growth during the warm-up is not judged, a wrong status or a replaced
worker fails. (The soak itself, `make soak`, is an hour of real traffic: not a test.)"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import soak_report
from soak_report import CaseCount, Sample, Soak

MIB = 1024


def curve(rss_kib: np.ndarray, every: float = 5.0, pid: int = 10) -> list[Sample]:
    return [Sample(k * every, "iris", "worker", pid, int(v)) for k, v in enumerate(rss_kib)]


def verdict(samples: list[Sample], warmup: float) -> dict[str, bool]:
    return {g.name: g.passed for g in soak_report.memory_verdict(samples, warmup)}


def test_a_flat_curve_with_allocator_noise_passes() -> None:
    noise = np.random.default_rng(0).integers(-256, 256, 720)  # a few pages up and down
    assert verdict(curve(70 * MIB + noise), warmup=600) == {"iris worker 10": True, "iris total": True}


def test_a_leak_of_one_byte_per_request_at_1000_per_second_fails_within_the_hour() -> None:
    seconds = np.arange(720) * 5.0
    leak = 70 * MIB + seconds * 1000 / 1024  # 1 byte per request, in KiB
    assert not any(verdict(curve(leak), warmup=600).values())


def test_growth_during_the_warm_up_only_is_not_judged() -> None:
    warming = np.minimum(np.arange(720) * 200, 100 * 200) + 70 * MIB  # grows 20 MiB, then flat
    assert all(verdict(curve(warming), warmup=600).values())
    assert not all(verdict(curve(warming), warmup=0).values())


def test_the_total_of_a_server_is_judged_beside_each_process() -> None:
    seconds = np.arange(200)
    steady = curve(np.full(200, 70 * MIB), pid=1)
    creeping = curve(70 * MIB + seconds * 15, pid=2)  # 3 MiB over the window: each alone fails
    assert verdict(steady + creeping, warmup=0) == {
        "iris worker 1": True,
        "iris worker 2": False,
        "iris total": False,
    }


def soak(cases: list[CaseCount], after: frozenset[int]) -> Soak:
    return Soak([], cases, [], {"iris": frozenset({1, 2})}, {"iris": after})


def test_a_wrong_status_or_a_replaced_worker_fails_the_soak() -> None:
    right = CaseCount("iris", "one CSV row", 200, {200: 10})
    assert soak([right], frozenset({1, 2})).passed
    assert not soak([right, CaseCount("iris", "bad", 422, {422: 9, 500: 1})], frozenset({1, 2})).passed
    assert not soak([CaseCount("iris", "one CSV row", 200, {200: 9, 1: 1})], frozenset({1, 2})).passed
    assert not soak([right], frozenset({1, 3})).passed
    assert "Verdict: FAIL" in soak_report.markdown(soak([right], frozenset({1, 3})))


def test_the_report_says_in_which_minutes_answers_went_wrong() -> None:
    right = CaseCount("iris", "one CSV row", 200, {200: 10, 1: 5})
    report = Soak([], [right], [], {}, {}, {"iris": {0: 0, 1: 5}, "xgboost": {0: 0}})
    assert "- iris, wrong answers in each minute: 1: 0, 2: 5" in soak_report.markdown(report)
    assert "xgboost, wrong" not in soak_report.markdown(report)
