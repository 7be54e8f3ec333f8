"""`byom destroy`: remove an endpoint and everything `byom deploy` made for it.

Owns the inventory and the order: each variant's (production and shadow) scheduled actions,
scaling policies and their alarms, the scalable target, the rollback alarms deploy put (`<endpoint>-rollback-*`), the endpoint, then its endpoint configs and models, namely the ones the current
config uses and the earlier ones deploy named after this endpoint (`<endpoint>-<8 hex>`). It asks
before deleting unless --yes; --dry-run prints the calls instead. Without credentials a dry run
can read nothing, so it prints the inventory's reads and says in one line what it will delete.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

from byom.errors import CommandError
from byom.shared import config
from byom.shared.aws import Aws, connect
from byom.shared.config import required
from byom.ship import autoscaling, resources, rollback_alarms


@dataclass
class Inventory:
    endpoint: dict[str, Any] | None
    configs: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    alarms: list[str] = field(default_factory=list)

    def is_empty(self) -> bool:
        return self.endpoint is None and not self.configs and not self.models and not self.alarms


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("destroy", help="delete an endpoint, its autoscaling, configs and models")
    config.add_flags(parser, "endpoint")
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    config.add_dry_run(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = config.load(args)
    endpoint = required(settings.endpoint, "endpoint")
    aws = connect(settings, dry_run=args.dry_run)
    found = inventory(aws, endpoint)
    if aws.offline:
        aws.say(
            "then it will delete what those reads find: each variant's autoscaling (scheduled actions, "
            f"scaling policies and their alarms, scalable target), its rollback alarms, endpoint {endpoint}, and its endpoint "
            "configs and models (the current config and its models, and the ones named "
            f"{resources.name_prefix(endpoint)}-<8 HEX>)"
        )
        return 0
    if found.is_empty():
        aws.say(f"endpoint {endpoint}: nothing to delete")
        return 0
    if not (args.yes or aws.dry_run or confirmed(endpoint, found)):
        raise CommandError("not confirmed; nothing deleted (pass --yes to skip the question)")
    destroy(aws, endpoint, found)
    return 0


def inventory(aws: Aws, endpoint: str) -> Inventory:
    described = aws.find("sagemaker", "describe_endpoint", EndpointName=endpoint)
    prefix = resources.name_prefix(endpoint)
    configs = [
        c["EndpointConfigName"]
        for c in aws.listing("sagemaker", "list_endpoint_configs", "EndpointConfigs", NameContains=prefix)
    ]
    models = [m["ModelName"] for m in aws.listing("sagemaker", "list_models", "Models", NameContains=prefix)]
    found = Inventory(
        described,
        [name for name in configs if resources.is_derived_name(name, endpoint)],
        [name for name in models if resources.is_derived_name(name, endpoint)],
        [alarm["AlarmName"] for alarm in rollback_alarms.current(aws, endpoint)],
    )
    if described:
        add(found.configs, described["EndpointConfigName"])
        current = (
            aws.find(
                "sagemaker", "describe_endpoint_config", EndpointConfigName=described["EndpointConfigName"]
            )
            or {}
        )
        for variant in [*current.get("ProductionVariants", []), *current.get("ShadowProductionVariants", [])]:
            add(found.models, variant["ModelName"])
    return found


def add(names: list[str], name: str) -> None:
    if name not in names:
        names.append(name)


def confirmed(endpoint: str, found: Inventory) -> bool:
    print(f"This deletes endpoint {endpoint if found.endpoint else '(already gone)'}, its autoscaling,")
    print(f"  endpoint configs: {', '.join(found.configs) or 'none'}")
    print(f"  models: {', '.join(found.models) or 'none'}")
    print(f"  rollback alarms: {', '.join(found.alarms) or 'none'}")
    try:
        return input("Delete them? [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        print()
        return False


def destroy(aws: Aws, endpoint: str, found: Inventory) -> None:
    if found.endpoint:
        every = [
            *found.endpoint.get("ProductionVariants", []),
            *found.endpoint.get("ShadowProductionVariants", []),
        ]
        for variant in every:
            autoscaling.remove(aws, endpoint, variant["VariantName"])
        aws.change("sagemaker", "delete_endpoint", EndpointName=endpoint)
        aws.done(f"endpoint {endpoint}", "deleted")
    rollback_alarms.remove(aws, found.alarms)
    for name in found.configs:
        aws.change("sagemaker", "delete_endpoint_config", EndpointConfigName=name)
        aws.done(f"endpoint config {name}", "deleted")
    for name in found.models:
        aws.change("sagemaker", "delete_model", ModelName=name)
        aws.done(f"model {name}", "deleted")
