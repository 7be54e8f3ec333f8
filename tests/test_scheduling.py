"""container.server.scheduling: the worker's switch to SCHED_BATCH, and why it can be refused."""

from __future__ import annotations

import errno
import os
import threading

import pytest

from container.server import scheduling


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="SCHED_BATCH is Linux's")
def test_the_calling_thread_and_the_threads_it_starts_switch_to_batch() -> None:
    found: dict[str, int] = {}

    def switch_then_start() -> None:  # on its own thread: the test process keeps its policy
        found["refused"] = scheduling.prefer_run_to_block() is not None
        found["own"] = os.sched_getscheduler(0)
        child = threading.Thread(target=lambda: found.update(child=os.sched_getscheduler(0)))
        child.start()
        child.join()

    before = os.sched_getscheduler(0)
    thread = threading.Thread(target=switch_then_start)
    thread.start()
    thread.join()
    assert found == {"refused": False, "own": os.SCHED_BATCH, "child": os.SCHED_BATCH}
    assert os.sched_getscheduler(0) == before


def test_a_refusal_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "SCHED_BATCH", 3, raising=False)
    monkeypatch.setattr(os, "sched_setscheduler", refuse, raising=False)
    assert (
        scheduling.prefer_run_to_block() == "sched_setscheduler(SCHED_BATCH) failed: Operation not permitted"
    )


def test_a_platform_without_the_policy_keeps_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "SCHED_BATCH", raising=False)
    assert scheduling.prefer_run_to_block() == "this platform has no SCHED_BATCH"
