"""/ping latency while hostile clients hold connections: one row per pattern of tests/helpers/hostile.py.

    .venv/bin/python bench/hostile.py [--hold SECONDS] [--workers N] [--json PATH] [--markdown PATH]

Starts `./serve` on the demo model (2 workers unless told otherwise) on 127.0.0.1. For each
pattern it opens the pattern's connections, probes /ping from fresh connections every 50 ms for
`--hold` seconds, and sends one 80 KB upload meanwhile; then it closes them and waits for the
server to answer /ping again. It prints /ping's p50, p99 and slowest answer (a probe without an
answer within 5 s counts as 5 s and as failed), the upload's time, the workers booted during the
pattern (a frozen worker is replaced by gunicorn's master), and the tracebacks the log gained.
The table is also written to bench/results/hostile.md unless --markdown says elsewhere.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import machine
from tests.helpers import hostile
from tests.helpers.harness import DEMO_MODEL, serving

UPLOAD_BYTES = 80_000
REPO = Path(__file__).resolve().parents[1]
COLUMNS = {  # heading: (key, width)
    "pattern": ("pattern", 32),
    "probes": ("probes", 6),
    "failed": ("failed", 6),
    "p50 ms": ("p50_ms", 7),
    "p99 ms": ("p99_ms", 7),
    "max ms": ("max_ms", 7),
    "upload": ("upload", 7),
    "upload s": ("upload_s", 9),
    "booted": ("workers_booted", 7),
    "tracebacks": ("tracebacks", 11),
}


def measure(port: int, pattern: hostile.Pattern, hold: float, log: Callable[[], str]) -> dict[str, object]:
    booted, tracebacks = log().count("Booting worker"), log().count("Traceback")
    with hostile.holding(port, pattern), hostile.probing(port) as probes:
        time.sleep(hold / 2)
        answer, upload_seconds = hostile.exchange(
            port, hostile.upload(UPLOAD_BYTES), hold, hostile.UPLOAD_SPLIT
        )
        time.sleep(hold / 2)
    recovered = time.monotonic()
    while hostile.ping_once(port) is None and time.monotonic() - recovered < 90:
        time.sleep(0.1)
    return {
        "pattern": pattern.name,
        "probes": len(probes.latencies),
        "failed": probes.failed,
        "p50_ms": round(probes.percentile(0.5) * 1000, 1),
        "p99_ms": round(probes.percentile(0.99) * 1000, 1),
        "max_ms": round(probes.slowest * 1000, 1),
        "upload": answer.split(b"\r\n", 1)[0].decode(errors="replace")[9:12] or "none",
        "upload_s": round(upload_seconds, 2),
        "workers_booted": log().count("Booting worker") - booted,
        "tracebacks": log().count("Traceback") - tracebacks,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hold", type=float, default=6.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path, default=REPO / "bench" / "results" / "hostile.md")
    options = parser.parse_args()
    env = {"SAGEMAKER_MODEL_SERVER_WORKERS": str(options.workers)}
    rows = []
    with tempfile.TemporaryDirectory() as scratch, serving(DEMO_MODEL, Path(scratch), env) as server:
        while server.log().count("Booting worker") < options.workers:  # every worker up
            time.sleep(0.1)
        print(
            " ".join(
                f"{heading:{'' if key == 'pattern' else '>'}{width}}"
                for heading, (key, width) in COLUMNS.items()
            )
        )
        for pattern in hostile.PATTERNS:
            rows.append(measure(server.port, pattern, options.hold, server.log))
            print(
                " ".join(
                    f"{rows[-1][key]!s:{'' if key == 'pattern' else '>'}{width}}"
                    for key, width in COLUMNS.values()
                ),
                flush=True,
            )
    if options.json:
        options.json.write_text(json.dumps(rows, indent=2) + "\n")
    options.markdown.write_text(markdown(rows, options))


def markdown(rows: list[dict[str, object]], options: argparse.Namespace) -> str:
    checkout = machine.checkout()
    lines = [
        "# /ping under hostile clients",
        "",
        f"Written by `python bench/hostile.py --hold {options.hold:g} --workers {options.workers}` on "
        f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())} (checkout {checkout}, {os.cpu_count()} CPUs). "
        "Each pattern of tests/helpers/hostile.py holds its connections open while /ping is probed from fresh "
        "connections every 50 ms; a probe unanswered within 5 s counts as 5,000 ms and as failed. "
        f"An {UPLOAD_BYTES // 1000} KB upload is sent meanwhile.",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    lines += ["| " + " | ".join(str(row[key]) for key, _ in COLUMNS.values()) + " |" for row in rows]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
