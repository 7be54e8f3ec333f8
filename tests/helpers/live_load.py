"""What the opt-in live measurements share (tests/test_byom_capacity_live.py,
tests/test_artillery_crosscheck.py): their tolerance, when the machine is too busy to measure,
and where artillery is (tests/test_artillery_report.py too)."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.helpers.harness import REPO

TOLERANCE = 0.15
# Past this many runnable processes per core (1-minute load average) the timings here are other
# work's: at load 9 even a do-nothing asyncio server showed a 10-15 ms p99 at 900 req/s, and at
# load 3.5-4 this server's capacity moved by a third within seconds, failing both attempts once.
OVERLOADED_PER_CORE = 1.5
# A live test's own server and generator keep about this many processes runnable while it measures.
OWN_LOAD = 1.5
PINNED_ARTILLERY = REPO / "tools" / "artillery" / "node_modules" / ".bin" / "artillery"


def artillery() -> str:
    """The pinned artillery (`make artillery`), else one on PATH; skips (fails in CI) without."""
    found = str(PINNED_ARTILLERY) if PINNED_ARTILLERY.exists() else shutil.which("artillery")
    if found is None:
        if os.environ.get("BYOM_REQUIRE_DOCKER") == "1":
            pytest.fail("BYOM_REQUIRE_DOCKER=1 but artillery is missing (make artillery)")
        pytest.skip("no artillery: `make artillery` installs it into tools/artillery")
    return found
