"""The scaling plan `byom deploy --plan FILE` applies: the "autoscaling" member of a plan file.

Owns the member's shape and its validation (`Plan.from_document`, `from_plan_file`); the file
itself is read by byom/shared/documents.py, the one reader of the one plan format. It knows
nothing about AWS request shapes (byom/ship/resources.py turns a Plan into them). The shape:

    {
      "min_capacity": 2,                  # instances, >= 1
      "max_capacity": 8,                  # >= min_capacity
      "target_tracking": [                # zero or more, names unique
        {"name": "invocations",
         "metric": "SageMakerVariantInvocationsPerInstance",   # or "CPUUtilization"
         "target_value": 700.0,           # invocations per instance per minute, or CPU percent
         "scale_in_cooldown": 300,        # seconds, optional (default 300)
         "scale_out_cooldown": 60}        # seconds, optional (default 60)
      ],
      "step_scaling": {                   # optional: scale out on OverheadLatency
        "name": "overhead-latency",
        "threshold_microseconds": 20000,  # alarm when the average exceeds this ...
        "evaluation_periods": 3,          # ... for this many periods (optional, default 3)
        "period": 60,                     # of this many seconds (optional, default 60)
        "cooldown": 120,                  # optional, default 300
        "steps": [                        # bounds relative to the threshold, ascending
          {"lower": 0, "upper": 20000, "adjustment": 1},
          {"lower": 20000, "adjustment": 2}
        ]
      },
      "scheduled_actions": [              # optional
        {"name": "weekday-mornings", "schedule": "cron(0 7 ? * MON-FRI *)",
         "min_capacity": 4, "max_capacity": 10}
      ]
    }

`byom plan` writes it in its plan file beside the measurements it chose from; a plan written by
hand needs only `{"kind": "byom.plan", "version": 1, "autoscaling": {...}}`.

CPUUtilization is SageMaker's per-instance figure summed over vCPUs (up to 400 on 4 vCPUs), so it
is not capped at 100. Unknown keys are errors: a typo must not silently drop a policy.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from byom.errors import CommandError
from byom.shared import validate
from byom.shared.documents import read_plan

METRICS = ("SageMakerVariantInvocationsPerInstance", "CPUUtilization")
SCHEDULE_PREFIXES = ("cron(", "rate(", "at(")


@dataclass(frozen=True)
class TargetTracking:
    name: str
    metric: str
    target_value: float
    scale_in_cooldown: int = 300
    scale_out_cooldown: int = 60


@dataclass(frozen=True)
class Step:
    lower: float
    upper: float | None
    adjustment: int


@dataclass(frozen=True)
class StepScaling:
    name: str
    threshold_microseconds: float
    steps: tuple[Step, ...]
    evaluation_periods: int = 3
    period: int = 60
    cooldown: int = 300


@dataclass(frozen=True)
class ScheduledAction:
    name: str
    schedule: str
    min_capacity: int | None = None
    max_capacity: int | None = None


@dataclass(frozen=True)
class Plan:
    min_capacity: int
    max_capacity: int
    target_tracking: tuple[TargetTracking, ...] = ()
    step_scaling: StepScaling | None = None
    scheduled_actions: tuple[ScheduledAction, ...] = ()

    @classmethod
    def from_document(cls, document: Any) -> Plan:
        """The plan of a plan file's "autoscaling" member (JSON values)."""
        return _plan(
            _fields(
                document,
                "autoscaling",
                {
                    "min_capacity",
                    "max_capacity",
                    "target_tracking",
                    "step_scaling",
                    "scheduled_actions",
                },
            )
        )

    @property
    def policy_names(self) -> tuple[str, ...]:
        step = (self.step_scaling.name,) if self.step_scaling else ()
        return (*(policy.name for policy in self.target_tracking), *step)


def from_plan_file(path: str | Path) -> Plan:
    document = read_plan(Path(path))
    if "autoscaling" not in document:
        raise CommandError(f'{path}: the plan has no "autoscaling" member')
    try:
        return Plan.from_document(document["autoscaling"])
    except CommandError as error:
        raise CommandError(f"{path}: {error}") from error


def _plan(document: dict[str, Any]) -> Plan:
    minimum, maximum = _int(document, "min_capacity"), _int(document, "max_capacity")
    validate.capacity_range(minimum, maximum)
    plan = Plan(
        minimum,
        maximum,
        tuple(_target_tracking(item) for item in _list(document, "target_tracking")),
        _step_scaling(document["step_scaling"]) if document.get("step_scaling") is not None else None,
        tuple(_scheduled(item, maximum) for item in _list(document, "scheduled_actions")),
    )
    _unique([*plan.policy_names], "policy")
    _unique([action.name for action in plan.scheduled_actions], "scheduled action")
    return plan


def _target_tracking(item: Any) -> TargetTracking:
    fields = _fields(
        item,
        "target_tracking entry",
        {"name", "metric", "target_value", "scale_in_cooldown", "scale_out_cooldown"},
    )
    metric = fields.get("metric")
    if metric not in METRICS:
        raise CommandError(f"target_tracking metric {metric!r} is not one of {', '.join(METRICS)}")
    target = _number(fields, "target_value")
    if target <= 0:
        raise CommandError(f"target_tracking target_value must be positive, got {target:g}")
    return TargetTracking(
        _name(fields),
        metric,
        target,
        _cooldown(fields, "scale_in_cooldown", 300),
        _cooldown(fields, "scale_out_cooldown", 60),
    )


def _step_scaling(item: Any) -> StepScaling:
    fields = _fields(
        item,
        "step_scaling",
        {"name", "threshold_microseconds", "steps", "evaluation_periods", "period", "cooldown"},
    )
    threshold = _number(fields, "threshold_microseconds")
    if threshold <= 0:
        raise CommandError("step_scaling threshold_microseconds must be positive")
    steps = tuple(_step(step) for step in _list(fields, "steps"))
    _check_steps(steps)
    return StepScaling(
        _name(fields),
        threshold,
        steps,
        validate.at_least(_int(fields, "evaluation_periods", 3), 1, "step_scaling evaluation_periods"),
        _period(_int(fields, "period", 60)),
        _cooldown(fields, "cooldown", 300),
    )


def _step(item: Any) -> Step:
    fields = _fields(item, "step", {"lower", "upper", "adjustment"})
    upper = _number(fields, "upper") if fields.get("upper") is not None else None
    adjustment = _int(fields, "adjustment")
    if adjustment == 0:
        raise CommandError("a step's adjustment must not be 0")
    return Step(_number(fields, "lower"), upper, adjustment)


def _check_steps(steps: tuple[Step, ...]) -> None:
    if not steps:
        raise CommandError("step_scaling needs at least one step")
    if steps[0].lower < 0:
        raise CommandError("step_scaling steps start at or above the threshold (lower >= 0)")
    for step, following in itertools.pairwise(steps):
        if step.upper is None or step.upper != following.lower:
            raise CommandError(
                "step_scaling steps must be ascending and contiguous (each upper is the next lower)"
            )
    for step in steps:
        if step.upper is not None and step.upper <= step.lower:
            raise CommandError(f"step {step.lower:g}..{step.upper:g}: upper must exceed lower")
    if steps[-1].upper is not None:
        raise CommandError("the last step_scaling step must have no upper bound")


def _scheduled(item: Any, plan_maximum: int) -> ScheduledAction:
    fields = _fields(item, "scheduled action", {"name", "schedule", "min_capacity", "max_capacity"})
    schedule = fields.get("schedule")
    if (
        not isinstance(schedule, str)
        or not schedule.startswith(SCHEDULE_PREFIXES)
        or not schedule.endswith(")")
    ):
        raise CommandError(f"schedule {schedule!r} is not cron(...), rate(...) or at(...)")
    minimum = _int(fields, "min_capacity") if "min_capacity" in fields else None
    maximum = _int(fields, "max_capacity") if "max_capacity" in fields else None
    if minimum is None and maximum is None:
        raise CommandError(
            f"scheduled action {fields.get('name')!r} sets neither min_capacity nor max_capacity"
        )
    if minimum is not None:
        validate.capacity_range(minimum, maximum if maximum is not None else max(minimum, plan_maximum))
    return ScheduledAction(_name(fields), schedule, minimum, maximum)


def _fields(item: Any, what: str, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise CommandError(f"{what} must be a JSON object")
    unknown = sorted(set(item) - allowed)
    if unknown:
        raise CommandError(f"{what}: unknown key(s) {', '.join(unknown)}")
    return item


def _name(fields: dict[str, Any]) -> str:
    name = fields.get("name")
    if not isinstance(name, str) or not validate.NAME.fullmatch(name):
        raise CommandError(f"name {name!r} must be 1-63 letters, digits and hyphens")
    return name


def _list(fields: dict[str, Any], key: str) -> list[Any]:
    value = fields.get(key, [])
    if not isinstance(value, list):
        raise CommandError(f"{key} must be a JSON list")
    return value


def _int(fields: dict[str, Any], key: str, default: int | None = None) -> int:
    value = fields.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise CommandError(f"{key} must be an integer, got {value!r}")
    return value


def _number(fields: dict[str, Any], key: str) -> float:
    value = fields.get(key)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise CommandError(f"{key} must be a number, got {value!r}")
    return float(value)


def _cooldown(fields: dict[str, Any], key: str, default: int) -> int:
    return validate.at_least(_int(fields, key, default), 0, key)


def _period(seconds: int) -> int:
    if seconds not in (10, 30) and (seconds < 60 or seconds % 60):
        raise CommandError(f"step_scaling period must be 10, 30 or a multiple of 60 seconds, got {seconds}")
    return seconds


def _unique(names: list[str], what: str) -> None:
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise CommandError(f"{what} name(s) used more than once: {', '.join(duplicates)}")
