"""A variant's Application Auto Scaling state: apply a Plan, or remove everything.

Owns the reconciliation: register the scalable target only when min/max differ, put only the
policies, alarms and scheduled actions that differ from what is there, and delete the ones the
plan no longer names (a plan is the whole scaling set of its variant). Deregistering a target
also removes its policies and scheduled actions on AWS; `remove` deletes them explicitly first
so the order is visible under --dry-run.
"""

from __future__ import annotations

from typing import Any

from byom.shared.aws import Aws
from byom.ship import resources
from byom.ship.scaling_plan import Plan


def apply(aws: Aws, endpoint: str, variant: str, plan: Plan) -> None:
    keys = resources.target_keys(endpoint, variant)
    target = resources.scalable_target_request(endpoint, variant, plan)
    if resources.matches(current_target(aws, endpoint, variant), target):
        aws.say(f"scalable target {keys['ResourceId']}: unchanged ({plan.min_capacity}-{plan.max_capacity})")
    else:
        aws.change("application-autoscaling", "register_scalable_target", **target)
        aws.done(
            f"scalable target {keys['ResourceId']}",
            "registered",
            f"{plan.min_capacity}-{plan.max_capacity} instances",
        )
    _apply_policies(aws, endpoint, variant, plan)
    _apply_schedule(aws, endpoint, variant, plan)


def current_target(aws: Aws, endpoint: str, variant: str) -> dict[str, Any] | None:
    keys = resources.target_keys(endpoint, variant)
    found = aws.read(
        "application-autoscaling",
        "describe_scalable_targets",
        ServiceNamespace=keys["ServiceNamespace"],
        ResourceIds=[keys["ResourceId"]],
        ScalableDimension=keys["ScalableDimension"],
    )
    targets: list[dict[str, Any]] = found.get("ScalableTargets", [])
    return targets[0] if targets else None


def current_policies(aws: Aws, endpoint: str, variant: str) -> dict[str, dict[str, Any]]:
    found = aws.read(
        "application-autoscaling", "describe_scaling_policies", **resources.target_keys(endpoint, variant)
    )
    return {policy["PolicyName"]: policy for policy in found.get("ScalingPolicies", [])}


def current_schedule(aws: Aws, endpoint: str, variant: str) -> dict[str, dict[str, Any]]:
    found = aws.read(
        "application-autoscaling", "describe_scheduled_actions", **resources.target_keys(endpoint, variant)
    )
    return {action["ScheduledActionName"]: action for action in found.get("ScheduledActions", [])}


def remove(aws: Aws, endpoint: str, variant: str) -> None:
    """Delete the variant's scheduled actions, policies (and their alarms) and scalable target."""
    keys = resources.target_keys(endpoint, variant)
    if current_target(aws, endpoint, variant) is None:
        return
    for name in current_schedule(aws, endpoint, variant):
        aws.change("application-autoscaling", "delete_scheduled_action", **keys, ScheduledActionName=name)
    for policy in current_policies(aws, endpoint, variant).values():
        _delete_policy(aws, endpoint, variant, policy)
    aws.change("application-autoscaling", "deregister_scalable_target", **keys)
    aws.done(f"scalable target {keys['ResourceId']}", "deregistered")


def _apply_policies(aws: Aws, endpoint: str, variant: str, plan: Plan) -> None:
    existing = current_policies(aws, endpoint, variant)
    for request in resources.policy_requests(endpoint, variant, plan):
        name = request["PolicyName"]
        if resources.matches(existing.get(name), request):
            aws.say(f"scaling policy {name}: unchanged")
            arn = existing[name].get("PolicyARN", "")
        else:
            answer = aws.change("application-autoscaling", "put_scaling_policy", **request)
            arn = answer.get("PolicyARN", f"<POLICY ARN OF {name}>")
            aws.done(f"scaling policy {name}", "applied", request["PolicyType"])
        if request["PolicyType"] == "StepScaling" and plan.step_scaling:
            _apply_alarm(aws, resources.alarm_request(endpoint, variant, plan.step_scaling, arn))
    for name in sorted(set(existing) - set(plan.policy_names)):
        _delete_policy(aws, endpoint, variant, existing[name])


def _apply_alarm(aws: Aws, request: dict[str, Any]) -> None:
    found = aws.read("cloudwatch", "describe_alarms", AlarmNames=[request["AlarmName"]]).get(
        "MetricAlarms", []
    )
    if found and resources.matches(found[0], request):
        aws.say(f"alarm {request['AlarmName']}: unchanged")
        return
    aws.change("cloudwatch", "put_metric_alarm", **request)
    aws.done(
        f"alarm {request['AlarmName']}",
        "set",
        f"OverheadLatency > {request['Threshold']:g} us triggers the step policy",
    )


def _delete_policy(aws: Aws, endpoint: str, variant: str, policy: dict[str, Any]) -> None:
    keys = resources.target_keys(endpoint, variant)
    aws.change("application-autoscaling", "delete_scaling_policy", **keys, PolicyName=policy["PolicyName"])
    named = {alarm["AlarmName"] for alarm in policy.get("Alarms", [])}
    if policy.get("PolicyType") == "StepScaling":
        named.add(resources.alarm_name(endpoint, variant, policy["PolicyName"]))
    found = (
        aws.read("cloudwatch", "describe_alarms", AlarmNames=sorted(named)).get("MetricAlarms", [])
        if named
        else []
    )
    if found:
        aws.change("cloudwatch", "delete_alarms", AlarmNames=[alarm["AlarmName"] for alarm in found])
    aws.done(f"scaling policy {policy['PolicyName']}", "deleted")


def _apply_schedule(aws: Aws, endpoint: str, variant: str, plan: Plan) -> None:
    existing = current_schedule(aws, endpoint, variant)
    for request in resources.scheduled_action_requests(endpoint, variant, plan):
        name = request["ScheduledActionName"]
        if resources.matches(existing.get(name), request):
            aws.say(f"scheduled action {name}: unchanged")
        else:
            aws.change("application-autoscaling", "put_scheduled_action", **request)
            aws.done(f"scheduled action {name}", "set", request["Schedule"])
    keys = resources.target_keys(endpoint, variant)
    for name in sorted(set(existing) - {action.name for action in plan.scheduled_actions}):
        aws.change("application-autoscaling", "delete_scheduled_action", **keys, ScheduledActionName=name)
        aws.done(f"scheduled action {name}", "deleted")
