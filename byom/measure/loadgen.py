"""The open-loop generator: fires each request at its scheduled time, whatever earlier ones do.

Each arrival becomes its own task the moment its time comes, so a slow server never delays the
schedule (no coordinated omission); latency is measured from the scheduled send time, so time spent
waiting for a connection or for the event loop counts against the server, as a user would see it.
A request past `timeout` seconds from its scheduled time is recorded as a timeout. Senders turn a
request index into a status code: `HttpSender` over keep-alive sockets, `SageMakerSender` through
boto3's sagemaker-runtime client in threads (botocore signs the requests). The generator also
notes how late it started each request and its own CPU time (byom.measure.outcomes.ProcessUsage):
a generator that falls behind its schedule charges the server with delays it did not cause.
"""

from __future__ import annotations

import asyncio
import resource
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from byom.measure.http_client import Origin, Pool, encode_request
from byom.measure.loadspec import Request
from byom.measure.outcomes import LATE_SECONDS, Outcomes, ProcessUsage

STATUS_CONNECTION_ERROR = 0
STATUS_TIMEOUT = 1

Sender = Callable[[int], Awaitable[int]]


def cpu_time() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class HttpSender:
    def __init__(self, origin: Origin, requests: Sequence[Request]) -> None:
        self.pool = Pool(origin)
        self.payloads = [encode_request(origin, request) for request in requests]

    async def prepare(self, connections: int) -> None:
        await self.pool.warm(connections)

    async def __call__(self, index: int) -> int:
        payload = self.payloads[index % len(self.payloads)]
        pooled = bool(self.pool.idle)  # acquire takes from the pool without yielding first
        connection = await self.pool.acquire()
        try:
            try:
                status = await connection.exchange(payload)
            except (asyncio.IncompleteReadError, ConnectionResetError, BrokenPipeError):
                if not pooled:
                    raise
                # An idle connection the server closed (its keep-alive timeout): retry once, afresh.
                connection.close()
                connection = await self.pool.open()
                status = await connection.exchange(payload)
        except BaseException:
            connection.close()
            raise
        self.pool.release(connection)
        return status

    def close(self) -> None:
        self.pool.close()


class SageMakerSender:
    """invoke_endpoint in a thread pool; a ClientError's HTTP status is the request's status."""

    def __init__(self, client: Any, endpoint: str, requests: Sequence[Request], threads: int) -> None:
        self.client, self.endpoint, self.requests = client, endpoint, requests
        self.executor = ThreadPoolExecutor(threads, thread_name_prefix="byom-invoke")

    async def prepare(self, connections: int) -> None:
        """Nothing to open ahead: botocore's pool opens its connections on first use."""

    async def __call__(self, index: int) -> int:
        request = self.requests[index % len(self.requests)]
        return await asyncio.get_running_loop().run_in_executor(self.executor, self.invoke, request)

    def invoke(self, request: Request) -> int:
        from botocore.exceptions import BotoCoreError, ClientError

        headers = {name.lower(): value for name, value in request.headers.items()}
        arguments = {"EndpointName": self.endpoint, "Body": request.body}
        for header, argument in _SAGEMAKER_HEADERS.items():
            if header in headers:
                arguments[argument] = headers[header]
        try:
            self.client.invoke_endpoint(**arguments)["Body"].read()
        except ClientError as error:
            return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        except BotoCoreError:  # no connection, a read timeout: no HTTP status came back
            return STATUS_CONNECTION_ERROR
        return 200

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


_SAGEMAKER_HEADERS = {
    "content-type": "ContentType",
    "accept": "Accept",
    "x-amzn-sagemaker-custom-attributes": "CustomAttributes",
    "x-amzn-sagemaker-target-variant": "TargetVariant",
    "x-amzn-sagemaker-inference-id": "InferenceId",
}


class Generator:
    """Runs one schedule against one sender; `on_second` is called about once a second."""

    def __init__(
        self,
        send: Sender,
        timeout: float,
        max_in_flight: int,
        on_second: Callable[[Outcomes, float], None] | None = None,
    ) -> None:
        self.send, self.timeout = send, timeout
        self.slots = asyncio.Semaphore(max_in_flight)
        self.on_second = on_second
        self.outcomes = Outcomes()
        self.late, self.max_lag = 0, 0.0

    async def run(self, schedule: Iterable[tuple[int, float]], start: float | None = None) -> Outcomes:
        """Every (request index, offset in s) of the schedule, from `start` on the loop's clock
        (time.monotonic, so processes can share one; default: now); on Ctrl-C (the task
        cancelled), what finished so far."""
        loop = asyncio.get_running_loop()
        self.start, cpu_start = loop.time() + 0.05 if start is None else start, cpu_time()
        ticker = loop.create_task(self._tick(cpu_start))
        pending: set[asyncio.Task[None]] = set()
        try:
            for index, offset in schedule:
                delay = self.start + offset - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                task = loop.create_task(self._one(index, offset))
                pending.add(task)
                task.add_done_callback(pending.discard)
            if pending:
                await asyncio.wait(pending)
        except asyncio.CancelledError:
            for task in pending:
                task.cancel()
            self.outcomes.interrupted = True
        finally:
            ticker.cancel()
            self._account(max(loop.time() - self.start, 0.0), cpu_time() - cpu_start)  # < 0 if stopped before
        return self.outcomes

    async def _one(self, index: int, offset: float) -> None:
        scheduled = self.start + offset
        lag = asyncio.get_running_loop().time() - scheduled  # how late this process got to it
        if lag > LATE_SECONDS:
            self.late += 1
        self.max_lag = max(self.max_lag, lag)
        try:
            async with asyncio.timeout_at(scheduled + self.timeout), self.slots:
                status = await self.send(index)
        except TimeoutError:
            status = STATUS_TIMEOUT
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            status = STATUS_CONNECTION_ERROR
        self.outcomes.add(offset, asyncio.get_running_loop().time() - scheduled, status)

    def _account(self, wall: float, cpu: float) -> None:
        self.outcomes.wall_seconds, self.outcomes.cpu_seconds = wall, cpu
        requests = len(self.outcomes.status)
        self.outcomes.processes = [ProcessUsage(requests, cpu, wall, self.late, max(self.max_lag, 0.0))]

    async def _tick(self, cpu_start: float) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(1.0)
            elapsed = loop.time() - self.start
            self.outcomes.cpu_samples.append((elapsed, cpu_time() - cpu_start))
            if self.on_second is not None:
                self.on_second(self.outcomes, elapsed)
