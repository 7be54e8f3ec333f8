"""The load generators: wrk for saturation; hey, and byom's open-loop generator, at a fixed
offered rate.

Owns: building their command lines (pinned to the load core with taskset, bounded in time),
writing wrk's Lua scripts, running them with a timeout, and parsing their output into numbers. A
run that answered anything but 2xx, or had socket errors, says so in its result.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

CHECKOUT = Path(__file__).resolve().parent.parent  # where `python -m byom` finds the package
LOAD_CPU = 1
SERVER_CPU = 0
SYSTEM_BIN = ("/usr/bin/", "/usr/sbin/", "/bin/", "/sbin/", "/usr/local/bin/")
UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} is not installed (apt-get install -y {name})")
    return path


def pinned(cpu: int, argv: list[str]) -> list[str]:
    return [tool("taskset"), "-c", str(cpu), *argv]


def display(argv: list[str]) -> str:
    """A command line as one would type it: system tools by their short name."""
    return shlex.join(Path(arg).name if arg.startswith(SYSTEM_BIN) else arg for arg in argv)


def post_script(path: Path, body_file: Path, content_type: str) -> Path:
    """A wrk script that POSTs the bytes of `body_file`."""
    path.write_text(
        "-- written by bench/load.py: POST the body file\n"
        'wrk.method = "POST"\n'
        f'local file = assert(io.open("{body_file}", "rb"))\n'
        'wrk.body = file:read("*a")\n'
        "file:close()\n"
        f'wrk.headers["Content-Type"] = "{content_type}"\n'
    )
    return path


@dataclass(frozen=True)
class WrkResult:
    command: str
    requests_per_s: float
    requests: int
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int

    @property
    def clean(self) -> bool:
        return self.non_2xx == 0 and self.socket_errors == 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def wrk(url: str, seconds: float, connections: int, script: Path | None = None) -> WrkResult:
    argv = [tool("wrk"), "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", "--timeout", "10s"]
    if script is not None:
        argv += ["-s", str(script)]
    argv = pinned(LOAD_CPU, [*argv, url])
    output = _run(argv, seconds)
    return WrkResult(
        command=display(argv),
        requests_per_s=float(_find(r"Requests/sec:\s+([\d.]+)", output)),
        requests=int(_find(r"(\d+) requests in", output)),
        p50_ms=_wrk_latency(output, "50"),
        p99_ms=_wrk_latency(output, "99"),
        non_2xx=int(_find(r"Non-2xx or 3xx responses:\s+(\d+)", output, "0")),
        socket_errors=sum(
            int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", _socket_errors(output))
        ),
    )


def _socket_errors(output: str) -> str:
    match = re.search(r"Socket errors:.*", output)
    return match.group(0) if match else ""


def _wrk_latency(output: str, percent: str) -> float:
    value, unit = re.findall(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s|m|h)\s*$", output, re.MULTILINE)[0]
    return float(value) * UNITS[unit] * 1000


@dataclass(frozen=True)
class HeyResult:
    command: str
    connections: int
    offered_per_s: float
    achieved_per_s: float
    responses: int
    p50_ms: float
    p99_ms: float
    slowest_ms: float
    non_200: int
    errors: int

    @property
    def clean(self) -> bool:
        return self.non_200 == 0 and self.errors == 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def hey(
    url: str, seconds: float, rate: float, connections: int, body_file: Path, content_type: str
) -> HeyResult:
    """POST `body_file` at `rate` requests/s in total, spread over `connections` workers.

    hey limits each of its workers to rate / connections requests/s; a worker waits for each
    answer before its next request, so an overloaded server gets fewer requests than offered
    (the achieved rate says how many) rather than an unbounded queue.
    """
    per_worker = rate / connections
    argv = [tool("hey"), "-z", f"{seconds:g}s", "-c", str(connections), "-q", f"{per_worker:.2f}"]
    argv += ["-cpus", "1", "-t", "20", "-m", "POST", "-T", content_type, "-D", str(body_file), url]
    argv = pinned(LOAD_CPU, argv)
    output = _run(argv, seconds)
    statuses = {int(code): int(n) for code, n in re.findall(r"\[(\d+)\]\s+(\d+) responses", output)}
    error_block = output.split("Error distribution:", 1)[1] if "Error distribution:" in output else ""
    return HeyResult(
        command=display(argv),
        connections=connections,
        offered_per_s=round(per_worker, 2) * connections,
        achieved_per_s=float(_find(r"Requests/sec:\s+([\d.]+)", output)),
        responses=sum(statuses.values()),
        p50_ms=float(_find(r"50%+ in ([\d.]+) secs", output)) * 1000,
        p99_ms=float(_find(r"99%+ in ([\d.]+) secs", output)) * 1000,
        slowest_ms=float(_find(r"Slowest:\s+([\d.]+) secs", output)) * 1000,
        non_200=sum(n for code, n in statuses.items() if code != 200),
        errors=sum(int(n) for n in re.findall(r"^\s+\[(\d+)\]", error_block, re.MULTILINE)),
    )


@dataclass(frozen=True)
class OpenLoopResult:
    command: str
    offered_per_s: float
    requests: int
    p50_ms: float
    p99_ms: float
    errors: dict[str, int]
    generator_cpu_percent: float  # of the load core: the generator's own lateness counts as latency

    @property
    def clean(self) -> bool:
        return not self.errors

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def open_loop(
    target: str,
    seconds: float,
    rate: float,
    body_file: Path,
    content_type: str,
    out_prefix: Path,
    path: str = "/invocations",
) -> OpenLoopResult:
    """`python -m byom loadtest`: POST `body_file` to target + path at `rate` requests/s.

    Open loop: request k is sent at k / rate seconds whatever earlier ones do, on 16 keep-alive
    connections opened beforehand (more when all are busy), and its latency runs from that
    scheduled time. Arrivals are evenly spaced: no client-made bursts, no coordinated omission.
    """
    argv = [sys.executable, "-m", "byom", "loadtest", "--target", target, "--rate", f"{rate:.0f}"]
    argv += ["--duration", f"{seconds:g}", "--body-file", str(body_file), "--content-type", content_type]
    argv += ["--path", path] if path != "/invocations" else []
    argv = pinned(LOAD_CPU, [*argv, "--quiet", "--out", str(out_prefix)])
    _run(argv, seconds + 10, cwd=CHECKOUT)  # + each request's 10 s timeout
    document = json.loads(out_prefix.with_suffix(".json").read_text())
    summary = document["summary"]
    return OpenLoopResult(
        command=display(argv).replace(sys.executable, "python"),
        offered_per_s=round(rate),
        requests=summary["requests"],
        p50_ms=summary["p50_ms"],
        p99_ms=summary["p99_ms"],
        errors=summary["errors"],
        generator_cpu_percent=document["generator"]["cpu_percent"],
    )


def _run(argv: list[str], seconds: float, cwd: Path | None = None) -> str:
    completed = subprocess.run(
        argv, capture_output=True, text=True, timeout=seconds + 60, check=False, cwd=cwd
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"{display(argv)} exited {completed.returncode}: {completed.stderr.strip()[-500:]}"
        )
    return completed.stdout


def _find(pattern: str, output: str, default: str | None = None) -> str:
    match = re.search(pattern, output)
    if match is None:
        if default is not None:
            return default
        raise RuntimeError(f"no {pattern!r} in the output:\n{output[-2000:]}")
    return match.group(1)
