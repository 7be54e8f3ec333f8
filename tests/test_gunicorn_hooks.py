"""The master's start-up hook: it leaves the garbage collector on (and its objects frozen out of
it) whatever loading the model does, and routes the server's log through gunicorn's."""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from container.server import gunicorn_hooks
from tests.helpers.harness import DEMO_MODEL


@pytest.fixture(autouse=True)
def restored() -> Iterator[None]:
    byom = logging.getLogger("byom")
    handlers, level, propagate = list(byom.handlers), byom.level, byom.propagate
    yield
    gc.unfreeze()  # on_starting freezes what this test process holds
    gc.enable()
    byom.handlers[:], byom.level, byom.propagate = handlers, level, propagate


def starting(monkeypatch: pytest.MonkeyPatch, model_dir: Path) -> None:
    monkeypatch.setenv("SM_MODEL_DIR", str(model_dir))
    error_log = logging.getLogger("test-gunicorn-error")
    error_log.setLevel(logging.WARNING)
    gunicorn_hooks.on_starting(SimpleNamespace(log=SimpleNamespace(error_log=error_log)))


def test_the_collector_is_on_and_the_masters_objects_frozen_after_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    starting(monkeypatch, DEMO_MODEL)
    assert gc.isenabled() and gc.get_freeze_count() > 0
    assert logging.getLogger("byom").level == logging.WARNING


@pytest.mark.parametrize("failure", ["no model", "unexpected error"])
def test_the_collector_is_on_after_a_start_that_failed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, failure: str
) -> None:
    if failure == "unexpected error":
        monkeypatch.setattr(gunicorn_hooks, "preload", lambda settings: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            starting(monkeypatch, DEMO_MODEL)
    else:
        starting(monkeypatch, tmp_path)  # an empty directory: the workers report it
    assert gc.isenabled()
