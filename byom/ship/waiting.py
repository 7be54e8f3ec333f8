"""Waiting for an endpoint to settle, with progress on stdout.

Owns the polling loop: a line whenever the status changes and once a minute while it does not,
success on InService, a CommandError carrying SageMaker's FailureReason on Failed, and one on
timeout. Time and sleep are parameters so tests need not wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from byom.errors import CommandError
from byom.shared.aws import Aws

POLL_SECONDS = 15.0
PROGRESS_EVERY = 60.0


def wait_in_service(
    aws: Aws,
    endpoint: str,
    timeout: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    start = last_line = clock()
    shown = ""
    while True:
        described = aws.read("sagemaker", "describe_endpoint", EndpointName=endpoint)
        status = str(described.get("EndpointStatus"))
        elapsed = clock() - start
        if status != shown or clock() - last_line >= PROGRESS_EVERY:
            print(f"endpoint {endpoint}: {status} ({elapsed:.0f} s)", flush=True, file=aws.out)
            shown, last_line = status, clock()
        if status == "InService":
            return
        if status == "Failed":
            raise CommandError(
                f"endpoint {endpoint} failed: {described.get('FailureReason', 'no reason given')}"
            )
        if elapsed >= timeout:
            raise CommandError(
                f"endpoint {endpoint} still {status} after {timeout:.0f} s; `byom status` follows it"
            )
        sleep(POLL_SECONDS)
