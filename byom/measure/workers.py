"""`byom loadtest --workers N`: one schedule sent by N generator processes, pooled into one result.

Each process (byom.measure.worker) is an open-loop generator like the single one, on its own
event loop and connections, sending every Nth arrival at exactly the time the whole schedule
gives it (loadspec.schedule); --connections and --max-in-flight are divided among them. All start
on one clock: once every process has opened its connections, each is given the same start time
on the monotonic clock, which every process on the machine reads alike. Their records are pooled
exactly (byom.measure.outcomes.merge), and each process's CPU and lateness stays in the result.

Processes are spawned, not forked: each starts from a fresh interpreter with none of the parent's
threads, locks or open sockets (a test's server, boto3's pools), and the same way on Linux and
macOS. Spawning costs a second or so of imports per process, all before the clock starts.

Control is the parent's alone. The processes are spawned with SIGINT ignored, and keep ignoring
it, so a terminal's Ctrl-C, which reaches the whole process group, interrupts only the parent,
which then tells each process to stop and keeps what each sends back. A process that fails sends
its reason; one that dies (a signal, the OOM killer) closes its pipe; either way the others are
stopped and the run fails with a CommandError naming the process and the cause.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import sys
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, Protocol

from byom.errors import CommandError
from byom.measure import latency_histogram
from byom.measure.outcomes import Outcomes, merge
from byom.measure.worker import Job, main

START_LEAD_SECONDS = 0.25  # from the start message to the first arrival: every process is waiting
STOP_GRACE_SECONDS = 5.0  # for a stopped process to send what finished, then it is terminated


class Display(Protocol):
    def show(self, elapsed: float, done: int, p99_ms: float, errors: int, total: int) -> None: ...


class Failed(Exception):
    """A generator process failed or died: `number` is from 1."""

    def __init__(self, number: int, reason: str) -> None:
        super().__init__(number, reason)
        self.number, self.reason = number, reason


def run(job: Job, display: Display | None = None) -> Outcomes:
    """The job's schedule sent by job.shares processes; on Ctrl-C, what each finished."""
    fleet = Fleet(job, display)
    try:
        return fleet.run()
    except Failed as failure:
        raise CommandError(
            f"generator process {failure.number} of {job.shares} {failure.reason}: the test is void"
            " (nothing written) and the other processes were stopped"
        ) from None
    finally:
        fleet.close()


class Fleet:
    """The processes of one run, the parent's end of each one's pipe, and what each has sent."""

    def __init__(self, job: Job, display: Display | None) -> None:
        self.job, self.display = job, display
        self.processes: list[BaseProcess] = []
        self.pipes: list[Connection] = []
        self.results: dict[int, Outcomes] = {}
        self.ticks = Ticks(job.shares)

    def run(self) -> Outcomes:
        try:
            self.spawn()
            self.gather("ready")
            self.ticks.start = time.monotonic() + START_LEAD_SECONDS
            self.tell(("start", self.ticks.start))
            self.gather("done")
            return merge([self.results[k] for k in range(self.job.shares)])
        except KeyboardInterrupt:
            return self.stop()

    def spawn(self) -> None:
        context = multiprocessing.get_context("spawn")
        for share in range(self.job.shares):
            ours, theirs = context.Pipe()
            job = self.job.for_process(share)
            process = context.Process(target=main, args=(job, theirs), name=f"byom-generator-{share + 1}")
            process.daemon = True  # ended with the parent, whatever happens to it
            with sigint_ignored():
                process.start()
            theirs.close()
            self.processes.append(process)
            self.pipes.append(ours)

    def stop(self) -> Outcomes:
        """After Ctrl-C: every process told to stop; what those that answer in time finished."""
        self.tell(("stop",))
        self.gather("done", deadline=time.monotonic() + STOP_GRACE_SECONDS, strict=False)
        return merge([self.results[k] for k in sorted(self.results)], interrupted=True)

    def tell(self, message: tuple[Any, ...]) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError):
                pipe.send(message)

    def gather(self, kind: str, deadline: float | None = None, strict: bool = True) -> None:
        """Read messages until every process has sent `kind`, failed, or the deadline passed.
        A process that fails or dies fails the run (Failed) when `strict`, else is reported."""
        waiting = set(range(len(self.pipes))) - set(self.results)
        while waiting and (deadline is None or time.monotonic() < deadline):
            for number, message in self.receive(waiting, deadline):
                if message[0] in (kind, "failed", "lost"):
                    waiting.discard(number)
                self.handle(number, message, strict)

    def receive(self, waiting: set[int], deadline: float | None) -> Iterator[tuple[int, tuple[Any, ...]]]:
        timeout = None if deadline is None else max(deadline - time.monotonic(), 0.0)
        ready = wait([self.pipes[k] for k in waiting], timeout)
        for number in sorted(k for k in waiting if self.pipes[k] in ready):
            try:
                yield number, self.pipes[number].recv()
            except Exception as error:  # EOF: it died; anything else: its pipe was cut mid-message
                yield number, ("lost", self.death(number) if isinstance(error, EOFError) else str(error))

    def handle(self, number: int, message: tuple[Any, ...], strict: bool) -> None:
        if message[0] in ("failed", "lost"):
            reason = f"failed: {message[1]}" if message[0] == "failed" else message[1]
            if strict:
                raise Failed(number + 1, reason)
            warn(f"generator process {number + 1} of {self.job.shares} {reason}: its requests are left out")
        elif message[0] == "done":
            self.results[number] = message[1]
        elif message[0] == "tick" and self.display is not None and self.ticks.add(number, *message[1:]):
            self.ticks.show(self.display)

    def death(self, number: int) -> str:
        process = self.processes[number]
        process.join(1.0)
        code = process.exitcode
        if code is not None and code < 0:
            return f"was killed by {signal.Signals(-code).name}"
        return f"ended without its results (exit status {code})"

    def close(self) -> None:
        """No process outlives the run: a running one sees its pipe close and stops, or is ended."""
        for pipe in self.pipes:
            pipe.close()
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for process in self.processes:
            process.join(max(deadline - time.monotonic(), 0.0))
            for end in (process.terminate, process.kill):
                if process.is_alive():
                    end()
                    process.join(1.0)


class Ticks:
    """The processes' once-a-second counts, pooled for the progress line (histograms add exactly),
    shown once every process has sent its count for the second."""

    def __init__(self, shares: int) -> None:
        self.shares, self.start, self.total = shares, 0.0, 0
        self.reset()

    def reset(self) -> None:
        self.waiting, self.done, self.errors = set(range(self.shares)), 0, 0
        self.histograms: list[latency_histogram.Sparse] = []

    def add(self, number: int, done: int, errors: int, histogram: latency_histogram.Sparse) -> bool:
        """Adds one process's count; True when the second is complete."""
        self.done, self.errors, self.total = self.done + done, self.errors + errors, self.total + done
        self.histograms.append(histogram)
        self.waiting.discard(number)
        return not self.waiting

    def show(self, display: Display) -> None:
        counts = latency_histogram.dense(self.histograms).sum(axis=0)
        p99 = float(latency_histogram.percentiles(counts, 99)) if self.done else 0.0
        display.show(time.monotonic() - self.start, self.done, p99, self.errors, self.total)
        self.reset()


@contextlib.contextmanager
def sigint_ignored() -> Iterator[None]:
    """SIGINT ignored while a process is spawned: it starts ignoring it, and so does its Python
    (which leaves an ignored SIGINT alone). Blocking it instead would not do: spawning starts
    multiprocessing's resource tracker, which unblocks SIGINT on its way. A Ctrl-C in these few
    milliseconds is lost; press it again."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def warn(text: str) -> None:
    print(f"byom loadtest: {text}", file=sys.stderr)
