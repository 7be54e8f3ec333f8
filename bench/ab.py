"""`python bench/ab.py --baseline REF [--candidate REF] [--commit NAME=REF] [--side NAME=VAR=VALUE]`:
an interleaved A/B of servers.

Owns: comparing the candidate's server (this checkout as it is, or `--candidate REF`) with the
baseline commit's, and with other commits (`--commit`) or the candidate under other settings
(`--side fast=BYOM_HTTP_PARSER=fast`; a NAME given twice gets both settings). Each commit is checked out in a temporary git worktree that
shares this checkout's .venv, its C extensions built there. The loads, on 3 workers x 4 threads
pinned to the server CPU, the load generator on the other, as in `make bench`:
- `ping`: GET /ping, the trivial handler (200 with no body, no model involved), wrk -t1 -c16;
- `iris`: one CSV row to the demo model (a scikit-learn tree), wrk -t1 -c16;
- `xgboost`: one CSV row of 30 features to 200 trees of depth 6, wrk -t1 -c16;
- `iris CPU`, `xgboost CPU`: the server's CPU time per request at FIXED_RATE, open loop. At
  saturation, requests/s move by tens of percent between runs of one commit on this machine (how
  wrk's connections spread over the workers, whether the event loop or the pool answers): the CPU
  time of a request at a fixed rate is the steadier measure of what a change costs.
Rounds alternate the order of the sides (A B, B A, A B...), and every side of every round starts
its servers afresh, so neither a side's position nor a server's age favours one. The report gives
each side's median and range over the rounds and its ratio to the baseline's, paired round by
round, in bench/results/ab.md (and ab.json).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import load
from models import DEMO_MODEL, IRIS_ROW, csv_body, feature_rows, xgboost_model
from procs import tree_cpu_seconds
from servers import Server, start_ours
from stats import median

BENCH = Path(__file__).resolve().parent
CHECKOUT = BENCH.parent
RESULTS = BENCH / "results"
WORKERS = 3
THREADS = 4
CONNECTIONS = 16
WARMUP_SECONDS = 3
THIS_CHECKOUT = "this checkout"  # the candidate without --candidate: the work tree as it is
LOADS = ("ping", "iris", "xgboost", "iris CPU", "xgboost CPU")
FIXED_RATE = 1000.0  # requests/s: below every side's capacity on one core


@dataclass(frozen=True)
class Side:
    name: str
    source: str  # the commit, or THIS_CHECKOUT
    checkout: Path
    extra: Mapping[str, str]

    def describe(self) -> str:
        settings = " ".join(f"{k}={v}" for k, v in self.extra.items())
        return f"{self.name}: {self.source}" + (f" with {settings}" if settings else "")


def parse_commit(text: str) -> tuple[str, str]:
    name, equals, ref = text.partition("=")
    if not (name and equals and ref):
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=REF")
    return name, ref


def parse_side(text: str) -> tuple[str, dict[str, str]]:
    name, _, assignment = text.partition("=")
    variable, equals, value = assignment.partition("=")
    if not (name and variable and equals):
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=VARIABLE=VALUE")
    return name, {variable: value}


def merged(sides: list[tuple[str, dict[str, str]]]) -> dict[str, dict[str, str]]:
    """--side NAME=A=1 --side NAME=B=2: one side with both settings, in the order given."""
    settings: dict[str, dict[str, str]] = {}
    for name, extra in sides:
        settings.setdefault(name, {}).update(extra)
    return settings


@contextmanager
def checked_out(ref: str | None, name: str) -> Iterator[Path]:
    """REF in a temporary worktree, with this checkout's .venv and its own C extensions; None:
    this checkout as it is (its extensions built afresh)."""
    if ref is None:
        build_extensions(CHECKOUT)
        yield CHECKOUT
        return
    directory = Path(tempfile.mkdtemp(prefix="byom-ab-"))
    tree = directory / name
    subprocess.run(
        [load.tool("git"), "-C", str(CHECKOUT), "worktree", "add", "--detach", str(tree), ref], check=True
    )
    try:
        (tree / ".venv").symlink_to(CHECKOUT / ".venv")
        build_extensions(tree)
        yield tree
    finally:
        subprocess.run(
            [load.tool("git"), "-C", str(CHECKOUT), "worktree", "remove", "--force", str(tree)], check=False
        )
        shutil.rmtree(directory, ignore_errors=True)


def build_extensions(tree: Path) -> None:
    """As that commit builds them: scripts/build-extensions, or (before packaging built them) one
    scripts/build-extension call per module."""
    environment = os.environ | {"PYTHON": str(CHECKOUT / ".venv" / "bin" / "python")}
    if (tree / "scripts" / "build-extensions").exists():
        subprocess.run([str(tree / "scripts" / "build-extensions")], cwd=tree, env=environment, check=True)
        return
    for source, module in (
        ("container/flavours/tree_walk.c", "container/flavours/_tree_walk.so"),
        ("container/row_reader.c", "container/_row_reader.so"),
    ):
        subprocess.run(
            [str(tree / "scripts" / "build-extension"), source, module], cwd=tree, env=environment, check=True
        )


def measure_round(
    sides: list[Side], work: Path, seconds: float, models: dict[str, Path]
) -> dict[str, dict[str, float]]:
    bodies = {
        "iris": body_file(work, "iris.csv", IRIS_ROW),
        "xgboost": body_file(work, "xgboost.csv", csv_body(feature_rows(1, seed=1))),
    }
    scripts = {
        name: load.post_script(work / f"{name}.lua", body, "text/csv") for name, body in bodies.items()
    }
    found: dict[str, dict[str, float]] = {}
    for side in sides:
        measured: dict[str, float] = {}
        for model, loads in (("iris", ("ping", "iris")), ("xgboost", ("xgboost",))):
            with start_ours(
                side.name, models[model], work, WORKERS, THREADS, checkout=side.checkout, extra=side.extra
            ) as server:
                for name in loads:
                    measured[name] = saturation(server, name, scripts.get(name), seconds)
                    if name in bodies:
                        measured[f"{name} CPU"] = cpu_per_request(server, bodies[name], seconds, work)
        found[side.name] = measured
        print(f"ab: {side.name}: " + ", ".join(f"{k} {v:,.0f}" for k, v in measured.items()), file=sys.stderr)
    return found


def saturation(server: Server, name: str, script: Path | None, seconds: float) -> float:
    """Requests/s under wrk, after a warm-up that has every worker loaded and warm."""
    url = server.url + ("/ping" if name == "ping" else "/invocations")
    load.wrk(url, WARMUP_SECONDS, CONNECTIONS, script)
    result = load.wrk(url, seconds, CONNECTIONS, script)
    if not result.clean:
        raise RuntimeError(
            f"{server.name} {name}: {result.non_2xx} non-2xx, {result.socket_errors} socket errors"
        )
    return result.requests_per_s


def cpu_per_request(server: Server, body: Path, seconds: float, work: Path) -> float:
    """The server's CPU microseconds per request at FIXED_RATE, open loop (`byom loadtest`): the
    cost of a request without saturation's regimes (how connections spread over the workers,
    whether the event loop answers or the pool does), which move requests/s by tens of percent."""
    pids = [process.pid for process in server.processes]
    before = tree_cpu_seconds(pids)
    result = load.open_loop(server.url, seconds, FIXED_RATE, body, "text/csv", work / f"{server.name}-open")
    if not result.clean:
        raise RuntimeError(f"{server.name}: errors at {FIXED_RATE} req/s: {result.errors}")
    return (tree_cpu_seconds(pids) - before) / result.requests * 1e6


def body_file(work: Path, name: str, body: bytes) -> Path:
    path = work / name
    path.write_bytes(body)
    return path


def report(sides: list[Side], rounds: list[dict[str, dict[str, float]]], seconds: float) -> str:
    baseline, candidate = sides[0].name, sides[1].source
    lines = [
        "# Interleaved A/B",
        "",
        f"`python bench/ab.py --baseline {sides[0].source}"
        + (f" --candidate {candidate}" if candidate != THIS_CHECKOUT else "")
        + "".join(f" --commit {s.name}={s.source}" for s in sides[2:] if not s.extra)
        + "".join(f" --side {s.name}={k}={v}" for s in sides[2:] for k, v in s.extra.items())
        + f" --rounds {len(rounds)} --seconds {seconds:g}`",
        "",
        *(f"- {side.describe()}" for side in sides),
        f"- wrk -t1 -c{CONNECTIONS} for {seconds:g} s per load after {WARMUP_SECONDS} s of warm-up, requests/s; {WORKERS} workers x "
        f"{THREADS} threads on one core; {len(rounds)} rounds, the sides' order alternating, servers started afresh",
        "",
        f"- `iris CPU` and `xgboost CPU`: the server's CPU microseconds per request at {FIXED_RATE:,.0f} requests/s,"
        " open loop (`byom loadtest`), lower is better; the others are requests/s at saturation",
        "",
        "| load | side | median | range | vs baseline (median of paired rounds) |",
        "|---|---|---|---|---|",
    ]
    for name in LOADS:
        for side in sides:
            values = [found[side.name][name] for found in rounds]
            paired = [found[side.name][name] / found[baseline][name] for found in rounds]
            versus = (
                "" if side.name == baseline else f"{median(paired):.3f} ({min(paired):.3f}-{max(paired):.3f})"
            )
            lines.append(
                f"| {name} | {side.name} | {median(values):,.0f} | {min(values):,.0f}-{max(values):,.0f} | {versus} |"
            )
    return "\n".join(lines) + "\n"


def stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description="Interleaved A/B of this checkout's server against another commit's."
    )
    parser.add_argument("--baseline", required=True, help="the git commit (or branch) to compare with")
    parser.add_argument(
        "--candidate",
        default=None,
        help="a git commit to measure instead of this checkout as it is (the default)",
    )
    parser.add_argument(
        "--side",
        type=parse_side,
        action="append",
        default=[],
        help="NAME=VARIABLE=VALUE: this checkout with a setting (repeat a NAME for several)",
    )
    parser.add_argument(
        "--commit",
        type=parse_commit,
        action="append",
        default=[],
        help="NAME=REF: another commit's server beside them (to tell apart what each change did)",
    )
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--out", type=Path, default=RESULTS / "ab.md")
    args = parser.parse_args(argv)

    os.sched_setaffinity(0, {load.LOAD_CPU})
    signal.signal(signal.SIGTERM, stop)  # a normal exit: every server stopped, every worktree removed
    work = Path(tempfile.mkdtemp(prefix="byom-ab-work-"))
    models = {"iris": DEMO_MODEL, "xgboost": xgboost_model(work).directory}
    rounds: list[dict[str, dict[str, float]]] = []
    with contextlib.ExitStack() as trees:
        baseline = trees.enter_context(checked_out(args.baseline, "baseline"))
        candidate = trees.enter_context(checked_out(args.candidate, "candidate"))
        source = args.candidate or THIS_CHECKOUT
        sides = [Side("baseline", args.baseline, baseline, {}), Side("candidate", source, candidate, {})]
        sides += [
            Side(name, ref, trees.enter_context(checked_out(ref, name)), {}) for name, ref in args.commit
        ]
        sides += [Side(name, source, candidate, extra) for name, extra in merged(args.side).items()]
        for number in range(args.rounds):
            order = sides if number % 2 == 0 else sides[::-1]
            print(f"ab: round {number + 1} of {args.rounds}", file=sys.stderr, flush=True)
            rounds.append(measure_round(order, work, args.seconds, models))
    text = report(sides, rounds, args.seconds)
    args.out.write_text(text)
    args.out.with_suffix(".json").write_text(json.dumps({"rounds": rounds}, indent=1) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
