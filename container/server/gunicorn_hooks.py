"""gunicorn server hooks, loaded with `-c python:container.server.gunicorn_hooks`.

Owns: what the master does before it forks workers. It imports the web app and the module that
serves the model directory's artifact, with its library (scikit-learn, XGBoost; numpy alone for
an exported tree), so every worker starts from a fork that already has them instead of importing
them itself: on one core, three workers each importing scikit-learn took 6.3 s to the first
/ping. A scikit-learn model (or its export) is also loaded here, so workers share its memory; an
XGBoost model is not (its OpenMP must not start in the master: forked workers would hang on it),
and each worker replays the golden rows itself. The garbage collector is off meanwhile; then the
master's objects are frozen out of it, since its bookkeeping writes would otherwise copy their
pages into every worker. The server's own log ("byom") is routed through gunicorn's error log
first, so its lines share gunicorn's format and its --log-level. (`serve` imports the library
earlier still, before gunicorn; the import here serves gunicorn started any other way.) In
multi-model mode the master makes the registry its workers share (container.multimodel.registry),
imports every flavour's module, loads no model, and removes the registry when it exits. With
BYOM_METRICS_PORT set (not 0) the master makes the metrics' directory before it forks and answers
scrapes from a thread (container.metrics.exposition); each worker that exits is retired there
(`child_exit`), and counted as a restart unless the server is stopping.
"""

from __future__ import annotations

import gc
import importlib
import logging
import os
from typing import Any

from container.errors import StartupError
from container.flavours import EXPORT_MODULE, FLAVOURS, check_artifact, preload
from container.metrics.exposition import Exposition, metrics_directory
from container.multimodel.registry import Registry, server_directory
from container.script.locate import loads_its_own_model
from container.settings import Settings


def on_starting(server: Any) -> None:
    _log_through_gunicorn(server.log.error_log)
    # Everything imported or loaded here lives as long as the process: the collector's passes over
    # it while it is built find nothing to free, and took 0.1-0.2 s of the demo model's start.
    gc.disable()
    try:
        _import_and_preload()
    finally:
        gc.freeze()
        gc.enable()
    _start_metrics(server)


def _start_metrics(server: Any) -> None:
    try:
        settings = Settings.from_env(os.environ)
    except StartupError:
        return  # the workers report it
    if not settings.metrics_port:
        return
    try:
        exposition = Exposition(metrics_directory(os.getpid()), lambda: list(server.WORKERS))
    except OSError as error:  # no writable /dev/shm nor temp dir: serve, without metrics
        logging.getLogger("byom").warning(
            "metrics: no directory for them (%s); serving without /metrics", error
        )
        return
    exposition.serve(settings.host, settings.metrics_port)
    server.byom_metrics = exposition


def post_fork(server: Any, worker: Any) -> None:
    exposition = getattr(server, "byom_metrics", None)
    if exposition is not None:
        exposition.close_listener()


def child_exit(server: Any, worker: Any) -> None:
    exposition = getattr(server, "byom_metrics", None)
    if exposition is not None:
        exposition.retire(worker.pid, replaced=not getattr(server, "stopping", False))


def _import_and_preload() -> None:
    try:
        settings = Settings.from_env(os.environ)
        if settings.multi_model:
            Registry.create(server_directory(os.getpid()))
            libraries = dict.fromkeys([flavour.module for flavour in FLAVOURS.values()] + [EXPORT_MODULE])
            for module in [*libraries, "container.app"]:  # the libraries first: see import_skops_io
                importlib.import_module(module)
            importlib.import_module("container.flavours.estimator").import_skops_io()
            return
        if loads_its_own_model(settings):  # the inference script's model_fn, in each worker
            importlib.import_module("container.app")
            return
        # The model's library before the web app's (pandas): see estimator.import_skops_io.
        importlib.import_module(check_artifact(settings).module)
        importlib.import_module("container.app")
        preload(settings)
    except StartupError:
        pass  # the workers report it, with gunicorn's "app failed to load"


def on_exit(server: Any) -> None:
    Registry(server_directory(os.getpid())).remove()  # whether multi-model or not: a no-op without
    exposition = getattr(server, "byom_metrics", None)
    if exposition is not None:
        exposition.close()


def _log_through_gunicorn(error_log: logging.Logger) -> None:
    byom = logging.getLogger("byom")
    byom.handlers[:] = error_log.handlers
    byom.setLevel(error_log.level)
    byom.propagate = False
