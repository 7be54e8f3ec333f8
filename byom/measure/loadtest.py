"""`byom loadtest`: open-loop load on a container URL or a SageMaker endpoint, and its timeline.

Reads an artillery script (optional) and flags that override it, runs the schedule, prints a
summary, and writes PREFIX.json, PREFIX.csv and PREFIX.png (see byom.measure.timeline for the JSON);
then judges the script's `ensure` checks (byom.measure.ensure) and exits 3 if a strict one failed.
With `--workers N` the schedule is sent by N processes (byom.measure.workers); the summary has a
line per generator process with its CPU, saying when one saturated. `run_load` is the part
`byom plan` reuses for its step search (in this process).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from byom.errors import CommandError
from byom.measure import ensure, timeline, workers
from byom.measure.http_client import Origin
from byom.measure.loadgen import Generator, HttpSender, SageMakerSender
from byom.measure.loadspec import (
    LoadSpec,
    Phase,
    Request,
    from_artillery,
    parse_duration,
    parse_rate,
    schedule,
)
from byom.measure.outcomes import Outcomes, ProcessUsage, usage_line
from byom.measure.worker import Job
from byom.shared import plots

DEFAULT_BODY = b"5.1,3.5,1.4,0.2"  # one iris row, as in the seed's artillery script
EXIT_CODES = f"""exit status:
  0    the test ran (and every strict check of the script's config.ensure passed)
  2    a usage or setup error, before any load (a bad script or flag, an unreachable target)
  {ensure.CHECKS_FAILED}    a strict config.ensure check failed (one line per check on stdout)
  130  interrupted (Ctrl-C): what finished is written, and checks are judged on it"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "loadtest",
        help="open-loop load test with a per-second timeline",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("script", nargs="?", type=Path, help="an artillery YAML script (optional)")
    add_target_arguments(parser)
    parser.add_argument("--rate", type=float, help="arrivals per second (artillery arrivalRate)")
    parser.add_argument("--ramp-to", type=float, help="ramp linearly to this rate (artillery rampTo)")
    parser.add_argument("--duration", help="phase duration: 60, 30s, 5m (default 60 s)")
    parser.add_argument(
        "--phase", action="append", metavar="DURATION:RATE[:RAMPTO]", help="a phase; repeat for several"
    )
    add_request_arguments(parser)
    parser.add_argument(
        "--out", type=Path, default=Path("loadtest"), help="output prefix (default ./loadtest)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="generator processes sharing the schedule and dividing --connections and --max-in-flight (1)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress display")
    parser.add_argument(
        "--slo-p99-ms",
        type=float,
        metavar="MS",
        help="a p99 bound to draw on the PNG (plot only; the test is unchanged)",
    )
    parser.add_argument(
        "--error-budget",
        type=float,
        metavar="FRACTION",
        help="an error rate bound, e.g. 0.05, to draw on the PNG (plot only)",
    )
    parser.set_defaults(run=run)


def add_request_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--path", help="request path (default /invocations)")
    parser.add_argument("--header", action="append", metavar="'NAME: VALUE'", help="a request header")
    parser.add_argument("--content-type", help="Content-Type (default text/csv)")
    body = parser.add_mutually_exclusive_group()
    body.add_argument("--body", help="request body (default one iris CSV row)")
    body.add_argument("--body-file", type=Path, help="request body from a file")


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--target", help="container URL, e.g. http://localhost:8080 (artillery config.target)"
    )
    parser.add_argument("--sagemaker", metavar="ENDPOINT", help="a SageMaker endpoint name instead of a URL")
    parser.add_argument("--region", help="AWS region for --sagemaker (default: boto3's configuration)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request (default 10)")
    parser.add_argument("--max-in-flight", type=int, default=1000, help="cap on concurrent requests (1000)")
    parser.add_argument(
        "--connections", type=int, default=16, help="keep-alive connections opened before the start (16)"
    )


def run(arguments: argparse.Namespace) -> int:
    slo, budget = arguments.slo_p99_ms, arguments.error_budget
    if (slo is not None and not slo > 0) or (budget is not None and not 0 <= budget < 1):
        raise CommandError("--slo-p99-ms must be above 0 and --error-budget within [0, 1)")
    spec = load_spec(arguments)
    progress = sys.stderr if show_progress(arguments) else None
    outcomes = run_load(arguments, spec, progress, arguments.workers)
    duration = min(spec.duration, outcomes.wall_seconds) if outcomes.interrupted else spec.duration
    rows = timeline.build(outcomes, duration)
    document = result_document(arguments, spec, outcomes)
    prefix: Path = arguments.out
    prefix.parent.mkdir(parents=True, exist_ok=True)
    paths = [prefix.with_suffix(suffix) for suffix in (".json", ".csv", ".png")]
    timeline.write_json(paths[0], document, rows)
    timeline.write_csv(paths[1], rows)
    title = f"byom loadtest: {document['target']}"
    plots.write_loadtest_png(paths[2], rows, title, slo_p99_ms=slo, error_budget=budget)
    print_summary(document, rows, paths, outcomes.processes)
    lines, passed = ensure.verdict(spec.checks, measure(outcomes, duration))
    print("\n".join(lines), end="\n" if lines else "")
    if outcomes.interrupted:
        print(
            f"byom loadtest: interrupted after {outcomes.wall_seconds:.0f} s; wrote what finished",
            file=sys.stderr,
        )
        return 130
    return 0 if passed else ensure.CHECKS_FAILED


def measure(outcomes: Outcomes, seconds: float) -> dict[str, float]:
    latency_ms = np.frombuffer(outcomes.latency, dtype=np.float64) * 1000
    return ensure.measure(latency_ms, np.frombuffer(outcomes.status, dtype=np.int32), seconds)


def show_progress(arguments: argparse.Namespace) -> bool:
    return not arguments.quiet and sys.stderr.isatty()


def load_spec(arguments: argparse.Namespace) -> LoadSpec:
    spec = LoadSpec("", [], [])
    if arguments.script is not None:
        try:
            spec = from_artillery(arguments.script.read_text())
        except OSError as error:
            raise CommandError(f"cannot read {arguments.script}: {error.strerror}") from None
        for warning in spec.warnings:
            print(f"byom loadtest: {arguments.script}: {warning}", file=sys.stderr)
    target = arguments.sagemaker or arguments.target or spec.target
    if not target:
        raise CommandError(
            "no target: pass --target URL, --sagemaker ENDPOINT, or a script with config.target"
        )
    spec = replace(spec, target=target, phases=phases_from_flags(arguments) or spec.phases)
    spec = replace(spec, requests=requests_from_flags(arguments, spec.requests))
    if not spec.phases or not any(phase.count() for phase in spec.phases):
        raise CommandError("nothing to send: give --rate (and --duration) or phases with arrivals")
    return spec


def phases_from_flags(arguments: argparse.Namespace) -> list[Phase]:
    phases = [parse_phase_flag(text) for text in arguments.phase or []]
    if arguments.rate is not None:
        duration = parse_duration(arguments.duration or 60, "--duration")
        phases.append(Phase(duration, parse_rate(arguments.rate, "--rate"), arguments.ramp_to))
    elif arguments.ramp_to is not None or arguments.duration is not None:
        raise CommandError("--ramp-to and --duration need --rate")
    return phases


def parse_phase_flag(text: str) -> Phase:
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise CommandError(f"--phase {text!r}: expected DURATION:RATE or DURATION:RATE:RAMPTO")
    ramp = parse_rate(parts[2], f"--phase {text!r}") if len(parts) == 3 else None
    return Phase(
        parse_duration(parts[0], f"--phase {text!r}"), parse_rate(parts[1], f"--phase {text!r}"), ramp
    )


def requests_from_flags(arguments: argparse.Namespace, scripted: Sequence[Request]) -> list[Request]:
    base = list(scripted) or [Request("POST", "/invocations", {"Content-Type": "text/csv"}, DEFAULT_BODY)]
    headers = dict(parse_header(text) for text in arguments.header or [])
    if arguments.content_type:
        headers["Content-Type"] = arguments.content_type
    body = arguments.body.encode() if arguments.body is not None else None
    if arguments.body_file is not None:
        try:
            body = arguments.body_file.read_bytes()
        except OSError as error:
            raise CommandError(f"cannot read {arguments.body_file}: {error.strerror}") from None
    return [
        Request(
            r.method, arguments.path or r.path, {**r.headers, **headers}, r.body if body is None else body
        )
        for r in base
    ]


def parse_header(text: str) -> tuple[str, str]:
    name, colon, value = text.partition(":")
    if not colon or not name.strip():
        raise CommandError(f"--header {text!r}: expected 'Name: value'")
    return name.strip(), value.strip()


def run_load(
    arguments: argparse.Namespace, spec: LoadSpec, progress: TextIO | None = None, processes: int = 1
) -> Outcomes:
    """Run the spec's schedule against its target (a URL, or a SageMaker endpoint name), in this
    process or shared among `processes` generator processes."""
    on_second = Progress(progress, spec.duration) if progress is not None else None
    try:
        if processes == 1:
            return asyncio.run(_run(make_sender(arguments, spec), arguments, spec, on_second))
        return workers.run(job(arguments, spec, processes, on_second is not None), on_second)
    finally:
        if progress is not None:
            progress.write("\n")


async def _run(
    sender: HttpSender | SageMakerSender,
    arguments: argparse.Namespace,
    spec: LoadSpec,
    on_second: Progress | None,
) -> Outcomes:
    generator = Generator(sender, arguments.timeout, arguments.max_in_flight, on_second)
    try:
        await sender.prepare(arguments.connections)
        return await generator.run(schedule(spec.phases))
    finally:
        sender.close()


def job(arguments: argparse.Namespace, spec: LoadSpec, processes: int, ticks: bool) -> Job:
    """What each of the generator processes is given (a URL target only)."""
    check_limits(arguments, processes)
    if arguments.sagemaker:
        raise CommandError("--workers works with --target URL; a --sagemaker test runs in one process")
    check_reachable(Origin.parse(spec.target))
    return Job(
        spec.target,
        tuple(spec.requests),
        tuple(spec.phases),
        arguments.timeout,
        arguments.max_in_flight,
        arguments.connections,
        processes,
        ticks=ticks,
    )


def check_limits(arguments: argparse.Namespace, processes: int = 1) -> None:
    if not arguments.timeout > 0 or arguments.connections < 0:
        raise CommandError("--timeout must be above 0 and --connections at least 0")
    if processes < 1:
        raise CommandError("--workers must be at least 1")
    if arguments.max_in_flight < processes:
        raise CommandError("--max-in-flight must be at least 1, and at least --workers")


def make_sender(arguments: argparse.Namespace, spec: LoadSpec) -> HttpSender | SageMakerSender:
    check_limits(arguments)
    if arguments.sagemaker:
        return SageMakerSender(
            sagemaker_client(arguments), spec.target, spec.requests, arguments.max_in_flight
        )
    origin = Origin.parse(spec.target)
    check_reachable(origin)
    return HttpSender(origin, spec.requests)


def check_reachable(origin: Origin) -> None:
    try:
        socket.create_connection((origin.host, origin.port), timeout=5).close()
    except OSError as error:
        raise CommandError(
            f"cannot connect to {origin.host}:{origin.port}: {error.strerror or error}"
        ) from None


def sagemaker_client(arguments: argparse.Namespace) -> Any:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError

    threads = min(arguments.max_in_flight, 200)
    arguments.max_in_flight = threads
    config = Config(max_pool_connections=threads, retries={"total_max_attempts": 1, "mode": "standard"})
    try:
        session = boto3.session.Session(region_name=arguments.region)
        if session.get_credentials() is None:
            raise CommandError("no AWS credentials found (environment, ~/.aws, or an instance role)")
        return session.client("sagemaker-runtime", config=config)
    except BotoCoreError as error:
        raise CommandError(f"cannot create the sagemaker-runtime client: {error}") from None


class Progress:
    """One status line on stderr, rewritten every second."""

    def __init__(self, stream: TextIO, duration: float) -> None:
        self.stream, self.duration, self.seen = stream, duration, 0

    def __call__(self, outcomes: Outcomes, elapsed: float) -> None:
        latency = np.frombuffer(outcomes.latency, dtype=np.float64)[self.seen :]
        status = np.frombuffer(outcomes.status, dtype=np.int32)[self.seen :]
        self.seen += latency.size
        p99 = float(np.percentile(latency, 99)) * 1000 if latency.size else 0.0
        errors = int(((status < 200) | (status >= 300)).sum())
        self.show(elapsed, latency.size, p99, errors, len(outcomes.status))

    def show(self, elapsed: float, done: int, p99_ms: float, errors: int, total: int) -> None:
        self.stream.write(
            f"\r[{min(elapsed, self.duration):5.0f}/{self.duration:.0f} s] {done:6d} done/s"
            f"  p99 {p99_ms:8.1f} ms  errors {errors:5d}  total {total:8d} "
        )
        self.stream.flush()


def result_document(arguments: argparse.Namespace, spec: LoadSpec, outcomes: Outcomes) -> dict[str, Any]:
    return {
        "kind": timeline.RESULT_KIND,
        "version": 1,
        "target": spec.target,
        "sagemaker": bool(arguments.sagemaker),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "phases": [
            {"duration": p.duration, "arrivalRate": p.arrival_rate, "rampTo": p.ramp_to} for p in spec.phases
        ],
        "summary": timeline.summary(outcomes),
        "interrupted": outcomes.interrupted,
        "generator": {**timeline.generator_usage(outcomes), "max_in_flight": arguments.max_in_flight},
    }


def print_summary(
    document: dict[str, Any],
    rows: Sequence[timeline.Second],
    paths: Sequence[Path],
    processes: Sequence[ProcessUsage],
) -> None:
    summary, generator = document["summary"], document["generator"]
    errors = ", ".join(f"{code}: {count}" for code, count in summary["errors"].items()) or "none"
    peak = max((row.achieved for row in rows), default=0)
    print(f"requests {summary['requests']}  ok {summary['ok']}  errors {errors}")
    print(f"latency p50 {summary['p50_ms']} ms  p95 {summary['p95_ms']} ms  p99 {summary['p99_ms']} ms")
    print(f"peak achieved {peak} req/s  generator CPU {generator['cpu_percent']}% of one core")
    for number, usage in enumerate(processes, 1):
        print(usage_line(number, usage, len(processes)))
    print("wrote " + ", ".join(str(path) for path in paths))
