"""What a load test sends and when: phases, requests, and the open-loop arrival schedule.

Owns the artillery subset we read (config.target, config.phases with duration / arrivalRate /
rampTo / arrivalCount / pause, scenarios[].flow[].post with url, headers, body or json, and
config.ensure, whose checks byom.measure.ensure parses and judges) and the arrival times a list
of phases gives, whole or shared among generator processes (`schedule`). It knows nothing of
sockets or SageMaker. Keys are read by artillery's spelling, with a warning for each key not
read as written (byom.measure.artillery_keys).
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from byom.errors import CommandError
from byom.measure import artillery_keys as keys
from byom.measure import ensure
from byom.measure.artillery_keys import KeyReader

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|sec|m|min|h)?\s*$")
_UNIT_SECONDS = {None: 1.0, "s": 1.0, "sec": 1.0, "ms": 0.001, "m": 60.0, "min": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class Phase:
    """`duration` seconds of arrivals going linearly from `arrival_rate` to `ramp_to` per second."""

    duration: float
    arrival_rate: float
    ramp_to: float | None = None

    @property
    def end_rate(self) -> float:
        return self.arrival_rate if self.ramp_to is None else self.ramp_to

    def count(self) -> int:
        """Arrivals in the phase: the integral of the rate, rounded down."""
        return math.floor((self.arrival_rate + self.end_rate) * self.duration / 2 + 1e-9)

    def offset_of(self, k: int) -> float:
        """Seconds from the phase start to its k-th arrival (k from 0): solves N(t) = k."""
        start, slope = self.arrival_rate, (self.end_rate - self.arrival_rate) / self.duration
        if k == 0:
            return 0.0
        if abs(slope) < 1e-12:
            return k / start
        # N(t) = start*t + slope*t^2/2; the positive root, written to stay exact when start == 0.
        return 2 * k / (start + math.sqrt(start * start + 2 * slope * k))


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class LoadSpec:
    target: str
    phases: Sequence[Phase]
    requests: Sequence[Request]
    checks: Sequence[ensure.Check] = ()  # config.ensure's, judged at the end of the test
    warnings: Sequence[str] = ()  # one line per key read under another spelling, or not read

    @property
    def duration(self) -> float:
        return sum(phase.duration for phase in self.phases)


def arrival_times(phases: Sequence[Phase]) -> Iterator[float]:
    """Every scheduled send time in seconds from the start, in order (lazily: hours of load are fine)."""
    start = 0.0
    for phase in phases:
        for k in range(phase.count()):
            yield start + phase.offset_of(k)
        start += phase.duration


def schedule(phases: Sequence[Phase], share: int = 0, shares: int = 1) -> Iterator[tuple[int, float]]:
    """Share `share` (from 0) of `shares` of the arrivals, as (index in the whole schedule, send time):
    every `shares`-th arrival from the `share`-th, at exactly the time the whole schedule gives it.
    The shares together are the whole schedule, and each one keeps its rate's shape."""
    return itertools.islice(enumerate(arrival_times(phases)), share, None, shares)


def parse_duration(value: object, what: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if match is None:
            raise CommandError(f"{what}: {value!r} is not a duration (e.g. 60, 30s, 5m)")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if not seconds > 0:
        raise CommandError(f"{what}: the duration must be above 0")
    return seconds


def parse_rate(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise CommandError(f"{what}: {value!r} is not a rate")
    try:
        rate = float(value)
    except ValueError:
        raise CommandError(f"{what}: {value!r} is not a rate") from None
    if not (rate >= 0 and math.isfinite(rate)):
        raise CommandError(f"{what}: a rate must be a finite number >= 0")
    return rate


def phase_from_mapping(raw: Mapping[str, Any], index: int) -> Phase:
    what = f"phase {index + 1}"
    duration = parse_duration(raw.get("duration", raw.get("pause")), f"{what} duration")
    if "pause" in raw:
        return Phase(duration, 0.0)
    if "arrivalCount" in raw:
        return Phase(duration, parse_rate(raw["arrivalCount"], f"{what} arrivalCount") / duration)
    if "arrivalRate" not in raw:
        raise CommandError(f"{what}: needs arrivalRate (or arrivalCount, or pause)")
    rate = parse_rate(raw["arrivalRate"], f"{what} arrivalRate")
    ramp = parse_rate(raw["rampTo"], f"{what} rampTo") if "rampTo" in raw else None
    return Phase(duration, rate, ramp)


def request_from_post(post: Mapping[str, Any]) -> Request:
    headers = {str(k): str(v) for k, v in (post.get("headers") or {}).items()}
    if "json" in post:
        body = json.dumps(post["json"]).encode()
        headers.setdefault("Content-Type", "application/json")
    else:
        raw = post.get("body", "")
        body = raw.encode() if isinstance(raw, str) else json.dumps(raw).encode()
    return Request("POST", str(post.get("url", "/invocations")), headers, body)


def checks(reader: KeyReader, config: Mapping[str, Any]) -> list[ensure.Check]:
    """config.ensure's checks, or config.plugins.ensure's (artillery's docs show both places)."""
    raw_plugins = config.get("plugins")
    plugins = reader.mapping(raw_plugins, "config.plugins", keys.plugins(raw_plugins or ()))
    given = {"config.ensure": config.get("ensure"), "config.plugins.ensure": plugins.get("ensure")}
    given = {path: raw for path, raw in given.items() if raw}
    if len(given) > 1:
        raise CommandError("config.ensure and config.plugins.ensure both set checks: keep one of them")
    if not given:
        return []
    ((path, raw),) = given.items()
    section = reader.mapping(raw, path, keys.ENSURE)
    if "conditions" in section:
        section["conditions"] = reader.mappings(section["conditions"], f"{path}.conditions", keys.CONDITION)
    return ensure.parse(section, path)


def from_artillery(text: str) -> LoadSpec:
    """A LoadSpec from an artillery script's text; every post step of every scenario, in order."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise CommandError(f"the artillery script is not valid YAML: {error}") from None
    reader = KeyReader()
    top = reader.mapping(document if isinstance(document, dict) else None, "", keys.TOP)
    if not isinstance(top.get("config"), dict):
        raise CommandError("the artillery script has no `config` section")
    config = reader.mapping(top["config"], "config", keys.CONFIG)
    phases = reader.mappings(config.get("phases"), "config.phases", keys.PHASE)
    scripted_checks = checks(reader, config)
    posts = []
    for s, scenario in enumerate(reader.mappings(top.get("scenarios"), "scenarios", keys.SCENARIO)):
        steps = reader.mappings(scenario.get("flow"), f"scenarios[{s}].flow", keys.STEP)
        posts += [
            reader.mapping(step["post"], f"scenarios[{s}].flow[{i}].post", keys.POST)
            for i, step in enumerate(steps)
            if "post" in step
        ]
    return LoadSpec(
        str(config.get("target", "")),
        [phase_from_mapping(raw, i) for i, raw in enumerate(phases)],
        [request_from_post(p) for p in posts],
        scripted_checks,
        reader.warnings,
    )
