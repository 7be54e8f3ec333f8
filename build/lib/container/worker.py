"""The gunicorn worker class: gthread, plus a per-request timeout.

Why gthread: its spare threads answer /ping while other threads predict (XGBoost and
scikit-learn's tree code release the GIL), so the health check does not queue behind long
predictions the way it does with sync workers; and it keeps connections alive.

Why a subclass: gthread's main loop heartbeats every second whatever its threads are doing, so
gunicorn's `timeout` never stops a runaway request there. This worker remembers when each request
began and, once one has run longer than the timeout (SAGEMAKER_MODEL_SERVER_TIMEOUT), logs it and
exits; gunicorn starts a fresh worker, as it does for a timed-out sync worker.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from gunicorn.workers.gthread import ThreadWorker

TIMED_OUT_EXIT_CODE = 70


class TimeoutThreadWorker(ThreadWorker):  # type: ignore[misc]
    def init_process(self) -> None:
        self.request_started: dict[int, float] = {}
        super().init_process()

    def handle_request(self, req: Any, conn: Any) -> Any:
        thread = threading.get_ident()
        self.request_started[thread] = time.monotonic()
        try:
            return super().handle_request(req, conn)
        finally:
            self.request_started.pop(thread, None)

    def notify(self) -> None:
        super().notify()
        started = list(self.request_started.values())  # one C-level copy: safe beside other threads
        if started and time.monotonic() - min(started) > self.cfg.timeout:
            self.log.error(
                "a request ran longer than the %s s timeout; worker %s exits and is replaced",
                self.cfg.timeout,
                self.pid,
            )
            os._exit(TIMED_OUT_EXIT_CODE)
