"""How a body reaches its decoder: an ordered sequence of routes, then the strict path.

Owns: the Route entry and the rule that runs a content type's routes, and the import of the C
readers (row_reader.c) that some routes use. A route takes a body when `applies` says so and
answers a Table or None; None passes the body to the next route, and a body no route answered
goes to the content type's strict decoder, which alone refuses and words the refusal. So what a
content type accepts or refuses, with which error, is its strict path's by construction; a route
only makes some bodies faster, and tests/test_decoders_fast.py proves each one against the strict
path bit for bit. Must not know any one format.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType

from container.tables import Table

try:  # the C readers (container/codecs/row_reader.c), built by `make`, pip and the Dockerfile
    from container.codecs import _row_reader

    ROW_READER: ModuleType | None = _row_reader
except ImportError:  # a checkout before `make`: the Python routes read every body
    ROW_READER = None

Read = Callable[[bytes, Mapping[str, str]], Table | None]
Decoder = Callable[[bytes, Mapping[str, str]], Table]


def always(body: bytes) -> bool:
    return True


@dataclass(frozen=True)
class Route:
    name: str
    applies: Callable[[bytes], bool]
    read: Read


def decode(routes: Sequence[Route], strict: Decoder, body: bytes, params: Mapping[str, str]) -> Table:
    """The table of the first route that applies and answers, else the strict decoder's."""
    for route in routes:
        if route.applies(body):
            table = route.read(body, params)
            if table is not None:
                return table
    return strict(body, params)
