"""PNG figures for the CLI: a load test's timeline, and a simulation's BEFORE vs AFTER.

Drawn with matplotlib's object API on the Agg canvas (no pyplot, no display, no global state), in
the spirit of CloudWatch's graphs: one panel per metric, time along the bottom.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from byom.measure.timeline import Second
    from byom.plan.fleet import Minute


def _figure(rows: int, columns: int, title: str) -> tuple[Figure, list[list[Axes]]]:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.5 * columns, 2.4 * rows), dpi=100, layout="constrained")
    axes = figure.subplots(rows, columns, sharex=True, squeeze=False)
    figure.suptitle(title)
    return figure, [list(row) for row in axes]


def _save(figure: Figure, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)  # attaches the Agg canvas, so savefig needs no pyplot backend
    figure.savefig(path, format="png")


def loadtest_figure(rows: Sequence[Second], title: str) -> Figure:
    figure, axes = _figure(3, 1, title)
    seconds = [row.second for row in rows]
    rate, latency, errors = (column[0] for column in axes)
    rate.plot(seconds, [row.offered for row in rows], label="offered", color="tab:gray", linestyle="--")
    rate.plot(seconds, [row.achieved for row in rows], label="achieved (2xx)", color="tab:blue")
    rate.set_ylabel("requests/s")
    for name, color in (("p50_ms", "tab:green"), ("p95_ms", "tab:orange"), ("p99_ms", "tab:red")):
        latency.plot(seconds, [getattr(row, name) for row in rows], label=name[:3], color=color)
    latency.set_ylabel("latency (ms)")
    latency.set_yscale("symlog", linthresh=10)
    for code in sorted({code for row in rows for code in row.errors}):
        errors.plot(seconds, [row.errors.get(code, 0) for row in rows], label=code)
    errors.set_ylabel("errors/s")
    errors.set_xlabel("seconds from start (by scheduled send time)")
    for axis in (rate, latency, errors):
        axis.grid(alpha=0.3)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(loc="upper left", fontsize="small")
    return figure


def write_loadtest_png(path: Path, rows: Sequence[Second], title: str) -> None:
    _save(loadtest_figure(rows, title), path)


SIMULATION_PANELS = (
    ("instances", "instances in service"),
    ("utilisation", "utilisation (load / capacity)"),
    ("p99_ms", "predicted p99 (ms)"),
    ("error_rate", "error rate"),
    ("cost", "cost so far ($)"),
)


def simulation_figure(before: Sequence[Minute], after: Sequence[Minute], title: str) -> Figure:
    figure, axes = _figure(len(SIMULATION_PANELS) + 1, 2, title)
    for column, (label, minutes) in enumerate(
        (("BEFORE: fixed fleet", before), ("AFTER: autoscaling", after))
    ):
        times = [m.minute for m in minutes]
        axes[0][column].set_title(label)
        axes[0][column].plot(times, [m.offered_rps for m in minutes], color="tab:gray")
        axes[0][column].set_ylabel("offered req/s")
        for row, (name, ylabel) in enumerate(SIMULATION_PANELS, start=1):
            axes[row][column].plot(times, [getattr(m, name) for m in minutes], color="tab:blue")
            axes[row][column].set_ylabel(ylabel)
        axes[-1][column].set_xlabel("minutes")
    for row in range(len(SIMULATION_PANELS) + 1):
        _share_y(axes[row][0], axes[row][1])
    axes[3][0].set_yscale("symlog", linthresh=10)
    axes[3][1].set_yscale("symlog", linthresh=10)
    return figure


def _share_y(left: Axes, right: Axes) -> None:
    """Both columns on one scale, so BEFORE and AFTER compare at a glance."""
    low = 0.0  # every simulated quantity is >= 0
    high = max(left.get_ylim()[1], right.get_ylim()[1])
    for axis in (left, right):
        axis.set_ylim(low, high)
        axis.grid(alpha=0.3)


def write_simulation_png(path: Path, before: Sequence[Minute], after: Sequence[Minute], title: str) -> None:
    _save(simulation_figure(before, after, title), path)
