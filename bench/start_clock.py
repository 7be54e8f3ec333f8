"""Run inside the image (its own python3, standard library only): start `serve`, time it to the
first 200 from GET /ping, stop it, print the seconds.

Usage: python3 start_clock.py PORT WORKERS, with bench/client.py beside it (the host's readiness
poll, which needs only the standard library). The clock starts just before `serve` is spawned, as
the host's clock does for ./serve, so Docker's own start-up is not in it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from client import wait_until_ready

DEADLINE_S = 120
SERVE = "/usr/local/bin/serve"  # where the Dockerfile puts it


def main(port: int, workers: str) -> None:
    environment = dict(os.environ, BYOM_HOST="127.0.0.1", SAGEMAKER_BIND_TO_PORT=str(port))
    environment["SAGEMAKER_MODEL_SERVER_WORKERS"] = workers
    started = time.monotonic()
    server = subprocess.Popen(
        [SERVE],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        print(f"{wait_until_ready(port, DEADLINE_S, [server]) - started:.4f}")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
