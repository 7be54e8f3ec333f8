"""`serve`: check the configuration and the model directory, then run gunicorn in this process.

Owns: the process model. gunicorn runs (2 x usable cores) + 1 gthread workers unless told
otherwise; each worker loads its own model after fork (nothing predicts before fork, so OpenMP is
never initialised in the master), with every math library capped at `model_threads` threads.
Mistakes that need no model load (bad variable, no model file, several, pickle without opt-in)
stop here with one line and exit code 1. Then the model is proven once, before gunicorn starts
and before any worker: a forked child builds the app as a worker would (load, checksum, golden
rows), so a model that cannot serve stops the server with its one-line reason and exit code 4
(gunicorn's "app failed to load"), said once rather than by every worker. The child, not this
process, runs the model: XGBoost's OpenMP must never start in the master. The proof costs the
demo tree nothing measurable (a preloaded model only replays its rows: 0.325 s to the first /ping
before, 0.329 s after) and a 200-tree XGBoost model one more load (0.865 s before, 0.938 s after;
medians of 7 interleaved starts of ./serve with 5 workers). gunicorn's master is this process, not a second
interpreter exec'd after the checks, so it is the one that receives SIGTERM and drains in-flight
requests within GRACEFUL_TIMEOUT_SECONDS. A multi-model endpoint (SAGEMAKER_MULTI_MODEL=true)
starts with no model: each `POST /models` checks and proves its own.
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import logging
import os
import sys
from pathlib import Path

from container import accelerations
from container.errors import ConfigurationError, StartupError
from container.flavours import check_artifact, preload
from container.script.locate import find_script, loads_its_own_model, unconsented
from container.settings import Settings

GRACEFUL_TIMEOUT_SECONDS = 20  # SageMaker sends SIGKILL 30 s after SIGTERM
KEEPALIVE_SECONDS = 5
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")
WORKER_CLASS = "container.server.worker.TimeoutThreadWorker"
APPLICATION = "container.server.wsgi:application()"
HOOKS = "python:container.server.gunicorn_hooks"  # the master imports the libraries once, before fork
# Each worker's heartbeat file: in memory, so it works on a read-only root filesystem without a
# /tmp mount and never waits on a disk-backed /tmp. Docker always mounts a tmpfs on /dev/shm.
HEARTBEAT_DIR = Path("/dev/shm")  # noqa: S108
APP_LOAD_ERROR = 4  # gunicorn's exit code when the app cannot load


def gunicorn_argv(settings: Settings) -> list[str]:
    """The command line of the gunicorn `serve` runs, as another process would start it."""
    return [sys.executable, "-m", "container.server.gunicorn_main", *gunicorn_options(settings)]


def gunicorn_options(settings: Settings) -> list[str]:
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return [
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
        "--http-parser", "fast" if settings.http_parser == "fast" else "python",
        *heartbeat_dir_arguments(HEARTBEAT_DIR),
        "--config", HOOKS,
        APPLICATION,
    ]  # fmt: skip


def check_http_parser(settings: Settings) -> None:
    if settings.http_parser == "fast" and importlib.util.find_spec("gunicorn_h1c") is None:
        raise ConfigurationError(
            "BYOM_HTTP_PARSER=fast: gunicorn's C parser is not installed (pip install gunicorn_h1c)"
        )


def heartbeat_dir_arguments(directory: Path) -> list[str]:
    """Where gunicorn keeps heartbeat files; its default (the temp dir) where `directory` is unusable."""
    usable = directory.is_dir() and os.access(directory, os.W_OK | os.X_OK)
    return ["--worker-tmp-dir", str(directory)] if usable else []


def thread_limits(model_threads: int) -> dict[str, str]:
    """The variables that cap the math libraries' thread pools; read when a library loads."""
    return {name: str(model_threads) for name in THREAD_VARIABLES}


def import_model_library(module: str) -> None:
    """Import the module that serves the model (and its library) before gunicorn's, with the
    collector off.

    skops names SciPy's ufuncs by searching sys.modules in import order (see
    estimator.import_skops_io): the fewer modules before SciPy's, the shorter each search. The
    collector stays off until the gunicorn master has loaded the model and frozen what it holds
    (gunicorn_hooks.on_starting). Counted with callgrind, the demo model's start from its skops
    file (the master's instructions, up to serving) took 6.37 G with gunicorn exec'd in a second
    interpreter and the library imported from the master's hook, 5.99 G this way.
    """
    gc.disable()
    importlib.import_module(module)


def prove_model(settings: Settings, preload_model: bool = True) -> str | None:
    """Build the app in a forked child, as a worker will; None when it serves, else the reason.

    A scikit-learn model is preloaded here first, so the child (and later every worker) inherits
    it and only replays the golden rows; an XGBoost model is loaded by the child alone, and so is
    anything an inference script does (its import, its model_fn).
    """
    importlib.import_module("container.app")  # here, not in the child: the hook would import it again
    try:
        if preload_model:
            preload(settings)
    except StartupError as error:
        return error.message
    reading, writing = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child, which never returns
        os.close(reading)
        _prove_in_child(settings, writing)
    os.close(writing)
    with os.fdopen(reading, "rb") as pipe:
        reason = pipe.read().decode("utf-8", "replace")
    _, status = os.waitpid(child, 0)
    if os.waitstatus_to_exitcode(status) == 0:
        return None
    return reason or f"the model check ended with status {os.waitstatus_to_exitcode(status)}"


def _prove_in_child(settings: Settings, writing: int) -> None:
    code = 1
    logging.getLogger("byom").disabled = True  # the workers say what loading says, once each
    try:
        from container.app import create_app

        create_app(settings)
        code = 0
    except StartupError as error:
        os.write(writing, error.message.encode())
    except BaseException:  # a bug: its traceback is the report
        import traceback

        os.write(writing, traceback.format_exc().encode())
    finally:
        os._exit(code)


def log_to_stderr(level: str) -> None:
    """The server's log ("byom") before gunicorn runs (preloading says what it loaded); gunicorn's
    hook then routes it through gunicorn's error log."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("byom: %(message)s"))
    byom = logging.getLogger("byom")
    byom.handlers[:] = [handler]
    byom.setLevel(level.upper())
    byom.propagate = False


def run_gunicorn(options: list[str]) -> None:
    """gunicorn with these options, in this process, as `python -m container.server.gunicorn_main`."""
    from container.server import gunicorn_main  # imports gunicorn

    sys.argv = [gunicorn_main.__file__, *options]  # what gunicorn parses, and re-execs on USR2
    gunicorn_main.main()


def serve_many(settings: Settings) -> None:
    """A multi-model endpoint: no model to check or prove at start, each load proves its own."""
    os.environ.update(thread_limits(settings.model_threads))
    log_to_stderr(settings.log_level)
    run_serving(settings, f"a multi-model endpoint (models load from {settings.model_root} through /models)")


def run_serving(settings: Settings, what: str) -> None:
    """Say what is served, where, and how fast, then run gunicorn."""
    print(
        f"byom: serving {what} on {settings.host}:{settings.port} "
        f"with {settings.workers} workers x {settings.worker_threads} threads",
        file=sys.stderr,
        flush=True,
    )
    print(f"byom: {accelerations.summary()}", file=sys.stderr, flush=True)
    run_gunicorn(gunicorn_options(settings))


def main(args: list[str]) -> None:
    if args:
        sys.exit("usage: serve  (configured by environment variables; see the README)")
    try:
        settings = Settings.from_env(os.environ)
        check_http_parser(settings)
    except StartupError as error:
        sys.exit(f"byom: cannot serve: {error.message}")
    if settings.multi_model:
        serve_many(settings)
        return
    try:
        script = find_script(settings)
        artifact = None if loads_its_own_model(settings) else check_artifact(settings)
    except StartupError as error:
        sys.exit(f"byom: cannot serve: {error.message}")
    note = unconsented(settings)
    if note:
        print(f"byom: {note}", file=sys.stderr, flush=True)
    os.environ.update(thread_limits(settings.model_threads))  # before any library loads
    log_to_stderr(settings.log_level)
    if artifact is not None:
        import_model_library(artifact.module)
    reason = prove_model(settings, preload_model=artifact is not None)
    if reason is not None:
        print(f"byom: cannot serve: {reason}", file=sys.stderr, flush=True)
        sys.exit(APP_LOAD_ERROR)
    served = f"{artifact.path} ({artifact.flavour})" if artifact else f"{settings.model_dir} (its model_fn)"
    through = f" through {script.path}" if script else ""
    run_serving(settings, f"{served}{through}")


if __name__ == "__main__":
    main(sys.argv[1:])
