"""gunicorn server hooks, loaded with `-c python:container.gunicorn_hooks`.

Owns: what the master does before it forks workers. It imports the web app and the library of
the model directory's flavour (scikit-learn, XGBoost), so every worker starts from a fork that
already has them instead of importing them itself: on one core, three workers each importing
scikit-learn took 6.3 s to the first /ping. It imports only: the model is loaded, and anything is
predicted, in each worker after fork (XGBoost's OpenMP must not start in the master).
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from container.errors import StartupError
from container.flavours import FLAVOUR_MODULES, check_artifact
from container.settings import Settings


def on_starting(server: Any) -> None:
    importlib.import_module("container.app")
    try:
        flavour = check_artifact(Settings.from_env(os.environ)).flavour
    except StartupError:
        return  # the workers report it, with gunicorn's "app failed to load"
    importlib.import_module(FLAVOUR_MODULES[flavour])
