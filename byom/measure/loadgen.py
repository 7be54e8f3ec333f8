"""The open-loop generator: fires each request at its scheduled time, whatever earlier ones do.

Each arrival becomes its own task the moment its time comes, so a slow server never delays the
schedule (no coordinated omission); latency is measured from the scheduled send time, so time spent
waiting for a connection or for the event loop counts against the server, as a user would see it.
A request past `timeout` seconds from its scheduled time is recorded as a timeout. Senders turn a
request index into a status code: `HttpSender` over keep-alive sockets, `SageMakerSender` through
boto3's sagemaker-runtime client in threads (botocore signs the requests).
"""

from __future__ import annotations

import asyncio
import resource
from array import array
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from byom.measure.http_client import Origin, Pool, encode_request
from byom.measure.loadspec import Request

STATUS_CONNECTION_ERROR = 0
STATUS_TIMEOUT = 1

Sender = Callable[[int], Awaitable[int]]


@dataclass
class Outcomes:
    """One entry per finished request: scheduled offset (s), latency from schedule (s), status."""

    scheduled: array[float] = field(default_factory=lambda: array("d"))
    latency: array[float] = field(default_factory=lambda: array("d"))
    status: array[int] = field(default_factory=lambda: array("i"))
    cpu_samples: list[tuple[float, float]] = field(default_factory=list)  # (elapsed s, cpu s)
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    interrupted: bool = False

    def add(self, scheduled: float, latency: float, status: int) -> None:
        self.scheduled.append(scheduled)
        self.latency.append(latency)
        self.status.append(status)


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

    async def run(self, times: Iterable[float]) -> Outcomes:
        """Every request of the schedule; on Ctrl-C (the task cancelled), what finished so far."""
        loop = asyncio.get_running_loop()
        self.start, cpu_start = loop.time() + 0.05, cpu_time()
        ticker = loop.create_task(self._tick(cpu_start))
        pending: set[asyncio.Task[None]] = set()
        try:
            for index, offset in enumerate(times):
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
            self.outcomes.wall_seconds = loop.time() - self.start
            self.outcomes.cpu_seconds = cpu_time() - cpu_start
        return self.outcomes

    async def _one(self, index: int, offset: float) -> None:
        scheduled = self.start + offset
        try:
            async with asyncio.timeout_at(scheduled + self.timeout), self.slots:
                status = await self.send(index)
        except TimeoutError:
            status = STATUS_TIMEOUT
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            status = STATUS_CONNECTION_ERROR
        self.outcomes.add(offset, asyncio.get_running_loop().time() - scheduled, status)

    async def _tick(self, cpu_start: float) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(1.0)
            elapsed = loop.time() - self.start
            self.outcomes.cpu_samples.append((elapsed, cpu_time() - cpu_start))
            if self.on_second is not None:
                self.on_second(self.outcomes, elapsed)
