"""The instance price table: vCPUs and hourly price per SageMaker instance type.

The default table ships as byom/data/prices.json (region and date inside); a user passes their own
file of the same shape with --prices. Nothing here fetches prices.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from byom.errors import CommandError


@dataclass(frozen=True)
class InstanceType:
    name: str
    vcpus: int
    usd_per_hour: float


@dataclass(frozen=True)
class PriceTable:
    region: str
    as_of: str
    source: str
    instances: dict[str, InstanceType]

    def get(self, name: str) -> InstanceType:
        if name not in self.instances:
            known = ", ".join(sorted(self.instances))
            raise CommandError(
                f"instance type {name!r} is not in the price table {self.source} (it has: {known})"
            )
        return self.instances[name]


def load(path: Path | None) -> PriceTable:
    """The table at `path`, or the shipped default when None."""
    if path is None:
        text = resources.files("byom").joinpath("data/prices.json").read_text()
        return parse(text, "the default table (byom/data/prices.json)")
    try:
        return parse(path.read_text(), str(path))
    except OSError as error:
        raise CommandError(f"cannot read the price table {path}: {error.strerror}") from None


def parse(text: str, source: str) -> PriceTable:
    try:
        document: Any = json.loads(text)
        instances = {name: _instance(name, raw) for name, raw in document["instances"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise CommandError(
            f"price table {source}: expected {{'instances': {{name: {{vcpus, usd_per_hour}}}}}} ({error})"
        ) from None
    return PriceTable(str(document.get("region", "?")), str(document.get("as_of", "?")), source, instances)


def _instance(name: str, raw: dict[str, Any]) -> InstanceType:
    vcpus, price = int(raw["vcpus"]), float(raw["usd_per_hour"])
    if vcpus < 1 or not price >= 0:
        raise ValueError(f"{name}: vcpus must be >= 1 and usd_per_hour >= 0")
    return InstanceType(name, vcpus, price)
