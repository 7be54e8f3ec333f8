"""`serve`: check the configuration and the model directory, then exec gunicorn.

Owns: the process model. gunicorn runs (2 x usable cores) + 1 gthread workers unless told
otherwise; each worker loads its own model after fork (nothing predicts before fork, so OpenMP is
never initialised in the master), with every math library capped at `model_threads` threads.
Mistakes that need no model load (bad variable, no model file, several, pickle without opt-in)
stop here with one line and exit code 1; gunicorn is exec'd in place, so it is the process that
receives SIGTERM and drains in-flight requests within GRACEFUL_TIMEOUT_SECONDS.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from container.errors import StartupError
from container.flavours import check_artifact
from container.settings import Settings

GRACEFUL_TIMEOUT_SECONDS = 20  # SageMaker sends SIGKILL 30 s after SIGTERM
KEEPALIVE_SECONDS = 5
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")
WORKER_CLASS = "container.worker.TimeoutThreadWorker"
APPLICATION = "container.wsgi:application()"
HOOKS = "python:container.gunicorn_hooks"  # the master imports the libraries once, before fork


def gunicorn_argv(settings: Settings) -> list[str]:
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return [
        sys.executable, "-m", "gunicorn",
        "--bind", f"{host}:{settings.port}",
        "--workers", str(settings.workers),
        "--threads", str(settings.worker_threads),
        "--worker-class", WORKER_CLASS,
        "--timeout", str(settings.timeout_seconds),
        "--graceful-timeout", str(GRACEFUL_TIMEOUT_SECONDS),
        "--keep-alive", str(KEEPALIVE_SECONDS),
        "--log-level", settings.log_level,
        "--error-logfile", "-",
        "--no-control-socket",
        "--config", HOOKS,
        APPLICATION,
    ]  # fmt: skip


def worker_environment(environ: Mapping[str, str], model_threads: int) -> dict[str, str]:
    env = dict(environ)
    for name in THREAD_VARIABLES:
        env[name] = str(model_threads)
    return env


def main(args: list[str]) -> None:
    if args:
        sys.exit("usage: serve  (configured by environment variables; see the README)")
    try:
        settings = Settings.from_env(os.environ)
        artifact = check_artifact(settings)
    except StartupError as error:
        sys.exit(f"byom: cannot serve: {error.message}")
    print(
        f"byom: serving {artifact.path} ({artifact.flavour}) on {settings.host}:{settings.port} "
        f"with {settings.workers} workers x {settings.worker_threads} threads",
        file=sys.stderr,
        flush=True,
    )
    argv = gunicorn_argv(settings)
    os.execve(argv[0], argv, worker_environment(os.environ, settings.model_threads))


if __name__ == "__main__":
    main(sys.argv[1:])
