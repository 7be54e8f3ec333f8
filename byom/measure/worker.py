"""One generator process of `byom loadtest --workers N`: its share of the schedule, on its own connections.

`main` runs in a process byom.measure.workers spawned. It opens its keep-alive connections, says
("ready",), waits for ("start", t) with t on the monotonic clock every process shares, sends its
share of the arrivals (loadspec.schedule) open-loop from t, and answers ("done", Outcomes). With
`ticks`, it also sends ("tick", done, errors, histogram) about once a second for the progress line.
On ("stop",), or when the pipe closes because the parent is gone, it stops and sends what finished.
Any failure goes back as ("failed", reason). Ctrl-C is ignored here: it is the parent's to act on.
It knows nothing of the other processes or of the result files.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import traceback
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection

import numpy as np

from byom.errors import CommandError
from byom.measure import latency_histogram
from byom.measure.http_client import Origin
from byom.measure.loadgen import Generator, HttpSender
from byom.measure.loadspec import Phase, Request, schedule
from byom.measure.outcomes import Outcomes


@dataclass(frozen=True)
class Job:
    """What every process is given; `share` is this one's (from 0) of `shares`."""

    target: str
    requests: tuple[Request, ...]
    phases: tuple[Phase, ...]
    timeout: float
    max_in_flight: int  # for all the processes together, as --max-in-flight and --connections
    connections: int
    shares: int
    share: int = 0
    ticks: bool = False

    def for_process(self, share: int) -> Job:
        """Process `share`'s job: its part of the in-flight cap and of the connections."""
        in_flight, connections = (
            _part(total, share, self.shares) for total in (self.max_in_flight, self.connections)
        )
        return replace(self, share=share, max_in_flight=in_flight, connections=connections)


def _part(total: int, share: int, shares: int) -> int:
    """Share `share`'s part of `total` divided as evenly as integers allow (the parts add up to it)."""
    return total // shares + (share < total % shares)


def main(job: Job, pipe: Connection) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as spawned: the parent, Ctrl-C's only reader, says stop
    try:
        message: tuple[object, ...] = ("done", asyncio.run(_work(job, pipe)))
    except asyncio.CancelledError:  # stopped before the start
        message = ("done", Outcomes(interrupted=True))
    except Exception as error:
        message = ("failed", _reason(error))
    with contextlib.suppress(OSError):  # the parent is gone: no one to tell
        pipe.send(message)


async def _work(job: Job, pipe: Connection) -> Outcomes:
    control = Control(pipe)
    sender = HttpSender(Origin.parse(job.target), job.requests)
    try:
        await sender.prepare(job.connections)
        pipe.send(("ready",))
        start = await control.started
        generator = Generator(sender, job.timeout, job.max_in_flight, Ticker(pipe) if job.ticks else None)
        return await generator.run(schedule(job.phases, job.share, job.shares), start)
    finally:
        control.close()
        sender.close()


class Control:
    """The parent's messages, read as they come: the start time, and stop (or the pipe closing)."""

    def __init__(self, pipe: Connection) -> None:
        self.pipe, self.task = pipe, asyncio.current_task()
        self.loop = asyncio.get_running_loop()
        self.started: asyncio.Future[float] = self.loop.create_future()
        self.loop.add_reader(pipe.fileno(), self.read)

    def read(self) -> None:
        try:
            message = self.pipe.recv()
        except (EOFError, OSError):
            message = ("stop",)
        if message[0] == "start" and not self.started.done():
            self.started.set_result(message[1])
        elif message[0] == "stop" and self.task is not None:
            self.loop.remove_reader(self.pipe.fileno())
            self.task.cancel()

    def close(self) -> None:
        self.loop.remove_reader(self.pipe.fileno())


class Ticker:
    """About once a second: the requests finished since the last tick, for the parent's progress line."""

    def __init__(self, pipe: Connection) -> None:
        self.pipe, self.seen = pipe, 0

    def __call__(self, outcomes: Outcomes, elapsed: float) -> None:
        latency_ms = np.frombuffer(outcomes.latency, dtype=np.float64)[self.seen :] * 1000
        status = np.frombuffer(outcomes.status, dtype=np.int32)[self.seen :]
        self.seen += latency_ms.size
        errors = int(((status < 200) | (status >= 300)).sum())
        self.pipe.send(("tick", latency_ms.size, errors, latency_histogram.of(latency_ms)))


def _reason(error: Exception) -> str:
    """One line for the parent; a traceback on stderr too when it is not a failure we expect."""
    if isinstance(error, CommandError):
        return str(error)
    if isinstance(error, OSError):
        return f"{error.strerror or error}"
    traceback.print_exception(error, file=sys.stderr)
    return f"{type(error).__name__}: {error}"
