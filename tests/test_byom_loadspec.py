"""byom.measure.loadspec: the arrival schedule of artillery phases, and reading artillery scripts."""

from __future__ import annotations

import itertools
import json

import pytest

from byom.errors import CommandError
from byom.measure.loadspec import Phase, arrival_times, from_artillery, parse_duration

SEED_SCRIPT = """
config:
  target: "http://localhost:8080"
  phases:
    - duration: 60
      arrivalRate: 200
    - duration: 2m
      arrivalRate: 200
      rampTo: 600
    - pause: 5
scenarios:
  - flow:
      - post:
          url: "/invocations"
          headers:
            Content-Type: "text/csv"
          body: "5.1,3.5,1.4,0.2"
      - post:
          url: "/invocations"
          json: {"instances": [[5.1, 3.5, 1.4, 0.2]]}
"""


def test_a_constant_phase_is_evenly_spaced() -> None:
    times = list(arrival_times([Phase(2.0, 100.0)]))
    assert len(times) == 200
    assert times[:3] == pytest.approx([0.0, 0.01, 0.02])
    assert times[-1] < 2.0


def test_a_ramp_sends_the_integral_of_its_rate_and_speeds_up() -> None:
    times = list(arrival_times([Phase(10.0, 100.0, 300.0)]))
    assert len(times) == 2000  # (100 + 300) / 2 * 10
    first_second = sum(1 for t in times if t < 1)
    last_second = sum(1 for t in times if t >= 9)
    assert first_second == pytest.approx(110, abs=1)  # the rate at 0.5 s is 110/s
    assert last_second == pytest.approx(290, abs=1)
    assert all(b > a for a, b in itertools.pairwise(times))


def test_a_ramp_from_zero_and_a_ramp_down_are_well_defined() -> None:
    up = list(arrival_times([Phase(4.0, 0.0, 100.0)]))
    down = list(arrival_times([Phase(4.0, 100.0, 0.0)]))
    assert len(up) == len(down) == 200
    assert up[0] == 0.0 and max(up) < 4.0 and max(down) < 4.0


def test_phases_follow_each_other() -> None:
    times = list(arrival_times([Phase(1.0, 10.0), Phase(1.0, 0.0), Phase(1.0, 10.0)]))
    assert len(times) == 20
    assert not any(1.0 <= t < 2.0 for t in times)
    assert times[10] == pytest.approx(2.0)


def test_the_seed_script_reads_as_written() -> None:
    spec = from_artillery(SEED_SCRIPT)
    assert spec.target == "http://localhost:8080"
    assert spec.phases == [Phase(60.0, 200.0), Phase(120.0, 200.0, 600.0), Phase(5.0, 0.0)]
    csv_request, json_request = spec.requests
    assert csv_request.body == b"5.1,3.5,1.4,0.2"
    assert csv_request.headers == {"Content-Type": "text/csv"}
    assert json.loads(json_request.body) == {"instances": [[5.1, 3.5, 1.4, 0.2]]}
    assert json_request.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("config: [", "not valid YAML"),
        ("scenarios: []", "no `config`"),
        ("config: {phases: [{duration: 10}]}", "needs arrivalRate"),
        ("config: {phases: [{duration: soon, arrivalRate: 1}]}", "not a duration"),
        ("config: {phases: [{duration: 10, arrivalRate: -1}]}", ">= 0"),
        ("config: {phases: [{duration: 0, arrivalRate: 1}]}", "above 0"),
    ],
)
def test_a_bad_script_is_refused_with_the_reason(script: str, message: str) -> None:
    with pytest.raises(CommandError, match=message):
        from_artillery(script)


@pytest.mark.parametrize(
    ("text", "seconds"), [("30", 30.0), ("30s", 30.0), ("5m", 300.0), ("1h", 3600.0), (90, 90.0)]
)
def test_durations_take_artillery_units(text: object, seconds: float) -> None:
    assert parse_duration(text, "d") == seconds
