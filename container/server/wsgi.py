"""gunicorn's entry point: `container.server.wsgi:application()`, called once in each worker after fork.

Owns: turning a startup failure into gunicorn's "app failed to load" path, so the server prints
the one-line reason and stops (exit code 4) instead of respawning workers that cannot load.
"""

from __future__ import annotations

import os

from gunicorn.errors import AppImportError

from container.access_log import AccessLog
from container.app import create_app
from container.errors import StartupError
from container.multimodel.registry import Registry
from container.settings import Settings


def application() -> AccessLog:
    """The worker's app; in multi-model mode it joins the registry its master made (gunicorn_hooks)."""
    try:
        settings = Settings.from_env(os.environ)
        registry = Registry.of_server(os.getppid()) if settings.multi_model else None
        return create_app(settings, registry=registry)
    except StartupError as error:
        raise AppImportError(f"byom: cannot serve: {error.message}") from None
