"""The CloudWatch alarms a rollout rolls back on: made by `byom deploy`, shown and removed too.

Owns the two alarms per variant byom makes when the user names none (`--rollback-alarm`):

    <endpoint>-rollback-<variant>-5xx      Invocation5XXErrors, Average (the share of requests
                                           answered 5xx) above the error budget; both fleets
                                           (EndpointName, VariantName)
    <endpoint>-rollback-<variant>-latency  ModelLatency p99 of the new config (EndpointName,
                                           VariantName, EndpointConfigName) above the SLO's p99

each over two 60 s periods, missing data not breaching. The thresholds come from the plan file's
`slo` (what `byom plan` measured against) when --plan names one, else `byom plan`'s defaults
(p99 15 ms, error budget 5 %); --rollback-p99-ms and --rollback-error-rate override both. The
latency alarm follows the config being rolled out, so each deploy puts it again. Also: checking
that alarms the user names exist, their states while a rollout runs, and the inventory under the
`<endpoint>-rollback-` prefix for `byom status` and `byom destroy`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from byom.errors import CommandError
from byom.shared.aws import Aws
from byom.shared.documents import read_plan
from byom.ship.resources import INVOCATION_METRICS_NAMESPACE, variant_dimensions

DEFAULT_P99_MS = 15.0  # byom plan's --slo-p99-ms default
DEFAULT_ERROR_RATE = 0.05  # byom plan's --error-budget default
PERIOD_SECONDS = 60
EVALUATION_PERIODS = 2
MAX_ALARMS = 10  # AutoRollbackConfiguration takes 1-10 alarms


@dataclass(frozen=True)
class Thresholds:
    p99_ms: float
    error_rate: float
    source: str

    def __str__(self) -> str:
        return f"p99 {self.p99_ms:g} ms, 5xx {self.error_rate:.2%} ({self.source})"


def thresholds(plan: str | None, p99_ms: float | None, error_rate: float | None) -> Thresholds:
    """The alarm thresholds: the flags, else the plan's SLO, else byom plan's defaults."""
    slo = (read_plan(Path(plan)).get("slo") or {}) if plan else {}
    source = f"SLO of {plan}" if slo else "byom plan's default SLO"
    chosen = Thresholds(
        float(p99_ms if p99_ms is not None else slo.get("p99_ms", DEFAULT_P99_MS)),
        float(error_rate if error_rate is not None else slo.get("error_budget", DEFAULT_ERROR_RATE)),
        "flags" if p99_ms is not None and error_rate is not None else source,
    )
    if not chosen.p99_ms > 0:
        raise CommandError(f"rollback p99 must be above 0 ms, got {chosen.p99_ms:g}")
    if not 0 <= chosen.error_rate < 1:
        raise CommandError(f"rollback error rate must be at least 0 and below 1, got {chosen.error_rate:g}")
    return chosen


def prefix(endpoint: str) -> str:
    return f"{endpoint}-rollback-"


def requests(
    endpoint: str, variants: list[str], config_name: str, limits: Thresholds
) -> list[dict[str, Any]]:
    made = []
    for variant in variants:
        made += [
            errors_alarm(endpoint, variant, limits),
            latency_alarm(endpoint, variant, config_name, limits),
        ]
    if len(made) > MAX_ALARMS:
        raise CommandError(
            f"{len(variants)} variants need {len(made)} rollback alarms; a rollout takes at most {MAX_ALARMS}"
        )
    return made


def errors_alarm(endpoint: str, variant: str, limits: Thresholds) -> dict[str, Any]:
    return {
        **common(f"{prefix(endpoint)}{variant}-5xx", f"byom: roll back {endpoint}/{variant} on 5xx errors"),
        "MetricName": "Invocation5XXErrors",
        "Dimensions": variant_dimensions(endpoint, variant),
        "Statistic": "Average",
        "Threshold": limits.error_rate,
    }


def latency_alarm(endpoint: str, variant: str, config_name: str, limits: Thresholds) -> dict[str, Any]:
    return {
        **common(
            f"{prefix(endpoint)}{variant}-latency",
            f"byom: roll back {endpoint}/{variant} on the new config's p99 model latency",
        ),
        "MetricName": "ModelLatency",
        "Dimensions": [
            *variant_dimensions(endpoint, variant),
            {"Name": "EndpointConfigName", "Value": config_name},
        ],
        "ExtendedStatistic": "p99",
        "Unit": "Microseconds",
        "Threshold": limits.p99_ms * 1000,
    }


def common(name: str, description: str) -> dict[str, Any]:
    return {
        "AlarmName": name,
        "AlarmDescription": description,
        "Namespace": INVOCATION_METRICS_NAMESPACE,
        "Period": PERIOD_SECONDS,
        "EvaluationPeriods": EVALUATION_PERIODS,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "notBreaching",
    }


def put(aws: Aws, alarms: list[dict[str, Any]], limits: Thresholds) -> list[str]:
    for alarm in alarms:
        aws.change("cloudwatch", "put_metric_alarm", **alarm)
        aws.done(f"rollback alarm {alarm['AlarmName']}", "put", f"threshold {alarm['Threshold']:g}")
    aws.say(f"rollback thresholds: {limits}")
    return [alarm["AlarmName"] for alarm in alarms]


def check_named(aws: Aws, names: list[str]) -> list[str]:
    """The user's own alarms (deploy checked there are at most 10): each exists in CloudWatch."""
    found = {alarm["AlarmName"] for alarm in described(aws, names)}
    missing = [name for name in names if name not in found]
    if missing and not aws.offline:
        raise CommandError(f"rollback alarm {missing[0]} does not exist in CloudWatch ({aws.where})")
    return names


def described(aws: Aws, names: list[str]) -> list[dict[str, Any]]:
    if not names:
        return []
    return list(aws.read("cloudwatch", "describe_alarms", AlarmNames=names).get("MetricAlarms", []))


def states(aws: Aws, names: list[str]) -> dict[str, str]:
    return {alarm["AlarmName"]: alarm["StateValue"] for alarm in described(aws, names)}


def current(aws: Aws, endpoint: str) -> list[dict[str, Any]]:
    """The rollback alarms byom made for this endpoint."""
    return list(
        aws.listing("cloudwatch", "describe_alarms", "MetricAlarms", AlarmNamePrefix=prefix(endpoint))
    )


def remove(aws: Aws, names: list[str]) -> None:
    if not names:
        return
    aws.change("cloudwatch", "delete_alarms", AlarmNames=names)
    aws.done(f"rollback alarm(s) {', '.join(names)}", "deleted")
