"""`byom plan`'s own measurement: constant-rate steps, growing until one misses the SLO, then bisected.

Each step runs `step_seconds` at one rate; its first second is warm-up (new connections, a queue
left by the previous step) and the requests of the rest, taken together, must keep the SLO. Rates
grow by `growth` until a step fails twice in a row (or shrink by it until one passes, when the
first step already fails), then `refine` bisections narrow the gap. MAX_RPS is the served rate of
the best rate whose last two steps passed (see `_confirmed_best`). The steps' timelines are joined
into one, so the result reads like a load test; `steady_rows` leaves out the warm-up seconds, for
the latency curve.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from byom.errors import CommandError
from byom.measure import timeline
from byom.measure.loadspec import LoadSpec, Phase
from byom.measure.loadtest import run_load
from byom.measure.timeline import Second
from byom.plan.capacity import Slo, Sustained, max_sustained

RunStep = Callable[[float], list[Second]]
CLOSE_ENOUGH = 1.03  # rates this close are not bisected further while confirming


@dataclass
class Search:
    slo: Slo
    step_seconds: int = 5
    growth: float = 1.5
    refine: int = 3
    ceiling_rps: float = 20000.0
    max_steps_down: int = 4
    max_confirmations: int = 6
    rows: list[Second] = field(default_factory=list)
    steady_rows: list[Second] = field(default_factory=list)  # without each step's warm-up second
    steps: list[tuple[float, Sustained | None]] = field(default_factory=list)  # offered, what passed

    def run(self, start_rps: float, run_step: RunStep) -> Sustained | None:
        """The best passing step (None if the first step already fails): its served rate is MAX_RPS."""
        passing, failing = self._bracket(start_rps, run_step)
        if passing > 0 and failing is not None:
            for _ in range(self.refine):
                middle = (passing + failing) / 2
                if self._step(middle, run_step):
                    passing = middle
                else:
                    failing = middle
        return self._confirmed_best(run_step)

    def _confirmed_best(self, run_step: RunStep) -> Sustained | None:
        """The best rate whose last two steps passed, with the lower served rate of the two.

        On a shared machine a step can pass in a quiet moment above what the server sustains, so
        the best passing rate is run again. When that fails, the rate becomes a failing bound and
        the gap down to the next passing rate is bisected once more, so one refuted step lowers
        MAX_RPS by what the noise warrants and not by a whole growth factor."""
        for _ in range(self.max_confirmations):
            outcomes = {rate: self._outcomes(rate) for rate, _ in self.steps}
            passing = sorted(rate for rate, found in outcomes.items() if found[-1] is not None)
            if not passing:
                return None
            best = passing[-1]
            if len(outcomes[best]) >= 2 and outcomes[best][-2] is not None:
                return min((found for found in outcomes[best][-2:] if found), key=lambda found: found.rps)
            if not self._step(best, run_step) and len(passing) > 1 and best / passing[-2] > CLOSE_ENOUGH:
                self._step((passing[-2] + best) / 2, run_step)
        return None

    def _outcomes(self, rate: float) -> list[Sustained | None]:
        return [found for step, found in self.steps if step == rate]

    def _bracket(self, start_rps: float, run_step: RunStep) -> tuple[float, float | None]:
        """A passing rate and the failing one a growth factor above it (None: never failed)."""
        if not self._confirmed(start_rps, run_step):  # started past the knee: step down instead
            rate = start_rps
            for _ in range(self.max_steps_down):
                rate /= self.growth
                if self._step(rate, run_step):
                    return rate, rate * self.growth
            return 0.0, rate
        passing, rate = start_rps, start_rps * self.growth
        while rate <= self.ceiling_rps:
            if not self._confirmed(rate, run_step):
                return passing, rate
            passing, rate = rate, rate * self.growth
        return passing, None

    def _confirmed(self, rate: float, run_step: RunStep) -> bool:
        """A step of the bracketing phase, run again if it fails: one noisy step there would cap
        the whole search (in a bisection it costs only that step's share of the gap)."""
        return self._step(rate, run_step) or self._step(rate, run_step)

    def _step(self, rate: float, run_step: RunStep) -> bool:
        rows = run_step(rate)
        self.rows += [replace(row, second=len(self.rows) + i) for i, row in enumerate(rows)]
        steady = rows[1:]
        self.steady_rows += steady
        found = max_sustained(steady, replace(self.slo, window=len(steady)))
        self.steps.append((rate, found))
        return found is not None


def http_step_runner(arguments: argparse.Namespace, spec: LoadSpec, step_seconds: int) -> RunStep:
    """Runs one constant-rate step against the spec's target, with a pause to let queues drain."""

    def run_step(rate: float) -> list[Second]:
        step = replace(spec, phases=[Phase(float(step_seconds), rate)])
        outcomes = run_load(arguments, step)
        if outcomes.interrupted:
            raise CommandError(f"interrupted during the step at {rate:.1f} req/s")
        rows = timeline.build(outcomes, step.duration)
        time.sleep(0.5)
        return rows

    return run_step
