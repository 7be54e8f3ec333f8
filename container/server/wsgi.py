"""gunicorn's entry point: `container.server.wsgi:application()`, called once in each worker after fork.

Owns: turning a startup failure into gunicorn's "app failed to load" path, so the server prints
the one-line reason and stops (exit code 4) instead of respawning workers that cannot load; and,
when the master keeps metrics (container.metrics.exposition), the worker's instruments, told of
each load and request.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from gunicorn.errors import AppImportError

from container.app import create_app
from container.errors import StartupError
from container.metrics.exposition import metrics_directory
from container.multimodel.registry import Registry
from container.settings import Settings

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def application() -> WSGIApp:
    """The worker's app; in multi-model mode it joins the registry its master made (gunicorn_hooks)."""
    try:
        settings = Settings.from_env(os.environ)
        registry = Registry.of_server(os.getppid()) if settings.multi_model else None
        instruments = worker_instruments(settings)
        app = create_app(settings, registry=registry, events=instruments, observer=instruments)
    except StartupError as error:
        raise AppImportError(f"byom: cannot serve: {error.message}") from None
    if instruments is not None and not settings.multi_model:
        instruments.held(1)
    return app


def worker_instruments(settings: Settings) -> Any:
    """This worker's metrics, or None: metrics off, or a master that keeps none (gunicorn started
    without this project's hooks)."""
    if not settings.metrics_port or not metrics_directory(os.getppid()).is_dir():
        return None
    from container.metrics.instruments import Instruments

    return Instruments(metrics_directory(os.getppid()))
