"""The `[[variants]]` table array of byom.toml: several variants of one endpoint, as declared.

Owns the shape of one entry and its checks, made when the configuration is built:

    [[variants]]
    name = "Blue"                 # required, a SageMaker name, unique among the entries
    model_data = "s3://..."       # optional: the top-level model_data (or --model-data) else
    image = "...:0.2.0"           # optional: the top-level image else
    instance_type = "ml.c5.large" # optional: the top-level instance_type else
    instance_count = 2            # optional: the top-level instance_count else
    weight = 1.0                  # optional, default 1: its share of traffic, relative to the others
    plan = "blue-plan.json"       # optional: its own scaling plan; the top-level plan else
    shadow = true                 # optional: a shadow variant (at most one), sent a copy of requests

A shadow's weight is relative to the production variants', as SageMaker samples it. Unknown keys
are errors, like the top-level ones. It knows nothing about requests: byom/ship/variants.py fills
in the defaults and byom/ship/resources.py makes ProductionVariants of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from byom.errors import CommandError
from byom.shared import validate

MAX_PRODUCTION = 10  # CreateEndpointConfig takes 1-10 production variants
MAX_SHADOW = 1


@dataclass(frozen=True)
class Declared:
    name: str
    image: str | None = None
    model_data: str | None = None
    instance_type: str | None = None
    instance_count: int | None = None
    weight: float = 1.0
    plan: str | None = None
    shadow: bool = False


# key -> (the TOML types it takes, its check)
KEYS: dict[str, tuple[tuple[type, ...], Callable[[Any], Any]]] = {
    "name": ((str,), lambda v: validate.name(v, "variant")),
    "image": ((str,), validate.image),
    "model_data": ((str,), lambda v: validate.s3_url(v, "model data")),
    "instance_type": ((str,), validate.instance_type),
    "instance_count": ((int,), lambda v: validate.at_least(v, 1, "instance count")),
    "weight": ((int, float), lambda v: float(validate.within(v, 0, 1000, "weight"))),
    "plan": ((str,), str),
    "shadow": ((bool,), bool),
}


def parse(value: list[Any]) -> tuple[Declared, ...]:
    """The entries, each checked, then the rules across them."""
    entries = tuple(entry(item, index) for index, item in enumerate(value, 1))
    check_together(entries)
    return entries


def entry(item: Any, index: int) -> Declared:
    where = f"[[variants]] entry {index}"
    if not isinstance(item, dict):
        raise CommandError(f"{where} must be a table (name = ..., weight = ...), got {item!r}")
    unknown = sorted(set(item) - set(KEYS))
    if unknown:
        raise CommandError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(KEYS)}")
    if "name" not in item:
        raise CommandError(f"{where} has no name")
    return Declared(**{key: checked(where, key, item[key]) for key in item})


def checked(where: str, key: str, value: Any) -> Any:
    kinds, check = KEYS[key]
    wrong_bool = isinstance(value, bool) and bool not in kinds
    if wrong_bool or not isinstance(value, kinds):
        wanted = " or ".join(kind.__name__ for kind in kinds)
        raise CommandError(f"{where}: {key} must be {wanted}, got {value!r}")
    return check(value)


def check_together(entries: tuple[Declared, ...]) -> None:
    names = [variant.name for variant in entries]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise CommandError(f"variant name(s) used more than once: {', '.join(repeated)}")
    shadows = [variant for variant in entries if variant.shadow]
    production = [variant for variant in entries if not variant.shadow]
    if len(shadows) > MAX_SHADOW:
        raise CommandError(
            f"{len(shadows)} shadow variants ({', '.join(v.name for v in shadows)}); SageMaker takes at most one"
        )
    if not production:
        raise CommandError("[[variants]] has no production variant (every entry is a shadow)")
    if len(production) > MAX_PRODUCTION:
        raise CommandError(f"{len(production)} production variants; SageMaker takes at most {MAX_PRODUCTION}")
    if shadows and shadows[0].weight == 0:
        raise CommandError(f"shadow variant {shadows[0].name} has weight 0: it would get no copy of traffic")
    if not any(variant.weight > 0 for variant in production):
        raise CommandError("every production variant has weight 0: no variant would get traffic")
