"""The variants one deployment is made of: the `[[variants]]` entries with their defaults filled in.

Owns the rule that makes one shape of every configuration: without `[[variants]]` the endpoint has
one production variant named by `variant` (default AllTraffic) and made of the top-level settings;
with it, each entry takes whatever it leaves out (image, model data, instance type and count,
plan) from the top-level settings and their flags. Also: which scaling plan each variant gets,
and which shapes several variants cannot take (serverless: SageMaker serves one variant there).
Pure: no AWS calls, no printing; byom/ship/resources.py makes the requests.
"""

from __future__ import annotations

from dataclasses import dataclass

from byom.errors import CommandError
from byom.shared.config import PROJECT_FILE, Config
from byom.ship import scaling_plan
from byom.ship.scaling_plan import Plan


@dataclass(frozen=True)
class Variant:
    name: str
    image: str | None
    model_data: str | None
    instance_type: str
    instance_count: int
    weight: float
    plan: str | None
    shadow: bool = False
    declared: bool = False  # from a [[variants]] entry, not the top-level settings


def of(config: Config) -> list[Variant]:
    """Every variant, production ones first in their declared order, then the shadow."""
    if not config.variants:
        return [
            Variant(
                config.variant,
                config.image,
                config.model_data,
                config.instance_type,
                config.instance_count,
                1.0,
                config.plan,
            )
        ]
    fleet = [
        Variant(
            entry.name,
            entry.image or config.image,
            entry.model_data or config.model_data,
            entry.instance_type or config.instance_type,
            entry.instance_count or config.instance_count,
            entry.weight,
            entry.plan or config.plan,
            entry.shadow,
            declared=True,
        )
        for entry in config.variants
    ]
    return sorted(fleet, key=lambda variant: variant.shadow)


def production(config: Config) -> list[Variant]:
    return [variant for variant in of(config) if not variant.shadow]


def shadow(config: Config) -> Variant | None:
    return next((variant for variant in of(config) if variant.shadow), None)


def missing(variant: Variant, setting: str) -> CommandError:
    """A declared variant without image or model data: where to give it."""
    return CommandError(
        f"variant {variant.name} has no {setting}: set it in its [[variants]] entry or at the top "
        f"of {PROJECT_FILE} (or --{setting.replace('_', '-')})"
    )


def plans(config: Config) -> dict[str, Plan]:
    """Each variant's scaling plan, read and checked (a plan file read once for all who share it)."""
    read: dict[str, Plan] = {}
    found = {}
    for variant in of(config):
        if variant.plan is not None:
            if variant.plan not in read:
                read[variant.plan] = scaling_plan.from_plan_file(variant.plan)
            found[variant.name] = read[variant.plan]
    return found


def check_shape(config: Config) -> None:
    """What a serverless endpoint cannot take: several variants, a shadow."""
    if config.variants and config.serverless_memory is not None:
        raise CommandError(
            "a serverless endpoint serves one variant: [[variants]] does not apply with serverless_memory"
        )
