"""`ensure`: artillery's end-of-test checks, judged on a load test's whole run.

Owns the checks an artillery script sets under config.ensure (or config.plugins.ensure), as
artillery v2's ensure plugin judges them: `thresholds` (each `metric: value` holds when the metric
is below the value), `conditions` (an expression, byom.measure.expression; strict unless
`strict: false`, and a failed optional check does not change the exit status), and the legacy
keys (`min`, `max`, `median`, `p95`, `p99`: http.response_time's, below the value in ms;
`maxErrorRate`: failed requests at most that percentage). It owns the metrics byom gives them and
the verdict, one line per check. A metric byom cannot compute is refused when the script is read,
before any load (artillery would fail that check at the end).

The metrics are byom's, under artillery's names, over the whole run: http.response_time.* are the
latencies of every request, failed ones included (a timeout counts as its timeout), as the
summary's percentiles are; a status that never came counts 0 (`http.codes.500 == 0` holds); a
request is a virtual user, and it fails on what byom counts as an error: any status outside 2xx, a
timeout or a connection error (artillery's own vusers fail on the last two only).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from byom.errors import CommandError
from byom.measure.expression import compile_condition

CHECKS_FAILED = 3  # the exit code when a strict check fails (2 is a usage error, 130 an interrupt)

LATENCY = {"min": 0.0, "max": 100.0, "median": 50.0, "p50": 50.0, "p75": 75.0, "p90": 90.0}
LATENCY |= {"p95": 95.0, "p99": 99.0, "p999": 99.9}
LEGACY = ("min", "max", "median", "p95", "p99")  # the plugin's legacy keys: no others
KEYS = frozenset({"thresholds", "conditions", "maxErrorRate", *LEGACY})
CONDITION_KEYS = frozenset({"expression", "strict"})
COUNTS = "http.requests http.responses http.request_rate vusers.created vusers.completed vusers.failed"
METRICS = (*(f"http.response_time.{name}" for name in LATENCY), *COUNTS.split(), "http.codes.<status>")
_CODE = re.compile(r"^http\.codes\.([1-5]\d\d)$")

Metrics = Mapping[str, float]


@dataclass(frozen=True)
class Check:
    """One check: its line's label, and how to judge it (passed?, the figures it read)."""

    label: str
    judge: Callable[[Metrics], tuple[bool, str]]
    strict: bool = True


def parse(section: Mapping[str, Any], path: str) -> list[Check]:
    """The checks of an ensure section whose keys (and conditions' keys) are artillery's spelling."""
    checks = [_legacy(name, section[name], path) for name in LEGACY if name in section]
    if "maxErrorRate" in section:
        checks.append(_max_error_rate(_number(section["maxErrorRate"], f"{path}.maxErrorRate")))
    thresholds = section.get("thresholds") or []
    if not isinstance(thresholds, list):
        raise CommandError(f"{path}.thresholds: expected a list of {{metric: value}}, not {thresholds!r}")
    for i, entry in enumerate(thresholds):
        where = f"{path}.thresholds[{i}]"
        if not isinstance(entry, dict) or len(entry) != 1:
            raise CommandError(f"{where}: expected one `metric: value`, e.g. http.response_time.p99: 200")
        ((name, value),) = entry.items()
        checks.append(_below(metric_name(str(name), where), _number(value, where), str(name)))
    for i, condition in enumerate(section.get("conditions") or []):
        checks.append(_condition(condition, f"{path}.conditions[{i}]"))
    return checks


def metric_name(name: str, where: str) -> str:
    """The metric `name` reads (engine.http.X is http.X); refused if byom cannot compute it."""
    canonical = name.removeprefix("engine.") if name.startswith("engine.http.") else name
    if canonical in METRICS or _CODE.match(canonical):
        return canonical
    spelt = next((m for m in METRICS if m.lower() == canonical.lower()), None)
    hint = f"; artillery spells it {spelt}" if spelt else f"; it computes {', '.join(METRICS)}"
    raise CommandError(f"{where}: byom loadtest cannot compute the metric {name!r}{hint}")


def measure(latency_ms: np.ndarray, statuses: np.ndarray, seconds: float) -> dict[str, float]:
    """The whole run's metrics from one latency (ms) and one status (byom.measure.loadgen's) per request."""
    metrics = {
        f"http.response_time.{name}": float(np.percentile(latency_ms, q)) if latency_ms.size else math.nan
        for name, q in LATENCY.items()
    }
    codes, numbers = np.unique(statuses[statuses >= 100], return_counts=True)
    metrics |= {f"http.codes.{c}": float(n) for c, n in zip(codes, numbers, strict=True)}
    failed = int(((statuses < 200) | (statuses >= 300)).sum())
    metrics["http.requests"] = metrics["vusers.created"] = float(statuses.size)
    metrics["http.responses"] = float(numbers.sum())
    metrics["http.request_rate"] = statuses.size / seconds if seconds > 0 else 0.0
    metrics["vusers.failed"], metrics["vusers.completed"] = float(failed), float(statuses.size - failed)
    return metrics


def value(metrics: Metrics, name: str) -> float:
    """A metric's value; a status code that never came counts 0."""
    return metrics.get(name, 0.0 if _CODE.match(name) else math.nan)


def verdict(checks: Sequence[Check], metrics: Metrics) -> tuple[list[str], bool]:
    """One line per check, and whether every strict check passed."""
    lines, passed = [], True
    for check in checks:
        ok, figures = check.judge(metrics)
        outcome = "ok" if ok else "FAILED" if check.strict else "failed (optional)"
        lines.append(f"ensure {check.label}: {outcome} ({figures})")
        passed = passed and (ok or not check.strict)
    return lines, passed


def show(number: float, unit: str = "") -> str:
    if math.isnan(number):
        return "none: no requests"
    exact = number.is_integer()
    return (f"{number:.0f}" if exact else f"{number:.1f}" if abs(number) >= 1 else f"{number:.3g}") + unit


def _number(raw: object, where: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise CommandError(f"{where}: {raw!r} is not a number")
    return float(raw)


def _legacy(name: str, raw: object, path: str) -> Check:
    limit = _number(raw, f"{path}.{name}")
    check = _below(f"http.response_time.{name}", limit, name, " ms")
    return Check(f"{name} < {show(limit)} ms", check.judge)


def _below(metric: str, limit: float, shown: str, unit: str = "") -> Check:
    def judge(metrics: Metrics) -> tuple[bool, str]:
        measured = value(metrics, metric)
        return measured < limit, f"{shown} {show(measured, unit)}"

    return Check(f"{shown} < {show(limit)}", judge)


def _max_error_rate(limit: float) -> Check:
    def judge(metrics: Metrics) -> tuple[bool, str]:
        requests, failed = metrics["vusers.created"], metrics["vusers.failed"]
        rate = 100 * failed / requests if requests else 0.0
        return rate <= limit, f"error rate {show(rate)}%: {show(failed)} of {show(requests)} requests"

    return Check(f"maxErrorRate <= {show(limit)}%", judge)


def _condition(condition: Mapping[str, Any], where: str) -> Check:
    text, strict = condition.get("expression"), condition.get("strict", True)
    if not isinstance(text, str) or not text.strip():
        raise CommandError(f"{where}: needs an expression, e.g. 'http.response_time.p99 < 200'")
    if not isinstance(strict, bool):
        raise CommandError(f"{where}.strict: {strict!r} is not true or false")
    compiled = compile_condition(text, where, metric_name)

    def judge(metrics: Metrics) -> tuple[bool, str]:
        values = {name: value(metrics, name) for name in compiled.metrics}
        return compiled.holds(values), ", ".join(f"{name} {show(v)}" for name, v in values.items())

    return Check(text.strip(), judge, strict)
