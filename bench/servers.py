"""Starting and stopping the servers under test, bound to 127.0.0.1 and pinned with taskset.

Owns: our server (`./serve` from this checkout, configured by environment variables only) and
the reference stack (nginx -> unix socket -> gunicorn -> bench/reference/predictor.py), their
log files, waiting for readiness against a deadline, and stopping every process they started:
each is the leader of its own process group, stopped with SIGTERM and, after a grace period,
SIGKILL, so nothing outlives the benchmark.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from client import HOST, NotReady, wait_until_ready
from load import SERVER_CPU, tool
from refenv import ReferenceEnv

CHECKOUT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
REFERENCE_APP = BENCH / "reference"
READY_DEADLINE_S = 120.0
STOP_GRACE_S = 30.0
INHERITED_PREFIXES = ("SM_", "SAGEMAKER_", "BYOM_", "MODEL_SERVER_", "OMP_", "OPENBLAS_", "MKL_")


class Server:
    """Processes serving one HTTP port; a context manager that stops them all."""

    def __init__(self, name: str, port: int, commands: list[str], logs: dict[str, Path]) -> None:
        self.name = name
        self.port = port
        self.commands = commands
        self.logs = logs
        self.processes: list[subprocess.Popen[bytes]] = []
        self.programs: list[str] = []  # what each process is: "gunicorn", "nginx"
        self.spawned = 0.0  # monotonic time just before the first spawn
        self.ready = 0.0  # monotonic time /ping first answered 200

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def startup_seconds(self) -> float:
        return self.ready - self.spawned

    def spawn(
        self, program: str, argv: list[str], env: Mapping[str, str], log: Path, cwd: Path
    ) -> subprocess.Popen[bytes]:
        if not self.processes:
            self.spawned = time.monotonic()
        with log.open("ab") as stream:
            process = subprocess.Popen(
                argv, cwd=cwd, env=dict(env), stdout=stream, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.processes.append(process)
        self.programs.append(program)
        return process

    def wait_ready(self, deadline_s: float = READY_DEADLINE_S) -> None:
        try:
            self.ready = wait_until_ready(self.port, deadline_s, self.processes)
        except NotReady as error:
            self.stop()
            raise NotReady(f"{self.name}: {error}\n{self.log_tail()}") from None

    def log_tail(self, lines: int = 8) -> str:
        tails = []
        for name, path in self.logs.items():
            text = path.read_text(errors="replace").splitlines()[-lines:] if path.exists() else []
            tails.append(f"--- {name} ({path})\n" + "\n".join(line[:300] for line in text))
        return "\n".join(tails)

    def stop(self) -> None:
        """SIGTERM each process group, newest first; SIGKILL what is left after the grace period."""
        for process in reversed(self.processes):
            _signal_group(process, signal.SIGTERM)
        give_up = time.monotonic() + STOP_GRACE_S
        for process in reversed(self.processes):
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, give_up - time.monotonic()))
            _signal_group(process, signal.SIGKILL)  # also reaps any child left in the group
            process.wait()
        self.processes.clear()
        self.programs.clear()

    def __enter__(self) -> Server:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def clean_environment() -> dict[str, str]:
    """This process's environment without any variable that would configure a server."""
    return {k: v for k, v in os.environ.items() if not k.startswith(INHERITED_PREFIXES)}


def ours_variables(model_dir: Path, port: int, workers: int, threads: int) -> dict[str, str]:
    return {
        "SM_MODEL_DIR": str(model_dir),
        "BYOM_HOST": HOST,
        "SAGEMAKER_BIND_TO_PORT": str(port),
        "SAGEMAKER_MODEL_SERVER_WORKERS": str(workers),
        "BYOM_WORKER_THREADS": str(threads),
    }


def start_ours(
    name: str,
    model_dir: Path,
    log_dir: Path,
    workers: int,
    threads: int = 4,
    wait: bool = True,
    checkout: Path = CHECKOUT,
    extra: Mapping[str, str] | None = None,
) -> Server:
    """`./serve` from `checkout` (this one by default) with `extra` variables, pinned to the
    server CPU; returns once /ping answers 200."""
    port = free_port()
    variables = ours_variables(model_dir, port, workers, threads) | dict(extra or {})
    argv = [tool("taskset"), "-c", str(SERVER_CPU), str(checkout / "serve")]
    log = log_dir / f"{name}-{port}.log"
    command = (
        " ".join(f"{k}={shlex.quote(v)}" for k, v in variables.items()) + f" taskset -c {SERVER_CPU} ./serve"
    )
    server = Server(name, port, [command], {"serve": log})
    try:
        server.spawn("gunicorn", argv, clean_environment() | variables, log, checkout)
        if wait:
            server.wait_ready()
    except BaseException:
        server.stop()
        raise
    return server


def start_trivial(name: str, model_dir: Path, log_dir: Path, workers: int, threads: int = 4) -> Server:
    """bench/trivial.py's POST handler on the gunicorn command line `./serve` would exec."""
    port = free_port()
    variables = ours_variables(model_dir, port, workers, threads)
    gunicorn, environment = _our_gunicorn(variables)
    argv = [
        tool("taskset"),
        "-c",
        str(SERVER_CPU),
        *gunicorn[:-1],
        "--pythonpath",
        str(BENCH),
        "trivial:application()",
    ]
    log = log_dir / f"{name}-{port}.log"
    command = f"taskset -c {SERVER_CPU} " + shlex.join(argv[3:]).replace(str(CHECKOUT) + "/", "")
    server = Server(name, port, [command], {"gunicorn": log})
    try:
        server.spawn("gunicorn", argv, environment, log, CHECKOUT)
        server.wait_ready()
    except BaseException:
        server.stop()
        raise
    return server


def _our_gunicorn(variables: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """The gunicorn command line and environment `./serve` runs, for these variables."""
    if str(CHECKOUT) not in sys.path:
        sys.path.insert(0, str(CHECKOUT))
    from container.server.serve import gunicorn_argv, thread_limits
    from container.settings import Settings

    environment = clean_environment() | variables | {"PYTHONPATH": str(CHECKOUT)}
    settings = Settings.from_env(environment)
    return gunicorn_argv(settings), environment | thread_limits(settings.model_threads)


def start_reference(name: str, model_dir: Path, run_dir: Path, env: ReferenceEnv, workers: int) -> Server:
    """nginx -> unix socket -> gunicorn (the sample's worker class) -> the sample's Flask app.

    `run_dir` (new) holds the socket, nginx's configuration, logs and temporary files.
    """
    run_dir.mkdir(mode=0o755)  # nginx's workers run as nobody: the work directory must be 0755 too
    port = free_port()
    sock = run_dir / "gunicorn.sock"
    config = _nginx_config(run_dir, port, sock)
    gunicorn_argv = [
        tool("taskset"), "-c", str(SERVER_CPU), str(env.gunicorn),
        "--timeout", "60", "-k", env.worker_class, "-b", f"unix:{sock}", "-w", str(workers),
        "--chdir", str(REFERENCE_APP), "wsgi:app",
    ]  # fmt: skip
    nginx_argv = [
        tool("taskset"), "-c", str(SERVER_CPU), tool("nginx"),
        "-c", str(config), "-p", str(run_dir), "-e", str(run_dir / "nginx-error.log"),
    ]  # fmt: skip
    commands = [
        f"SM_MODEL_DIR={shlex.quote(str(model_dir))} taskset -c {SERVER_CPU} bench/.venv-reference/bin/gunicorn "
        + shlex.join(gunicorn_argv[4:]).replace(str(REFERENCE_APP), "bench/reference"),
        f"taskset -c {SERVER_CPU} nginx "
        + shlex.join(nginx_argv[4:])
        + "   # config from bench/reference/nginx.conf",
    ]
    logs = {"gunicorn": run_dir / "gunicorn.log", "nginx": run_dir / "nginx-error.log"}
    server = Server(name, port, commands, logs)
    try:
        server.spawn(
            "gunicorn",
            gunicorn_argv,
            clean_environment() | {"SM_MODEL_DIR": str(model_dir)},
            logs["gunicorn"],
            run_dir,
        )
        server.spawn("nginx", nginx_argv, clean_environment(), run_dir / "nginx.out", run_dir)
        server.wait_ready()
    except BaseException:
        server.stop()
        raise
    return server


def _nginx_config(run_dir: Path, port: int, sock: Path) -> Path:
    (run_dir / "nginx-temp").mkdir()
    fields = {
        "@PID@": run_dir / "nginx.pid",
        "@ERROR_LOG@": run_dir / "nginx-error.log",
        "@ACCESS_LOG@": run_dir / "nginx-access.log",
        "@TEMP@": run_dir / "nginx-temp",
        "@SOCKET@": sock,
        "@PORT@": port,
    }
    text = (REFERENCE_APP / "nginx.conf").read_text()
    for field, value in fields.items():
        text = text.replace(field, str(value))
    path = run_dir / "nginx.conf"
    path.write_text(text)
    return path
