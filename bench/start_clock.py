"""Run inside the image (its own python3, standard library only): start `serve`, time it to the
first 200 from GET /ping, stop it, print the seconds.

Usage: python3 start_clock.py PORT WORKERS. The clock starts just before `serve` is spawned, as the
host's clock does for ./serve, so Docker's own start-up is not in it. Polls one connection at a
time, a new one 5 ms after each failure.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time

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
        while not _ready(port):
            if server.poll() is not None or time.monotonic() - started > DEADLINE_S:
                sys.exit(
                    f"serve exited with {server.returncode} or missed the deadline before /ping answered"
                )
            time.sleep(0.005)
        print(f"{time.monotonic() - started:.4f}")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


def _ready(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=DEADLINE_S)
    try:
        connection.request("GET", "/ping")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
