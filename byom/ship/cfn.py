"""`byom cfn`: the deployment `byom deploy` makes, as a CloudFormation template (JSON).

Owns the translation from the API requests of byom/ship/resources.py (the same source deploy uses)
to resources: AWS::SageMaker::Model, ::EndpointConfig and ::Endpoint, the
AWS::ApplicationAutoScaling::ScalableTarget (with the plan's scheduled actions) and
::ScalingPolicy resources, and the AWS::CloudWatch::Alarm that drives a step policy.
CloudFormation names the model and the config itself (so a changed one is replaced, not
clashed with); the endpoint keeps its name, and everything refers to it through GetAtt.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from byom.shared import config
from byom.shared.config import Config, required
from byom.ship import resources, scaling_plan
from byom.ship.scaling_plan import Plan

Resource = dict[str, Any]
ENDPOINT_NAME = {"Fn::GetAtt": ["Endpoint", "EndpointName"]}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("cfn", help="write the deployment as a CloudFormation template")
    config.add_flags(parser, *resources.SETTINGS)
    parser.add_argument("--output", metavar="FILE", help="write the template here (default stdout)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = config.load(args)
    plan = scaling_plan.from_plan_file(settings.plan) if settings.plan else None
    resources.check_shape(settings, plan, rollout_asked=False)
    text = json.dumps(template(settings, plan), indent=2) + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        print(text, end="")
    return 0


def template(settings: Config, plan: Plan | None) -> dict[str, Any]:
    endpoint = required(settings.endpoint, "endpoint")
    template_resources = sagemaker_resources(settings, plan)
    if plan is not None:
        template_resources.update(scaling_resources(endpoint, settings.variant, plan))
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"byom: SageMaker endpoint {endpoint} with its autoscaling",
        "Resources": template_resources,
        "Outputs": {"EndpointName": {"Value": ENDPOINT_NAME}},
    }


def sagemaker_resources(settings: Config, plan: Plan | None) -> dict[str, Resource]:
    model = without(resources.model_request(settings), "ModelName")
    count = resources.initial_count(settings, plan)
    endpoint_config = without(resources.endpoint_config_request(settings, "", count), "EndpointConfigName")
    for variant in endpoint_config["ProductionVariants"]:
        variant["ModelName"] = {"Fn::GetAtt": ["Model", "ModelName"]}
    return {
        "Model": {"Type": "AWS::SageMaker::Model", "Properties": model},
        "EndpointConfig": {"Type": "AWS::SageMaker::EndpointConfig", "Properties": endpoint_config},
        "Endpoint": {
            "Type": "AWS::SageMaker::Endpoint",
            "Properties": {
                "EndpointName": required(settings.endpoint, "endpoint"),
                "EndpointConfigName": {"Fn::GetAtt": ["EndpointConfig", "EndpointConfigName"]},
            },
        },
    }


def scaling_resources(endpoint: str, variant: str, plan: Plan) -> dict[str, Resource]:
    target = resources.scalable_target_request(endpoint, variant, plan)
    target["ResourceId"] = {"Fn::Join": ["", ["endpoint/", ENDPOINT_NAME, f"/variant/{variant}"]]}
    actions = [
        without(action, *resources.target_keys(endpoint, variant))
        for action in resources.scheduled_action_requests(endpoint, variant, plan)
    ]
    if actions:
        target["ScheduledActions"] = actions
    template_resources: dict[str, Resource] = {
        "ScalableTarget": {"Type": "AWS::ApplicationAutoScaling::ScalableTarget", "Properties": target}
    }
    for request in resources.policy_requests(endpoint, variant, plan):
        properties = without(request, *resources.target_keys(endpoint, variant))
        properties["ScalingTargetId"] = {"Ref": "ScalableTarget"}
        template_resources[logical_id(request["PolicyName"], "Policy")] = {
            "Type": "AWS::ApplicationAutoScaling::ScalingPolicy",
            "Properties": refer_to_endpoint(properties, endpoint),
        }
    if plan.step_scaling:
        policy_id = logical_id(plan.step_scaling.name, "Policy")
        alarm = resources.alarm_request(endpoint, variant, plan.step_scaling, "")
        alarm["AlarmActions"] = [{"Ref": policy_id}]
        template_resources[logical_id(plan.step_scaling.name, "Alarm")] = {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": refer_to_endpoint(alarm, endpoint),
        }
    return template_resources


def refer_to_endpoint(properties: Resource, endpoint: str) -> Resource:
    """Metric dimensions naming the endpoint refer to the Endpoint resource (creation order)."""
    text = json.dumps(properties)
    marker = json.dumps({"Name": "EndpointName", "Value": endpoint})
    return dict(
        json.loads(text.replace(marker, json.dumps({"Name": "EndpointName", "Value": ENDPOINT_NAME})))
    )


def logical_id(name: str, kind: str) -> str:
    """A CloudFormation logical id (alphanumeric) from a policy name: overhead-latency -> OverheadLatencyPolicy."""
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", name) if part) + kind


def without(request: Resource, *keys: str) -> Resource:
    return {key: value for key, value in request.items() if key not in keys}
