"""The Linux scheduling policy of a worker process: SCHED_BATCH, so that a thread woken up waits
for the running one to block instead of preempting it.

Owns: why the workers are not SCHED_OTHER. A request crosses two threads of a worker, and back:
the event loop reads it and hands it to a pool thread, which answers it and hands the connection
back. Under the default policy each hand-over wakes a thread that preempts the one holding the
GIL, only to find the GIL taken and sleep again: about three context switches per request at half
of the saturation rate, 0.7 under SCHED_BATCH. At that load the core does not stay busy long
enough for the hand-overs to batch up, and the server spent 5-15% more CPU per request than under
this policy (two interleaved A/B runs), its p99 growing with it. Under SCHED_BATCH a woken thread
runs when the current one blocks (here, almost always within the request it is serving), or else
once the current one has used its time slice, noticed at a scheduler tick: a long computation
holding the core delays a wake-up by about a tick (4 ms at HZ=250). No privilege is needed; where
the policy is unavailable (not Linux, or a seccomp profile refusing it) the worker keeps the
default and says so.
"""

from __future__ import annotations

import os


def prefer_run_to_block() -> str | None:
    """Switch the calling thread (and the threads it starts later) to SCHED_BATCH, keeping its nice
    value; None on success, else why not."""
    batch = getattr(os, "SCHED_BATCH", None)
    if batch is None:
        return "this platform has no SCHED_BATCH"
    try:
        os.sched_setscheduler(0, batch, os.sched_param(0))
    except OSError as error:
        return f"sched_setscheduler(SCHED_BATCH) failed: {error.strerror or error}"
    return None
