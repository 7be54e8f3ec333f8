"""`python -m container.server.gunicorn_main`: gunicorn's own command line, with its arbiter's stop
extended.

Owns: the arbiter class gunicorn runs. Stopping, it first refuses new handshakes on its listeners
(container/server/listener.py): the filter is shared by every process holding the socket, so the
arbiter, the one that stops them all, sets it, and a worker stopping alone never does. And when
workers cannot load the app, the first one's exit code 4 makes the arbiter halt; while halting it
reaps the other workers, which failed the same way, and gunicorn 27 raises HaltServer again from
inside its halt, so the server died with a traceback and exit code 1 instead of its one-line
reason and exit code 4 (seen in about half the starts on a busy machine). Here a second
HaltServer while stopping is the same news, already reported, and is dropped.
"""

from __future__ import annotations

import gunicorn.app.base
import gunicorn.arbiter
from gunicorn.app.wsgiapp import run
from gunicorn.errors import HaltServer

from container.server.listener import refuse_new_handshakes


class Arbiter(gunicorn.arbiter.Arbiter):  # type: ignore[misc]
    stopping = False

    def stop(self, graceful: bool = True) -> None:
        self.stopping = True
        for listener in self.LISTENERS:  # before gunicorn closes them and signals the workers
            refuse_new_handshakes(listener)
        super().stop(graceful)

    def reap_workers(self) -> None:
        try:
            super().reap_workers()
        except HaltServer:
            if not self.stopping:
                raise


def main() -> None:
    gunicorn.app.base.Arbiter = Arbiter  # BaseApplication.run() looks the class up in this module
    run(prog="gunicorn")


if __name__ == "__main__":
    main()
