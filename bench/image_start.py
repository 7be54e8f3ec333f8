"""The demo model's cold start in the image: the interpreter and files the product ships.

Owns: timing `serve` inside an idle holder container (the image, pinned to the server CPU), by
start_clock.py on the image's own python3, so Docker's start-up is not in the clock; timing
`docker run IMAGE serve` from the host to its first 200, as a user sees it; timing
`docker run IMAGE true`, Docker's own share; and saying whether the image's server code is this
checkout's. Measures nothing, and says why, without a Docker engine or the image.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from client import NotReady, wait_until_ready
from load import SERVER_CPU
from servers import BENCH, CHECKOUT, free_port

# Mounted into the holder container: the clock, and the readiness poll it shares with the host.
CLOCK_FILES = ("start_clock.py", "client.py")
DEADLINE_S = 120
# The same digest of the server's Python files, run by the image's python3 and by this one.
CODE_DIGEST = (
    "import hashlib, pathlib, sys; root = pathlib.Path(sys.argv[1]); h = hashlib.sha256()\n"
    "for p in sorted(root.rglob('*.py')): h.update(str(p.relative_to(root)).encode() + b'\\0' + p.read_bytes())\n"
    "print(h.hexdigest()[:12])"
)


@dataclass
class ImageStarts:
    image: str
    note: str  # why nothing was measured, or whether the image holds this checkout's server code
    inside: list[float] = field(default_factory=list)  # spawn of `serve` -> first 200, in the container
    docker_run: list[float] = field(default_factory=list)  # `docker run IMAGE serve` -> first 200
    docker_true: list[float] = field(default_factory=list)  # `docker run --rm IMAGE true`
    commands: list[str] = field(default_factory=list)


def image_starts(image: str, model_dir: Path, workers: int, count: int) -> ImageStarts:
    docker = shutil.which("docker")
    if docker is None or _run([docker, "info"]).returncode != 0:
        return ImageStarts(image, "not measured: no Docker engine")
    if _run([docker, "image", "inspect", image]).returncode != 0:
        return ImageStarts(image, f"not measured: no image {image} (`make test` builds it)")
    pinned = ["--cpuset-cpus", str(SERVER_CPU)]
    model = ["-v", f"{model_dir}:/opt/ml/model:ro"]
    found = ImageStarts(image, "")
    clock = [option for name in CLOCK_FILES for option in ("-v", f"{BENCH / name}:/bench/{name}:ro")]
    holder = _output([
        docker, "run", "-d", "--rm", *pinned, *model, *clock, "--entrypoint", "sleep", image, "infinity",
    ])  # fmt: skip
    try:
        found.note = _same_code(docker, holder)
        for _ in range(count):
            found.inside.append(
                float(
                    _output(
                        [docker, "exec", holder, "python3", "/bench/start_clock.py", "8080", str(workers)]
                    )
                )
            )
            found.docker_run.append(_docker_run_to_ready(docker, [*pinned, *model], image, workers))
            started = time.monotonic()
            _output([docker, "run", "--rm", *pinned, image, "true"])
            found.docker_true.append(time.monotonic() - started)
    finally:
        _run([docker, "rm", "-f", holder])
    found.commands = [
        f"docker run -d --rm --cpuset-cpus {SERVER_CPU} -v MODEL:/opt/ml/model:ro -v bench/start_clock.py:/bench/start_clock.py:ro"
        f" -v bench/client.py:/bench/client.py:ro --entrypoint sleep {image} infinity;"
        f" docker exec HOLDER python3 /bench/start_clock.py 8080 {workers}",
        f"docker run -d --rm --cpuset-cpus {SERVER_CPU} -p 127.0.0.1:PORT:8080 -v MODEL:/opt/ml/model:ro"
        f" -e SAGEMAKER_MODEL_SERVER_WORKERS={workers} {image} serve  (timed to the first 200 on /ping)",
        f"docker run --rm --cpuset-cpus {SERVER_CPU} {image} true",
    ]
    return found


def _docker_run_to_ready(docker: str, options: list[str], image: str, workers: int) -> float:
    port = free_port()
    started = time.monotonic()
    container = _output([
        docker, "run", "-d", "--rm", *options, "-p", f"127.0.0.1:{port}:8080",
        "-e", f"SAGEMAKER_MODEL_SERVER_WORKERS={workers}", image, "serve",
    ])  # fmt: skip
    try:
        return wait_until_ready(port, DEADLINE_S, []) - started
    except NotReady as error:
        logs = _run([docker, "logs", "--tail", "20", container])
        raise NotReady(f"{image}: {error}\n{logs.stdout}{logs.stderr}") from None
    finally:
        _run([docker, "rm", "-f", container])


def _same_code(docker: str, holder: str) -> str:
    inside = _output([docker, "exec", holder, "python3", "-c", CODE_DIGEST, "/opt/byom/container"])
    here = _output([sys.executable, "-c", CODE_DIGEST, str(CHECKOUT / "container")])
    if inside == here:
        return f"the image's server code is this checkout's (container/*.py digest {here})"
    return (
        f"the image's server code differs from this checkout's (digest {inside} against {here}): rebuild it"
    )


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=DEADLINE_S, check=False)


def _output(argv: list[str]) -> str:
    done = _run(argv)
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv[:4])} ... failed ({done.returncode}): {done.stderr.strip()[-500:]}"
        )
    return done.stdout.strip()
