"""Following an endpoint update to its end: progress lines, then success or the reason it failed.

Owns the polling loop of an update (UpdateEndpoint, with or without a rollout strategy). Each poll
reads DescribeEndpoint and the rollback alarms' states; a line is printed whenever it changes and
once a minute while it does not:

    endpoint iris: Updating; new fleet AllTraffic: Baking, 1/4 instances, traffic 25%;
    alarms iris-rollback-AllTraffic-5xx OK (120 s)

The phase is the new fleet's latest VariantStatus (Creating, ActivatingTraffic = shifting,
Baking, Deleting) from PendingDeploymentSummary, and its traffic is CurrentWeight over
DesiredWeight, as SageMaker reports them. The update has ended when the endpoint is InService
with nothing pending: it succeeded if it serves the new config; otherwise SageMaker rolled it back,
and RolloutFailed (exit 3) carries FailureReason and the alarms seen in ALARM. Failed and
UpdateRollbackFailed are RolloutFailed too; running past the time limit is a CommandError that
points at `byom status`. Time and sleep are parameters so tests need not wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from byom.errors import CommandError, RolloutFailed
from byom.shared.aws import Aws
from byom.ship import rollback_alarms

POLL_SECONDS = 15.0
PROGRESS_EVERY = 60.0
FAILED = ("Failed", "UpdateRollbackFailed")
PHASES = {"ActivatingTraffic": "shifting traffic"}


@dataclass
class Watch:
    """What one follow has seen: the alarms that went into ALARM, the last line printed."""

    alarms: list[str]
    tripped: list[str] = field(default_factory=list)
    shown: str = ""
    shown_at: float = float("-inf")


def follow(
    aws: Aws,
    endpoint: str,
    new_config: str,
    alarms: list[str],
    timeout: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    watch, start = Watch(alarms), clock()
    while True:
        described = aws.read("sagemaker", "describe_endpoint", EndpointName=endpoint)
        alarm_states = rollback_alarms.states(aws, alarms)
        watch.tripped += [
            name for name, state in alarm_states.items() if state == "ALARM" and name not in watch.tripped
        ]
        elapsed = clock() - start
        show(aws, watch, progress_line(described, alarm_states), elapsed, clock())
        if ended(endpoint, new_config, described, watch):
            return
        if elapsed >= timeout:
            raise CommandError(
                f"endpoint {endpoint} still {described.get('EndpointStatus')} after {timeout:.0f} s; "
                "`byom status` follows it"
            )
        sleep(POLL_SECONDS)


def show(aws: Aws, watch: Watch, line: str, elapsed: float, now: float) -> None:
    if line != watch.shown or now - watch.shown_at >= PROGRESS_EVERY:
        print(f"{line} ({elapsed:.0f} s)", flush=True, file=aws.out)
        watch.shown, watch.shown_at = line, now


def ended(endpoint: str, new_config: str, described: dict[str, Any], watch: Watch) -> bool:
    """True once the update succeeded; RolloutFailed once it failed or was rolled back."""
    status = described.get("EndpointStatus")
    if status in FAILED:
        raise RolloutFailed(f"endpoint {endpoint} is {status}: {reason(described, watch)}")
    if status != "InService" or described.get("PendingDeploymentSummary"):
        return False
    serving = described.get("EndpointConfigName")
    if serving == new_config:
        return True
    raise RolloutFailed(
        f"the update to {new_config} was rolled back ({reason(described, watch)}); "
        f"endpoint {endpoint} serves {serving} again"
    )


def reason(described: dict[str, Any], watch: Watch) -> str:
    parts = [str(described["FailureReason"])] if described.get("FailureReason") else []
    if watch.tripped:
        parts.append(f"alarm(s) in ALARM: {', '.join(watch.tripped)}")
    return "; ".join(parts) or "SageMaker gave no reason"


def progress_line(described: dict[str, Any], alarm_states: dict[str, str]) -> str:
    parts = [f"endpoint {described.get('EndpointName')}: {described.get('EndpointStatus')}"]
    pending = described.get("PendingDeploymentSummary") or {}
    parts += [fleet_part(variant) for variant in pending.get("ProductionVariants", [])]
    if alarm_states:
        parts.append("alarms " + ", ".join(f"{name} {state}" for name, state in sorted(alarm_states.items())))
    return "; ".join(parts)


def fleet_part(variant: dict[str, Any]) -> str:
    statuses = variant.get("VariantStatus") or []
    phase = statuses[-1]["Status"] if statuses else "pending"
    text = f"new fleet {variant['VariantName']}: {PHASES.get(phase, phase)}"
    if "DesiredInstanceCount" in variant:
        text += f", {variant.get('CurrentInstanceCount', 0)}/{variant['DesiredInstanceCount']} instances"
    desired = variant.get("DesiredWeight")
    if desired:
        text += f", traffic {100 * float(variant.get('CurrentWeight', 0)) / float(desired):.0f}%"
    message = statuses[-1].get("StatusMessage") if statuses else None
    return text + (f" ({message})" if message else "")
