"""When a worker's event loop answers a small request itself instead of handing it to a thread.

Owns: the rule, and why. A request handed to gthread's pool crosses threads three times: the
event loop wakes for it and submits it, a pool thread wakes to answer it, and the event loop wakes
again to put the connection back in its poller. Answered by the event loop itself, it crosses
none. Measured with one core and 3 workers, in interleaved rounds against the pool (CPU is the
server's, per request, under an open-loop load at a fixed rate):
- iris, 1 row, 1,000 req/s: 613-646 us and 3.1-3.6 context switches with the pool; 532-595 us
  and 0.8-0.9 answered here.
- XGBoost (200 trees), 1 row, 1,000 req/s: 669-760 us against 585-628 us.
- XGBoost, 100 rows, 500 req/s: 1,830-1,890 us against 1,165-1,335 us; at saturation 662-713
  against 761-816 req/s.

The price is that the event loop does nothing else meanwhile: no /ping, no reading of other
connections. So it only answers requests that are both small (SMALL_REQUEST, the size that is
always read at once) and known to be quick: a pool thread must first have answered a small
request within QUICK_SECONDS of CPU time. Any small request, wherever it ran, found to take
longer sends the next ones to the pool for a pause that doubles with each slow one in a row
(PAUSES): a model whose small requests are slow is tried on the event loop at most twice per
pause (see below), and not at all while they keep coming slow. /ping's cost says nothing about
the model's and is not counted. A multi-model endpoint's model loads and unloads (`/models`,
`/models/NAME`) load or free whole models: never here, and never counted; its invokes are requests
like any other.

Requests are timed by the wall clock, and only a doubtful one has the next one's CPU time read.
Reading a thread's CPU time is a system call in which the kernel brings the thread's run time up
to date, and preempts it there when its slice is used up: in the middle of a request. Read at
both ends of every request, it took 0.25 involuntary context switches per iris request at
saturation; now 0.08, and iris went from 2,784-2,823 to 2,846-2,863 req/s, one XGBoost row from
2,642-2,660 to 2,796-2,851 (alternating rounds, 3 workers on one core). A request done within
QUICK_SECONDS of wall time was quick in CPU time too. One that took longer may have been slow or
may only have waited for the core, as happens at saturation: the next small request's CPU time
says which, wherever it runs (sending it to the pool while in doubt cost more than it saved). So
a model whose small requests are slow holds the event loop for at most two of them per pause,
where reading CPU time throughout held it for one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from container.server.read_ahead import SMALL_REQUEST

# CPU time (and wall time within which a request was quick for sure). Others wait on the loop at
# most about this long behind one request. Of 8,000 single-row iris requests at 1,000 req/s, 4
# took over 1 ms, the slowest 1.5 ms.
QUICK_SECONDS = 0.005
PAUSES = (1.0, 300.0)  # seconds: the first pause after a slow request, and the longest
PING = "/ping"
MODELS = "/models"


class InlinePolicy:
    """One per worker. `resume_at`, `pause` and `doubtful` are each written whole, by the event
    loop and by pool threads; a race can only pick between two verdicts that were both true a
    moment apart."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.resume_at = math.inf  # until a small request has been seen to be quick
        self.pause = PAUSES[0]
        self.doubtful = False  # a request took longer than QUICK_SECONDS of wall time: time the next

    def allows(self, request_bytes: int, path: str = "") -> bool:
        """Whether the event loop answers a plain request itself. /ping always: it costs the
        same whatever the model, and a pool busy with slow predictions must not delay it."""
        if request_bytes >= SMALL_REQUEST or _manages_models(path):
            return False
        return path == PING or self.clock() >= self.resume_at

    def wants_cpu_time(self) -> bool:
        """Whether the next counted request is timed in CPU time (observe) rather than by the
        wall clock (observe_wall)."""
        return self.doubtful

    def counts(self, request_bytes: int, path: str) -> bool:
        """Whether a request's cost says something about the next small ones'."""
        return request_bytes < SMALL_REQUEST and path != PING and not _manages_models(path)

    def observe_wall(self, seconds: float) -> None:
        """Record a counted request's wall time: within QUICK_SECONDS it was quick; beyond, it
        is doubtful until a CPU-timed request decides."""
        if seconds > QUICK_SECONDS:
            self.doubtful = True
        else:
            self._quick()

    def observe(self, cpu_seconds: float) -> None:
        """Record what a counted request cost in CPU time, wherever it ran."""
        self.doubtful = False
        if cpu_seconds <= QUICK_SECONDS:
            self._quick()
            return
        self.resume_at = max(self.resume_at, self.clock() + self.pause)  # never shortened
        self.pause = min(2 * self.pause, PAUSES[1])

    def _quick(self) -> None:
        self.pause = PAUSES[0]
        if self.resume_at == math.inf:
            self.resume_at = self.clock()


def _manages_models(path: str) -> bool:
    return path.startswith(MODELS) and not path.endswith("/invoke")
