"""A rollout strategy for `byom deploy` on an existing endpoint: settings, bounds, DeploymentConfig.

Owns the meaning of the rollout settings (--strategy blue-green|rolling, --traffic
all-at-once|canary|linear and their sizes and waits, each a flag or a key of byom.toml through
byom/shared/config.py's registry), checking them together against UpdateEndpoint's bounds before
any call, and the `DeploymentConfig` request they make. Bounds (SageMaker's API reference):

    blue-green  canary size        1-50 % of the fleet (or that many instances)
                linear step        10-50 % of the fleet
                wait interval      0-3600 s     termination wait 0-3600 s
                max execution      600-28800 s, more than wait interval + termination wait
    rolling     batch size         5-50 % of the fleet
                rollback batch     1-100 % of the fleet (default: all of it at once)
                wait interval      0-3600 s     max execution 600-28800 s, more than the wait

A size is `N%` (CAPACITY_PERCENT) or `N` (INSTANCE_COUNT); a count is checked against the fleet
once the endpoint has been read (`check_fleet`), still before any change. Every value arrives as
text and is converted here, so a bad value is one line (exit 2), not argparse's usage block.
Pure: no AWS calls, no printing.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from byom.errors import CommandError
from byom.shared import config
from byom.shared.config import Config

STRATEGIES = ("blue-green", "rolling")
TRAFFIC = {"all-at-once": "ALL_AT_ONCE", "canary": "CANARY", "linear": "LINEAR"}
WAIT_RANGE = (0, 3600)
EXECUTION_RANGE = (600, 28800)
# The percent bounds of each size, and its default when the flag is left out.
SIZE_BOUNDS = {
    "canary size": (1, 50, "10%"),
    "linear step": (10, 50, "20%"),
    "batch size": (5, 50, "25%"),
    "rollback batch size": (1, 100, None),
}
DEFAULT_WAIT_INTERVAL = "300"
SIZE = re.compile(r"(?P<value>[0-9]+)(?P<percent>%?)")


@dataclass(frozen=True)
class Size:
    """A CanarySize, LinearStepSize, MaximumBatchSize or RollbackMaximumBatchSize."""

    what: str
    value: int
    percent: bool

    def request(self) -> dict[str, Any]:
        return {"Type": "CAPACITY_PERCENT" if self.percent else "INSTANCE_COUNT", "Value": self.value}

    def __str__(self) -> str:
        return f"{self.value}%" if self.percent else f"{self.value} instance(s)"


@dataclass(frozen=True)
class Rollout:
    strategy: str
    traffic: str | None
    size: Size | None
    wait_interval: int
    termination_wait: int | None = None
    max_execution: int | None = None
    rollback_size: Size | None = None

    def policy(self) -> dict[str, Any]:
        """BlueGreenUpdatePolicy or RollingUpdatePolicy, keyed as DeploymentConfig wants it."""
        if self.strategy == "rolling":
            return {"RollingUpdatePolicy": self._rolling()}
        return {"BlueGreenUpdatePolicy": self._blue_green()}

    def deployment_config(self, alarms: list[str]) -> dict[str, Any]:
        return {
            **self.policy(),
            "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": name} for name in alarms]},
        }

    def check_fleet(self, variant: str, instances: int) -> None:
        """Instance-count sizes against a variant's fleet, with the percent bounds above."""
        for size in (self.size, self.rollback_size):
            if size is None or size.percent:
                continue
            low, high, _ = SIZE_BOUNDS[size.what]
            share = 100 * size.value / max(instances, 1)
            if not low <= share <= high:
                raise CommandError(
                    f"{size.what} {size.value} is {share:.0f}% of variant {variant}'s {instances} "
                    f"instance(s); it must be {low}-{high}%"
                )

    def longest_seconds(self) -> int:
        """How long SageMaker may take: its execution limit (or the largest it accepts)."""
        return self.max_execution or EXECUTION_RANGE[1]

    def summary(self) -> str:
        waits = f"wait {self.wait_interval} s"
        if self.strategy == "rolling":
            return f"rolling, batches of {self.size}, {waits}"
        step = f" {self.size}" if self.size else ""
        return f"blue-green, {self.traffic}{step}, {waits}"

    def _blue_green(self) -> dict[str, Any]:
        routing: dict[str, Any] = {
            "Type": TRAFFIC[str(self.traffic)],
            "WaitIntervalInSeconds": self.wait_interval,
        }
        if self.size is not None:
            key = "CanarySize" if self.traffic == "canary" else "LinearStepSize"
            routing[key] = self.size.request()
        policy: dict[str, Any] = {"TrafficRoutingConfiguration": routing}
        if self.termination_wait is not None:
            policy["TerminationWaitInSeconds"] = self.termination_wait
        if self.max_execution is not None:
            policy["MaximumExecutionTimeoutInSeconds"] = self.max_execution
        return policy

    def _rolling(self) -> dict[str, Any]:
        assert self.size is not None
        policy: dict[str, Any] = {
            "MaximumBatchSize": self.size.request(),
            "WaitIntervalInSeconds": self.wait_interval,
        }
        if self.max_execution is not None:
            policy["MaximumExecutionTimeoutInSeconds"] = self.max_execution
        if self.rollback_size is not None:
            policy["RollbackMaximumBatchSize"] = self.rollback_size.request()
        return policy


# The rollout settings, in byom/shared/config.py's registry (their help is there too).
SETTINGS = tuple(config.ROLLOUT_HELP)
BLUE_GREEN_ONLY = ("traffic", "canary_size", "linear_step", "termination_wait")
ROLLING_ONLY = ("batch_size", "rollback_batch_size")


def add_flags(parser: argparse.ArgumentParser) -> None:
    config.add_setting_flags(parser.add_argument_group("rollout (an existing endpoint)"), *SETTINGS)


def from_args(args: argparse.Namespace) -> Rollout | None:
    """The rollout the flags alone ask for (None: no --strategy), every bound checked."""
    return from_values({name: getattr(args, name, None) for name in SETTINGS})


def from_config(settings: Config) -> Rollout | None:
    """The rollout the settings ask for (flags over byom.toml), every bound checked."""
    return from_values({name: getattr(settings, name) for name in SETTINGS})


def from_values(values: Mapping[str, str | None]) -> Rollout | None:
    given = dict(values)
    strategy = given.pop("strategy")
    if strategy is None:
        stray = [flag(name) for name, value in given.items() if value is not None]
        if stray:
            raise CommandError(f"{stray[0]} needs --strategy blue-green or rolling")
        return None
    if strategy not in STRATEGIES:
        raise CommandError(f"--strategy must be blue-green or rolling, got {strategy!r}")
    refuse_others(given, ROLLING_ONLY if strategy == "blue-green" else BLUE_GREEN_ONLY, strategy)
    rollout = rolling(given) if strategy == "rolling" else blue_green(given)
    check_execution_time(rollout)
    return rollout


def flag(name: str) -> str:
    """The flag of a rollout setting; byom.toml has the same key with underscores."""
    return config.flag_of(name)


def refuse_others(given: dict[str, str | None], others: tuple[str, ...], strategy: str) -> None:
    for dest in others:
        if given[dest] is not None:
            raise CommandError(f"{flag(dest)} does not apply to --strategy {strategy}")


def blue_green(given: dict[str, str | None]) -> Rollout:
    traffic = given["traffic"] or "all-at-once"
    if traffic not in TRAFFIC:
        raise CommandError(f"--traffic must be all-at-once, canary or linear, got {traffic!r}")
    step_flags = {"canary": "canary_size", "linear": "linear_step"}
    for mode, dest in step_flags.items():
        if given[dest] is not None and traffic != mode:
            raise CommandError(f"{flag(dest)} needs --traffic {mode}")
    size = None
    if traffic in step_flags:
        what = "canary size" if traffic == "canary" else "linear step"
        size = parse_size(given[step_flags[traffic]], what)
    return Rollout(
        strategy="blue-green",
        traffic=traffic,
        size=size,
        wait_interval=seconds(given["wait_interval"] or DEFAULT_WAIT_INTERVAL, "wait interval", WAIT_RANGE),
        termination_wait=optional_seconds(given["termination_wait"], "termination wait", WAIT_RANGE),
        max_execution=optional_seconds(given["max_execution_time"], "max execution time", EXECUTION_RANGE),
    )


def rolling(given: dict[str, str | None]) -> Rollout:
    rollback = given["rollback_batch_size"]
    return Rollout(
        strategy="rolling",
        traffic=None,
        size=parse_size(given["batch_size"], "batch size"),
        wait_interval=seconds(given["wait_interval"] or DEFAULT_WAIT_INTERVAL, "wait interval", WAIT_RANGE),
        max_execution=optional_seconds(given["max_execution_time"], "max execution time", EXECUTION_RANGE),
        rollback_size=None if rollback is None else parse_size(rollback, "rollback batch size"),
    )


def parse_size(text: str | None, what: str) -> Size:
    low, high, default = SIZE_BOUNDS[what]
    text = text if text is not None else default
    found = SIZE.fullmatch(str(text).strip())
    if found is None or int(found["value"]) < 1:
        raise CommandError(f"{what} must be N% or a number of instances (N >= 1), got {text!r}")
    size = Size(what, int(found["value"]), bool(found["percent"]))
    if size.percent and not low <= size.value <= high:
        raise CommandError(f"{what} must be {low}-{high}% of the fleet, got {size.value}%")
    return size


def seconds(text: str, what: str, bounds: tuple[int, int]) -> int:
    if not re.fullmatch(r"[0-9]+", text.strip()):
        raise CommandError(f"{what} must be a whole number of seconds, got {text!r}")
    value = int(text)
    if not bounds[0] <= value <= bounds[1]:
        raise CommandError(f"{what} must be {bounds[0]}-{bounds[1]} s, got {value}")
    return value


def optional_seconds(text: str | None, what: str, bounds: tuple[int, int]) -> int | None:
    return None if text is None else seconds(text, what, bounds)


def check_execution_time(rollout: Rollout) -> None:
    """SageMaker's rule: the execution limit must exceed the time the rollout spends waiting."""
    if rollout.max_execution is None:
        return
    waits = rollout.wait_interval + (rollout.termination_wait or 0)
    if rollout.max_execution <= waits:
        named = "wait interval + termination wait" if rollout.termination_wait else "wait interval"
        raise CommandError(
            f"max execution time {rollout.max_execution} s must be longer than the {named} ({waits} s)"
        )
