"""gunicorn server hooks, loaded with `-c python:container.gunicorn_hooks`.

Owns: what the master does before it forks workers. It imports the web app and the library of
the model directory's flavour (scikit-learn, XGBoost), so every worker starts from a fork that
already has them instead of importing them itself: on one core, three workers each importing
scikit-learn took 6.3 s to the first /ping. A scikit-learn model is also loaded here, so workers
share its memory; nothing is predicted before fork (XGBoost's OpenMP must not start in the
master), and each worker replays the golden rows itself. Then the master's objects are frozen
out of the garbage collector, whose bookkeeping writes would otherwise copy their pages into
every worker. The server's own log ("byom") is routed through gunicorn's error log first, so its
lines share gunicorn's format and its --log-level.
"""

from __future__ import annotations

import gc
import importlib
import logging
import os
from typing import Any

from container.errors import StartupError
from container.flavours import FLAVOUR_MODULES, check_artifact, preload
from container.settings import Settings


def on_starting(server: Any) -> None:
    _log_through_gunicorn(server.log.error_log)
    importlib.import_module("container.app")
    try:
        settings = Settings.from_env(os.environ)
        importlib.import_module(FLAVOUR_MODULES[check_artifact(settings).flavour])
        preload(settings)
    except StartupError:
        pass  # the workers report it, with gunicorn's "app failed to load"
    gc.freeze()


def _log_through_gunicorn(error_log: logging.Logger) -> None:
    byom = logging.getLogger("byom")
    byom.handlers[:] = error_log.handlers
    byom.setLevel(error_log.level)
    byom.propagate = False
