"""`byom cfn`: the deployment `byom deploy` makes, as a CloudFormation template (JSON).

Owns the translation from the API requests of byom/ship/resources.py (the same source deploy uses)
to resources: AWS::SageMaker::Model (one per distinct model of the variants), ::EndpointConfig
(production and shadow variants, data capture, asynchronous inference) and ::Endpoint, and per
variant with a plan the AWS::ApplicationAutoScaling::ScalableTarget (with the plan's scheduled
actions) and ::ScalingPolicy resources, and the AWS::CloudWatch::Alarm that drives a step policy.
With one variant the logical ids are plain (`Model`, `ScalableTarget`); with several, each is
prefixed by its variant (`BlueModel`, `BlueScalableTarget`). CloudFormation names the models and
the config itself (so a changed one is replaced, not clashed with); the endpoint keeps its name,
and everything refers to it through GetAtt.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from byom.shared import config
from byom.shared.config import Config, required
from byom.ship import endpoint_config, resources, variants
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
    plans = variants.plans(settings)
    endpoint_config.check_shape(settings, plans, rollout_asked=False)
    text = json.dumps(template(settings, plans), indent=2) + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        print(text, end="")
    return 0


def template(settings: Config, plans: dict[str, Plan]) -> dict[str, Any]:
    endpoint = required(settings.endpoint, "endpoint")
    several = len(variants.of(settings)) > 1
    template_resources = sagemaker_resources(settings, plans)
    for variant, plan in plans.items():
        template_resources.update(scaling_resources(endpoint, variant, plan, variant if several else ""))
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"byom: SageMaker endpoint {endpoint} with its autoscaling",
        "Resources": template_resources,
        "Outputs": {"EndpointName": {"Value": ENDPOINT_NAME}},
    }


def sagemaker_resources(settings: Config, plans: dict[str, Plan]) -> dict[str, Resource]:
    models = resources.model_requests(settings)
    ids = model_ids(models)
    counts = endpoint_config.initial_counts(settings, plans)
    properties = without(endpoint_config.endpoint_config_request(settings, "", counts), "EndpointConfigName")
    for key in ("ProductionVariants", "ShadowProductionVariants"):
        for variant in properties.get(key, []):
            variant["ModelName"] = {"Fn::GetAtt": [ids[variant["VariantName"]], "ModelName"]}
    made: dict[str, Resource] = {
        ids[name]: {"Type": "AWS::SageMaker::Model", "Properties": without(model, "ModelName")}
        for name, model in models.items()
    }
    return made | {
        "EndpointConfig": {"Type": "AWS::SageMaker::EndpointConfig", "Properties": properties},
        "Endpoint": {
            "Type": "AWS::SageMaker::Endpoint",
            "Properties": {
                "EndpointName": required(settings.endpoint, "endpoint"),
                "EndpointConfigName": {"Fn::GetAtt": ["EndpointConfig", "EndpointConfigName"]},
            },
        },
    }


def model_ids(models: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Each variant's Model logical id: `Model` when all share one, else the first user's name."""
    if len({model["ModelName"] for model in models.values()}) == 1:
        return dict.fromkeys(models, "Model")
    first: dict[str, str] = {}
    for variant, model in models.items():
        first.setdefault(model["ModelName"], logical_id(variant, "Model"))
    return {variant: first[model["ModelName"]] for variant, model in models.items()}


def scaling_resources(endpoint: str, variant: str, plan: Plan, prefix: str = "") -> dict[str, Resource]:
    """A variant's autoscaling; `prefix` (its name, with several variants) keeps the ids apart."""
    target = resources.scalable_target_request(endpoint, variant, plan)
    target["ResourceId"] = {"Fn::Join": ["", ["endpoint/", ENDPOINT_NAME, f"/variant/{variant}"]]}
    actions = [
        without(action, *resources.target_keys(endpoint, variant))
        for action in resources.scheduled_action_requests(endpoint, variant, plan)
    ]
    if actions:
        target["ScheduledActions"] = actions
    target_id = logical_id(prefix, "ScalableTarget")
    template_resources: dict[str, Resource] = {
        target_id: {"Type": "AWS::ApplicationAutoScaling::ScalableTarget", "Properties": target}
    }
    for request in resources.policy_requests(endpoint, variant, plan):
        properties = without(request, *resources.target_keys(endpoint, variant))
        properties["ScalingTargetId"] = {"Ref": target_id}
        template_resources[logical_id(f"{prefix}-{request['PolicyName']}", "Policy")] = {
            "Type": "AWS::ApplicationAutoScaling::ScalingPolicy",
            "Properties": refer_to_endpoint(properties, endpoint),
        }
    if plan.step_scaling:
        policy_id = logical_id(f"{prefix}-{plan.step_scaling.name}", "Policy")
        alarm = resources.alarm_request(endpoint, variant, plan.step_scaling, "")
        alarm["AlarmActions"] = [{"Ref": policy_id}]
        template_resources[logical_id(f"{prefix}-{plan.step_scaling.name}", "Alarm")] = {
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
