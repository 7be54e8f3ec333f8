"""Traffic profiles for `byom simulate`: a rate in requests per second as a function of time.

A profile is a list of (second, rate) points joined by straight lines. The default is the seed's:
200 -> 600 req/s over the first hour, then 600 -> 800 over the second. A CSV gives the points
itself: a header naming the time column `second` or `minute`, then `rps` (or `rate`). A ramp is
START:END:DURATION. `byom simulate` replays a profile; `byom plan` prices serverless over one.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from byom.errors import CommandError
from byom.measure.loadspec import parse_duration, parse_rate

SEED_POINTS = ((0.0, 200.0), (3600.0, 600.0), (7200.0, 800.0))
_TIME_UNITS = {"second": 1.0, "seconds": 1.0, "minute": 60.0, "minutes": 60.0}


@dataclass(frozen=True)
class Profile:
    points: Sequence[tuple[float, float]]
    label: str = "a profile"

    @property
    def duration(self) -> float:
        return self.points[-1][0]

    def rates(self) -> np.ndarray:
        """The rate at each whole second from 0 to the end (exclusive)."""
        seconds, rates = np.array(self.points).T
        return np.asarray(np.interp(np.arange(int(self.duration)), seconds, rates))


def seed() -> Profile:
    return Profile(SEED_POINTS, "the seed's profile (200 -> 600 -> 800 req/s)")


def ramp(start_rps: float, end_rps: float, seconds: float) -> Profile:
    return Profile(
        ((0.0, start_rps), (seconds, end_rps)),
        f"a ramp {start_rps:g} -> {end_rps:g} req/s",
    )


def from_options(csv_path: Path | None, ramp_text: str | None, option: str = "--ramp") -> Profile:
    """A CSV's profile, else a START:END:DURATION ramp's, else the seed's."""
    if csv_path is not None:
        return from_csv(csv_path)
    if ramp_text is None:
        return seed()
    parts = ramp_text.split(":")
    if len(parts) != 3:
        raise CommandError(f"{option} {ramp_text!r}: expected START:END:DURATION")
    start, end = (parse_rate(part, option) for part in parts[:2])
    return ramp(start, end, parse_duration(parts[2], option))


def from_csv(path: Path) -> Profile:
    try:
        text = path.read_text()
    except OSError as error:
        raise CommandError(f"cannot read the profile {path}: {error.strerror}") from None
    return parse_csv(text, str(path))


def parse_csv(text: str, source: str) -> Profile:
    rows = list(csv.reader(io.StringIO(text)))
    header = [name.strip().lower() for name in rows[0]] if rows else []
    if len(header) != 2 or header[0] not in _TIME_UNITS or header[1] not in ("rps", "rate"):
        raise CommandError(f"profile {source}: the header must be `second,rps` or `minute,rps`")
    unit = _TIME_UNITS[header[0]]
    try:
        points = [(float(time) * unit, float(rate)) for time, rate in (row for row in rows[1:] if row)]
    except ValueError as error:
        raise CommandError(f"profile {source}: {error}") from None
    times = [time for time, _ in points]
    if len(points) < 2 or times[0] != 0 or any(b <= a for a, b in itertools.pairwise(times)):
        raise CommandError(f"profile {source}: needs at least two rows, starting at 0, times increasing")
    if any(rate < 0 for _, rate in points):
        raise CommandError(f"profile {source}: rates must be >= 0")
    return Profile(points, f"the profile {source}")
