"""Which accelerated routes this installation has: the C readers, tree walk and TreeSHAP, simdjson.

Owns: finding them without importing them, so `serve` says once, before any worker starts, what
a request will be served through. Each has a slower route that answers the same bits
(container.codecs, container.flavours.compiled_walk): an installation without a C compiler is
slower, and is told so here instead of finding out from a benchmark. Must not import numpy or
any model library: `serve` runs this before gunicorn forks.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
from pathlib import Path

ROUTES = {  # what a reader calls it: the module that provides it
    "C CSV, one-row JSON and libsvm readers": "container.codecs._row_reader",
    "C tree walk": "container.flavours._tree_walk",
    "C TreeSHAP": "container._tree_shap",
    "simdjson": "simdjson",
}
HOW_TO_BUILD = "build them with a C compiler and Python's headers: `make`, or `pip install .`"


def available() -> dict[str, bool]:
    return {name: findable(module) for name, module in ROUTES.items()}


def findable(module: str) -> bool:
    """Whether `module` (a top-level module, or an extension module in a package) can be imported,
    found without importing the packages around it: importing container.codecs would load numpy,
    and its thread pools, before `serve` caps them."""
    top, *inner = module.split(".")
    spec = importlib.util.find_spec(top)
    if spec is None or not inner:
        return spec is not None
    locations = spec.submodule_search_locations or []
    loader = (importlib.machinery.ExtensionFileLoader, importlib.machinery.EXTENSION_SUFFIXES)
    return any(
        importlib.machinery.FileFinder(str(Path(location, *inner[:-1])), loader).find_spec(module) is not None
        for location in locations
    )


def summary() -> str:
    """One line for the start-up log."""
    found = available()
    have = [name for name, present in found.items() if present]
    missing = [name for name, present in found.items() if not present]
    line = f"accelerated routes: {', '.join(have) or 'none'}"
    if missing:
        line += f"; missing, so slower: {', '.join(missing)} ({HOW_TO_BUILD})"
    return line
