"""`python bench/run.py [--quick] [--only KEY,...]`: the whole benchmark in one command.

Owns: the order of the run and what surrounds it: re-running itself with the project's .venv when
started with another Python, pinning this process (its own client and in-process predictions)
to the load CPU, the reference venv, a temporary work directory, turning SIGTERM into a normal
exit so every `with` block stops its servers, isolating a failed section (the report says it
failed; the exit code is 1), and writing bench/results/latest.md and latest.json (a run of some
sections only writes partial.md and partial.json, so latest always holds a whole run).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

BENCH = Path(__file__).resolve().parent
PROJECT_PYTHON = BENCH.parent / ".venv" / "bin" / "python"

SECTIONS = ("iris", "xgboost", "busy_ping", "cold_start", "image")

if TYPE_CHECKING:
    from report import Section


def use_project_python() -> None:
    """Re-exec with the project's .venv when this Python lacks the libraries the benchmark imports."""
    try:
        import skops  # noqa: F401
        import xgboost  # noqa: F401
    except ImportError:
        if PROJECT_PYTHON.exists() and Path(sys.executable) != PROJECT_PYTHON:
            os.execv(PROJECT_PYTHON, [str(PROJECT_PYTHON), __file__, *sys.argv[1:]])
        raise


def terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the byom server against the AWS sample's stack.")
    parser.add_argument("--quick", action="store_true", help="a smoke check: ~3 s per measurement, 1 run")
    parser.add_argument("--keep-work", action="store_true", help="keep the work directory (models, logs)")
    parser.add_argument(
        "--only", type=lambda text: set(text.split(",")), default=None, help=f"some of {','.join(SECTIONS)}"
    )
    args = parser.parse_args(argv)
    use_project_python()

    import load
    import machine
    import report
    import sections
    from refenv import ensure_reference_env

    began = time.monotonic()
    plan = sections.QUICK if args.quick else sections.FULL
    nproc, cpu_model, load_before = machine.nproc(), machine.cpu_model(), machine.load_average()
    yardstick_before = machine.yardstick()
    server_before = machine.server_digest()
    os.sched_setaffinity(0, {load.LOAD_CPU})
    signal.signal(signal.SIGTERM, terminate)
    ref_env = ensure_reference_env()
    work = Path(tempfile.mkdtemp(prefix="byom-bench-"))
    work.chmod(0o755)  # the reference's nginx workers (user nobody) reach the socket inside it
    print(f"bench: {plan.mode} run; work directory {work}", file=sys.stderr, flush=True)

    results: list[Section] = []

    def step(key: str, title: str, measure: Callable[[], list[Section]]) -> None:
        if args.only is not None and key not in args.only:
            return
        print(f"bench: {title}", file=sys.stderr, flush=True)
        try:
            results.extend(measure())
        except Exception as error:
            traceback.print_exc()
            results.append(report.Section(key, title, error=f"{type(error).__name__}: {error}"[:2000]))

    try:
        step("iris", "1. iris: ours vs the AWS sample", lambda: [sections.section_iris(plan, work, ref_env)])
        reference_memory = results[-1].data.get("reference_memory", []) if results else []
        step("xgboost", "2-3. XGBoost 200 trees", lambda: sections.section_xgboost(plan, work))
        step("busy_ping", "4. /ping while busy", lambda: [sections.section_busy_ping(plan, work)])
        step(
            "cold_start",
            "5. cold start and memory",
            lambda: [sections.section_cold_start(plan, work, reference_memory)],
        )
        step("image", "6. image size", lambda: [sections.section_image()])
    finally:
        if args.keep_work:
            print(f"bench: kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)

    server_changed = machine.server_digest() != server_before
    meta = {
        "command": "python bench/run.py"
        + (" --quick" if args.quick else "")
        + (f" --only {','.join(sorted(args.only))}" if args.only else ""),
        "mode": plan.mode,
        "date": machine.now(),
        "duration_s": time.monotonic() - began,
        "nproc": nproc,
        "cpu_model": cpu_model,
        "checkout": machine.checkout()
        + (" (WARNING: the server's files changed during the run)" if server_changed else ""),
        "load_average": f"{load_before} at the start, {machine.load_average()} at the end",
        "yardstick": f"{yardstick_before} at the start, {machine.yardstick()} at the end",
        "versions": machine.tool_versions(ref_env.python),
        "seconds_per_measurement": plan.seconds,
        "runs": plan.runs,
        "method": [
            f"Every server binds 127.0.0.1 and is pinned to CPU {load.SERVER_CPU} (`taskset -c {load.SERVER_CPU}`);"
            f" wrk, hey, this script's own requests and its in-process predictions run on CPU {load.LOAD_CPU}.",
            "Ratios compare numbers from this run only; the machine is shared and noisy, so absolute figures"
            " move between runs more than ratios do.",
        ],
    }
    markdown, data = report.write(meta, results, stem="latest" if args.only is None else "partial")
    print(markdown.read_text())
    print(f"bench: wrote {markdown} and {data} in {meta['duration_s']:.0f} s", file=sys.stderr)
    return 1 if any(section.error for section in results) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
