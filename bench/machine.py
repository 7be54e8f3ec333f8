"""What the report says about where and how it ran: machine, versions, checkout, Docker image."""

from __future__ import annotations

import datetime
import hashlib
import os
import platform
import shutil
import statistics
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
SERVER_FILES = ("container", "serve", "pyproject.toml", "requirements")
YARDSTICK_LOOP = 10**7
YARDSTICK_REPEATS = 5


def _output(argv: list[str], timeout: float = 20) -> tuple[int, str]:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return -1, str(error)
    return done.returncode, (done.stdout + done.stderr).strip()


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def nproc() -> int:
    return int(_output([shutil.which("nproc") or "nproc"])[1])


def load_average() -> str:
    """The 1, 5 and 15-minute load averages (this benchmark's own processes count too)."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def yardstick() -> str:
    """A fixed pure-Python loop, `sum(range(10**7))`, timed on each CPU (median of 5): the scale
    against which to read this run's absolute figures (cold start, p99) beside another day's or
    another machine's, when the same VM kind is sometimes half as fast."""
    medians = {}
    for cpu in range(os.cpu_count() or 1):
        seconds = []
        with on_cpu(cpu):
            for _ in range(YARDSTICK_REPEATS):
                started = time.perf_counter()
                sum(range(YARDSTICK_LOOP))
                seconds.append(time.perf_counter() - started)
        medians[cpu] = statistics.median(seconds)
    return ", ".join(f"CPU {cpu} {seconds * 1000:.0f} ms" for cpu, seconds in medians.items())


@contextmanager
def on_cpu(cpu: int) -> Iterator[None]:
    """This process pinned to `cpu` for the duration."""
    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, allowed)


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def checkout() -> str:
    """The commit, and whether the server's files differ from it (with a digest of what ran)."""
    git = shutil.which("git") or "git"
    code, commit = _output([git, "-C", str(CHECKOUT), "rev-parse", "--short", "HEAD"])
    if code != 0:
        return "unknown (not a git checkout)"
    _, changes = _output([git, "-C", str(CHECKOUT), "status", "--porcelain", "--", *SERVER_FILES])
    if not changes:
        return commit
    names = sorted({line.split(maxsplit=1)[1] for line in changes.splitlines()})
    return f"{commit} with uncommitted changes to {', '.join(names)} (server files digest {server_digest()})"


def server_digest() -> str:
    """A short sha256 over the server's files as they are on disk, to tell runs of different code apart."""
    digest = hashlib.sha256()
    for name in SERVER_FILES:
        root = CHECKOUT / name
        files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for path in sorted(p for p in files if "__pycache__" not in p.parts):
            digest.update(str(path.relative_to(CHECKOUT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def tool_versions(reference_python: Path) -> dict[str, str]:
    wrk = _output([shutil.which("wrk") or "wrk", "--version"])[1].splitlines()[0]
    dpkg = shutil.which("dpkg-query") or "dpkg-query"
    hey = _output([dpkg, "-W", "-f", "${Version}", "hey"])[1]
    nginx = _output([shutil.which("nginx") or "nginx", "-v"])[1]
    gevent = _output([str(reference_python), "-c", "import gevent; print(gevent.__version__)"])
    return {
        "wrk": wrk.split(" Copyright")[0],
        "hey": f"hey {hey} (Debian)",
        "nginx": nginx.replace("nginx version: ", ""),
        "python": platform.python_version(),
        "gevent (reference)": gevent[1] if gevent[0] == 0 else "not installed",
    }


def docker_image_size(image: str = "byom:test") -> tuple[str, str]:
    """(size, how it was measured); the size says why when there is no engine or no image."""
    docker = shutil.which("docker")
    if docker is None:
        return "not measured (no docker client)", "which docker"
    code, _ = _output([docker, "info"], timeout=15)
    if code != 0:
        return "not measured (no Docker engine)", "docker info"
    command = [docker, "images", image, "--format", "{{.Size}}"]
    code, size = _output(command)
    if code != 0 or not size:
        return f"not measured (no image {image})", f"docker images {image}"
    return size.splitlines()[0], f"docker images {image} --format '{{{{.Size}}}}'"
