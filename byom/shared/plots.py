"""PNG figures for the CLI: a load test's timeline, and a simulation's BEFORE vs AFTER.

Drawn with matplotlib's object API on the Agg canvas (no pyplot, no display, no global state), in
the spirit of CloudWatch's graphs: one panel per metric, time along the bottom. `loadtest_figure`
and `simulation_figure` return the Figure (the tests read its axes); the writers save it.

Made to be read at a glance: every axis names its unit; tick labels are plain numbers (never 10^x,
an offset or scientific notation). Other axes are linear from 0 with 4 to 6 round ticks. A latency
axis is too, unless its values and the SLO span more than a factor of LOG_ABOVE: then it is
logarithmic, ticked at 1, 2 and 5 of each decade; past three decades at 1 and 3 from the power of
ten below the lowest value, past five at 1 only, so the labels never crowd. The SLO's p99 bound and
error budget, when known, are dashed lines in the legend; legends sit outside the panels so they
hide no data; a panel with nothing to draw says so ("no errors", "none") in its centre.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from byom.measure.timeline import Second
    from byom.plan.fleet import Minute

LOG_ABOVE = 10.0  # a latency axis turns logarithmic when max / min of its values and SLO exceeds this
NAN = float("nan")


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


def loadtest_figure(
    rows: Sequence[Second],
    title: str,
    *,
    slo_p99_ms: float | None = None,
    error_budget: float | None = None,
) -> Figure:
    """Offered and achieved req/s, p50/p95/p99 (ms) and errors (% of the second's requests) per second."""
    figure, axes = _figure(3, 1, title)
    seconds = [row.second for row in rows]
    rate, latency, errors = (column[0] for column in axes)
    rate.plot(seconds, [row.offered for row in rows], label="offered", color="tab:gray", linestyle="--")
    rate.plot(seconds, [row.achieved for row in rows], label="achieved (2xx)", color="tab:blue")
    rate.set_ylabel("req/s")
    _linear_axis([rate], [float(max(row.offered, row.achieved)) for row in rows], _number)

    drawn: list[float] = []
    for name, color in (("p50_ms", "tab:green"), ("p95_ms", "tab:orange"), ("p99_ms", "tab:red")):
        values = [getattr(row, name) if row.offered else NAN for row in rows]  # no requests, no latency
        latency.plot(seconds, values, label=name[:3], color=color)
        drawn += values
    _slo_line([latency], slo_p99_ms, f"SLO p99 {slo_p99_ms:g} ms" if slo_p99_ms else "")
    latency.set_ylabel("latency (ms)")
    _latency_axis([latency], drawn, slo_p99_ms)
    if rows and not _finite(drawn):
        _say([latency], "none (no requests)")

    codes = sorted({code for row in rows for code in row.errors})
    shares = {code: [_percent(row.errors.get(code, 0), row.offered) for row in rows] for code in codes}
    if len(codes) > 1:
        shares["all"] = [_percent(row.error_count, row.offered) for row in rows]
    for code, values in shares.items():
        errors.plot(seconds, values, label=code, color="black" if code == "all" else None)
    budget = error_budget * 100 if error_budget is not None else None
    _slo_line([errors], budget, f"error budget {budget:g}%" if budget is not None else "")
    _linear_axis([errors], [v for values in shares.values() for v in values] + [budget or 0.0], _pct)
    if rows and not codes:
        _say([errors], "no errors")
    if not codes:
        errors.set_ylim(0, (budget or 1.0) * 1.5)
    errors.set_ylabel("errors (%)")
    errors.set_xlabel("seconds from start (by scheduled send time)")
    if not rows:
        _say([rate, latency, errors], "none (no data)")
        errors.set_xlim(0, 1)
    for axis in (rate, latency, errors):
        _finish(axis)
    return figure


def write_loadtest_png(
    path: Path,
    rows: Sequence[Second],
    title: str,
    *,
    slo_p99_ms: float | None = None,
    error_budget: float | None = None,
) -> None:
    _save(loadtest_figure(rows, title, slo_p99_ms=slo_p99_ms, error_budget=error_budget), path)


SIMULATION_PANELS = (
    ("instances", "instances in service"),
    ("utilisation", "utilisation (%)"),
    ("p99_ms", "predicted p99 (ms)"),
    ("error_rate", "errors (%)"),
    ("cost", "cost so far (USD)"),
)


def simulation_figure(
    before: Sequence[Minute],
    after: Sequence[Minute],
    title: str,
    *,
    slo_p99_ms: float | None = None,
    error_budget: float | None = None,
) -> Figure:
    """The two fleets side by side, each row on one scale so BEFORE and AFTER compare at a glance.

    Utilisation and error rate are drawn as percentages; the latency row follows the module's rule.
    """
    figure, axes = _figure(len(SIMULATION_PANELS) + 1, 2, title)
    columns = (("BEFORE: fixed fleet", before), ("AFTER: autoscaling", after))
    scale = {"utilisation": 100.0, "error_rate": 100.0}
    legend = {"p99_ms": "p99", "error_rate": "errors"}  # the rows that carry an SLO line beside them
    values: dict[str, list[float]] = {"offered_rps": []}
    for column, (label, minutes) in enumerate(columns):
        times = [m.minute for m in minutes]
        axes[0][column].set_title(label)
        offered = [m.offered_rps for m in minutes]
        axes[0][column].plot(times, offered, color="tab:gray")
        values["offered_rps"] += offered
        axes[0][column].set_ylabel("offered (req/s)")
        for index, (name, ylabel) in enumerate(SIMULATION_PANELS, start=1):
            series = [getattr(m, name) * scale.get(name, 1.0) for m in minutes]
            axes[index][column].plot(times, series, color="tab:blue", label=legend.get(name, ""))
            axes[index][column].set_ylabel(ylabel)
            values.setdefault(name, []).extend(series)
        axes[-1][column].set_xlabel("minutes from start")
        if not minutes:
            _say([row[column] for row in axes], "none")
    rows = {name: axes[index] for index, (name, _) in enumerate((("offered_rps", ""), *SIMULATION_PANELS))}
    budget = error_budget * 100 if error_budget is not None else None
    _slo_line(rows["p99_ms"], slo_p99_ms, f"SLO p99 {slo_p99_ms:g} ms" if slo_p99_ms else "")
    _slo_line(rows["error_rate"], budget, f"error budget {budget:g}%" if budget is not None else "")
    _linear_axis(rows["offered_rps"], values["offered_rps"], _number)
    _linear_axis(rows["instances"], values["instances"], _number, integer=True)
    _linear_axis(rows["utilisation"], values["utilisation"], _pct)
    _latency_axis(rows["p99_ms"], values["p99_ms"], slo_p99_ms)
    _linear_axis(rows["error_rate"], [*values["error_rate"], budget or 0.0], _pct)
    _linear_axis(rows["cost"], values["cost"], _usd)
    for (_, minutes), axis in zip(columns, rows["error_rate"], strict=True):
        if minutes and not any(m.error_rate for m in minutes):
            _say([axis], "no errors")
    if not any(values["error_rate"]):
        for axis in rows["error_rate"]:
            axis.set_ylim(0, (budget or 1.0) * 1.5)
    for row in axes:
        for axis in row:
            _finish(axis, legend=axis is row[1])  # one legend a row, outside on the right
    return figure


def write_simulation_png(
    path: Path,
    before: Sequence[Minute],
    after: Sequence[Minute],
    title: str,
    *,
    slo_p99_ms: float | None = None,
    error_budget: float | None = None,
) -> None:
    figure = simulation_figure(before, after, title, slo_p99_ms=slo_p99_ms, error_budget=error_budget)
    _save(figure, path)


Format = Callable[[float, int | None], str]


def _number(value: float, _position: int | None = None) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:g}"


def _pct(value: float, _position: int | None = None) -> str:
    return f"{value:g}%"


def _usd(value: float, _position: int | None = None) -> str:
    return f"${value:,.0f}" if abs(value) >= 100 else f"${value:,.2f}"


def _percent(count: int, offered: int) -> float:
    return 100 * count / offered if offered else NAN


def _finite(values: Iterable[float]) -> list[float]:
    return [v for v in values if math.isfinite(v)]


def _slo_line(axes: Iterable[Axes], value: float | None, label: str) -> None:
    if value is not None:
        for axis in axes:
            axis.axhline(value, label=label, color="black", linestyle="--", linewidth=1.0)


def _linear_axis(
    axes: Sequence[Axes], values: Iterable[float], format: Format, integer: bool = False
) -> None:
    """From 0 to a little above the highest value, with 4 to 6 round ticks; shared by `axes`."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    high = max(_finite(values), default=0.0)
    high = high * 1.1 if high > 0 else 1.0
    for axis in axes:
        axis.set_ylim(0, high)
        axis.yaxis.set_major_locator(
            MaxNLocator(nbins=6 if integer else 5, steps=[1, 2, 2.5, 5, 10], integer=integer, min_n_ticks=3)
        )
        axis.yaxis.set_major_formatter(FuncFormatter(format))


def _latency_axis(axes: Sequence[Axes], values: Iterable[float], slo_p99_ms: float | None) -> None:
    """Milliseconds in plain numbers: linear from 0, or log past LOG_ABOVE (see the module's docstring)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    positive = [v for v in _finite(values) if v > 0]
    span = [*positive, *([slo_p99_ms] if slo_p99_ms else [])]
    if not positive or max(span) / min(span) <= LOG_ABOVE:
        _linear_axis(axes, span, _number)
        return
    low, high = min(span) / 1.25, max(span) * 1.25
    subs: tuple[float, ...] = (1.0, 2.0, 5.0)
    if math.log10(high / low) > 3:  # past three decades, fewer labels, and one below the lowest line
        low = 10 ** math.floor(math.log10(min(span)))
        subs = (1.0, 3.0) if math.log10(high / low) <= 5 else (1.0,)
    for axis in axes:
        axis.set_yscale("log", nonpositive="mask")
        axis.set_ylim(low, high)
        axis.yaxis.set_major_locator(LogLocator(subs=subs, numticks=100))
        axis.yaxis.set_major_formatter(FuncFormatter(_number))
        axis.yaxis.set_minor_formatter(NullFormatter())
        axis.set_ylabel(f"{axis.get_ylabel()[:-1]}, log scale)")


def _say(axes: Iterable[Axes], text: str) -> None:
    for axis in axes:
        axis.text(0.5, 0.5, text, transform=axis.transAxes, ha="center", va="center", color="dimgray")


def _finish(axis: Axes, legend: bool = True) -> None:
    axis.grid(alpha=0.3)
    if legend and axis.get_legend_handles_labels()[0]:
        axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
