"""The price table: vCPUs and hourly price per SageMaker instance type, and serverless prices.

The default table ships as byom/data/prices.json (region and date inside); a user passes their own
file of the same shape with --prices. Its optional "serverless" member holds, per memory size in
MB, the on-demand price per GB-second and the two provisioned-concurrency prices (per GB-second
provisioned, and per GB-second of compute it serves), plus a price per million requests. A table
without it plans instances only. Nothing here fetches prices.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from byom.errors import CommandError

SERVERLESS_SHAPE = (
    "{'serverless': {'usd_per_million_requests': N, 'memory_mb': {'1024': {usd_per_gb_second, "
    "provisioned_usd_per_gb_second, provisioned_compute_usd_per_gb_second}, ...}}}"
)


@dataclass(frozen=True)
class InstanceType:
    name: str
    vcpus: int
    usd_per_hour: float


@dataclass(frozen=True)
class ServerlessPrice:
    """One memory size's prices, USD per GB-second."""

    memory_mb: int
    usd_per_gb_second: float
    provisioned_usd_per_gb_second: float
    provisioned_compute_usd_per_gb_second: float


@dataclass(frozen=True)
class ServerlessPrices:
    as_of: str
    usd_per_million_requests: float
    sizes: dict[int, ServerlessPrice]


@dataclass(frozen=True)
class PriceTable:
    region: str
    as_of: str
    source: str
    instances: dict[str, InstanceType]
    serverless: ServerlessPrices | None = None

    def serverless_price(self, memory_mb: int) -> tuple[ServerlessPrices, ServerlessPrice]:
        """The serverless prices and one memory size's; a table without them cannot compare."""
        if self.serverless is None:
            raise CommandError(
                f"the price table {self.source} has no serverless prices: expected {SERVERLESS_SHAPE}"
            )
        if memory_mb not in self.serverless.sizes:
            known = ", ".join(str(size) for size in sorted(self.serverless.sizes))
            raise CommandError(
                f"the price table {self.source} has no serverless price for {memory_mb} MB (it has: {known})"
            )
        return self.serverless, self.serverless.sizes[memory_mb]

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
    as_of = str(document.get("as_of", "?"))
    serverless = _serverless(document.get("serverless"), as_of, source)
    return PriceTable(str(document.get("region", "?")), as_of, source, instances, serverless)


def _instance(name: str, raw: dict[str, Any]) -> InstanceType:
    vcpus, price = int(raw["vcpus"]), float(raw["usd_per_hour"])
    if vcpus < 1 or not price >= 0:
        raise ValueError(f"{name}: vcpus must be >= 1 and usd_per_hour >= 0")
    return InstanceType(name, vcpus, price)


def _serverless(raw: Any, as_of: str, source: str) -> ServerlessPrices | None:
    if raw is None:
        return None
    try:
        sizes = {int(size): _size(int(size), prices) for size, prices in raw["memory_mb"].items()}
        per_million = float(raw.get("usd_per_million_requests", 0.0))
        if not sizes or not per_million >= 0:
            raise ValueError("at least one memory size, and usd_per_million_requests >= 0")
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise CommandError(f"price table {source}: expected {SERVERLESS_SHAPE} ({error})") from None
    return ServerlessPrices(str(raw.get("as_of", as_of)), per_million, sizes)


def _size(memory_mb: int, raw: dict[str, Any]) -> ServerlessPrice:
    names = ("usd_per_gb_second", "provisioned_usd_per_gb_second", "provisioned_compute_usd_per_gb_second")
    found = [float(raw[name]) for name in names]
    if memory_mb < 1 or not all(price >= 0 for price in found):
        raise ValueError(f"{memory_mb}: memory must be >= 1 MB and every price >= 0")
    return ServerlessPrice(memory_mb, *found)
