"""The plots read at a glance: plain tick values in ms and %, the SLO drawn, empty panels saying so.

Each figure is built from small synthetic rows and read back through its axes (not its PNG bytes).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from byom.measure.timeline import Second
from byom.plan.fleet import Minute
from byom.shared import plots


def second(index: int, p99_ms: float, offered: int = 100, errors: dict[str, int] | None = None) -> Second:
    failed = sum((errors or {}).values())
    return Second(
        index, offered, offered - failed, offered - failed, p99_ms * 0.5, p99_ms * 0.8, p99_ms, errors or {}
    )


def minute(index: int, p99_ms: float, error_rate: float = 0.0) -> Minute:
    return Minute(index, 300.0, 2.0, 2, 0.4, p99_ms, error_rate, 0.01 * (index + 1), 9000.0)


QUIET = [second(i, 1.0 + i / 10) for i in range(11)]  # p99 1-2 ms, no errors


def drawn(figure: Figure) -> Figure:
    FigureCanvasAgg(figure).draw()  # tick labels are only filled in by a draw
    return figure


def tick_values(axis: Axes) -> list[float]:
    """The y tick labels inside the axis' limits, each checked to be a plain number, read back."""
    low, high = sorted(axis.get_ylim())
    values = []
    for tick in axis.get_yticklabels():
        text = tick.get_text()
        if not text or not low <= tick.get_position()[1] <= high:
            continue
        assert not any(mark in text for mark in ("10^", "x10", "\\times", "$10", "e+", "e-", "^")), text
        values.append(float(text.replace(",", "").replace("%", "").replace("$", "")))
    return values


def slo_lines(axis: Axes) -> dict[str, float]:
    return {
        str(line.get_label()): float(line.get_ydata()[0])
        for line in axis.get_lines()
        if "SLO" in str(line.get_label()) or "budget" in str(line.get_label())
    }


def texts(axis: Axes) -> list[str]:
    return [text.get_text() for text in axis.texts]


def test_a_one_to_two_ms_run_reads_in_plain_milliseconds_under_its_slo() -> None:
    rate, latency, errors = drawn(plots.loadtest_figure(QUIET, "t", slo_p99_ms=15.0, error_budget=0.05)).axes
    values = tick_values(latency)
    assert len(values) >= 3
    assert {1.0, 2.0, 10.0} <= set(values)  # 1 and 2 ms are labelled, not one lone 10^1
    assert slo_lines(latency) == {"SLO p99 15 ms": 15.0}
    assert "SLO p99 15 ms" in [t.get_text() for t in latency.get_legend().get_texts()]
    assert latency.get_ylim()[1] > 15.0  # the SLO is inside the panel
    assert slo_lines(errors) == {"error budget 5%": 5.0}
    assert texts(errors) == ["no errors"]
    assert all(text.endswith("%") for text in (t.get_text() for t in errors.get_yticklabels()) if text)
    assert errors.get_ylim() == (0.0, 7.5)  # room for the budget, not matplotlib's empty default
    assert len(tick_values(rate)) >= 3
    assert "req/s" in rate.get_ylabel() and "ms" in latency.get_ylabel() and "%" in errors.get_ylabel()
    assert "seconds" in errors.get_xlabel()


def test_without_an_slo_a_narrow_latency_range_is_linear_with_several_ticks() -> None:
    _, latency, errors = drawn(plots.loadtest_figure(QUIET, "t")).axes
    assert latency.get_yscale() == "linear"
    values = tick_values(latency)
    assert len(values) >= 3 and min(values) == 0.0 and max(values) >= 2.0
    assert slo_lines(latency) == {} and slo_lines(errors) == {}
    assert texts(errors) == ["no errors"]


def test_a_wide_latency_range_is_logarithmic_with_plain_labels() -> None:
    rows = [second(i, 1.5 if i < 5 else 300.0) for i in range(10)]  # p50 0.75 to p99 300 ms
    _, latency, _ = drawn(plots.loadtest_figure(rows, "t", slo_p99_ms=15.0)).axes
    assert latency.get_yscale() == "log"
    assert {1.0, 2.0, 5.0, 10.0, 100.0} <= set(tick_values(latency))
    assert "log scale" in latency.get_ylabel()


def test_errors_are_drawn_as_percent_of_the_seconds_requests() -> None:
    rows = [second(0, 2.0), second(1, 2.0, errors={"503": 10}), second(2, 2.0, errors={"timeout": 5})]
    _, _, errors = drawn(plots.loadtest_figure(rows, "t", slo_p99_ms=15.0, error_budget=0.05)).axes
    lines = {str(line.get_label()): list(line.get_ydata()) for line in errors.get_lines()}
    assert lines["503"] == [0.0, 10.0, 0.0] and lines["timeout"] == [0.0, 0.0, 5.0]
    assert lines["all"] == [0.0, 10.0, 5.0]
    assert texts(errors) == []
    assert len(tick_values(errors)) >= 3


def test_an_empty_load_test_says_none_in_every_panel() -> None:
    figure = drawn(plots.loadtest_figure([], "t", slo_p99_ms=15.0, error_budget=0.05))
    assert [texts(axis) for axis in figure.axes] == [["none (no data)"]] * 3


def test_seconds_without_requests_draw_no_latency() -> None:
    rows = [second(0, 2.0), second(1, 0.0, offered=0), second(2, 2.0)]
    _, latency, _ = plots.loadtest_figure(rows, "t").axes
    assert math.isnan(latency.get_lines()[2].get_ydata()[1])


@pytest.mark.parametrize("slo", [15.0, None])
def test_a_narrow_simulated_p99_gets_several_plain_ticks(slo: float | None) -> None:
    before = [minute(i, 2.2 + i / 1000) for i in range(10)]  # 2.200..2.209 ms: once a lone 2.2x10^0
    after = [minute(i, 2.25) for i in range(10)]
    figure = drawn(plots.simulation_figure(before, after, "t", slo_p99_ms=slo, error_budget=0.05))
    for axis in figure.axes[6:8]:  # the p99 row
        values = tick_values(axis)
        assert len(values) >= 3 and max(values) >= 2.0
        assert slo_lines(axis).get("SLO p99 15 ms") == slo
        assert axis.get_ylabel() == "predicted p99 (ms)"
    legend = figure.axes[7].get_legend()  # the row's legend, beside the AFTER panel
    assert [t.get_text() for t in legend.get_texts()] == ["p99", "SLO p99 15 ms"] if slo else ["p99"]
    for axis in figure.axes[8:10]:  # the error row
        assert texts(axis) == ["no errors"]
        assert slo_lines(axis) == {"error budget 5%": 5.0}
        assert all(value <= 7.5 for value in tick_values(axis))


def test_the_simulation_labels_its_units_and_a_timeout_reads_in_plain_numbers() -> None:
    before = [minute(i, 2.2 if i < 5 else 60_000.0, 0.0 if i < 5 else 0.2) for i in range(10)]
    after = [minute(i, 2.2) for i in range(10)]
    figure = drawn(plots.simulation_figure(before, after, "t", slo_p99_ms=15.0, error_budget=0.05))
    p99 = figure.axes[6]
    assert p99.get_yscale() == "log"
    values = tick_values(p99)
    assert min(values) <= 2.2 and max(values) >= 10_000 and len(values) >= 5
    assert texts(figure.axes[8]) == [] and texts(figure.axes[9]) == ["no errors"]
    assert list(figure.axes[8].get_lines()[0].get_ydata())[-1] == pytest.approx(20.0)  # percent
    labels = [axis.get_ylabel() for axis in figure.axes[::2]]
    assert labels == [
        "offered (req/s)",
        "instances in service",
        "utilisation (%)",
        "predicted p99 (ms, log scale)",
        "errors (%)",
        "cost so far (USD)",
    ]
    assert figure.axes[-1].get_xlabel() == "minutes from start"


def test_an_empty_simulation_says_none() -> None:
    figure = drawn(plots.simulation_figure([], [], "t", slo_p99_ms=15.0, error_budget=0.05))
    assert all(texts(axis) == ["none"] for axis in figure.axes)


def test_the_writers_save_pngs(tmp_path: Path) -> None:
    plots.write_loadtest_png(tmp_path / "l.png", QUIET, "t", slo_p99_ms=15.0, error_budget=0.05)
    plots.write_simulation_png(tmp_path / "s.png", [minute(0, 2.2)], [minute(0, 2.2)], "t", slo_p99_ms=15.0)
    assert (
        (tmp_path / "l.png").read_bytes()[:8] == (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    )


def test_the_commands_pass_their_slo_to_the_plots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from byom.plan import plan, simulate
    from byom.plan.capacity import Slo
    from byom.plan.step_search import Search

    drawn_with: list[dict[str, object]] = []
    monkeypatch.setattr(plots, "write_loadtest_png", lambda *_, **kwargs: drawn_with.append(kwargs))
    monkeypatch.setattr(plots, "write_simulation_png", lambda *_, **kwargs: drawn_with.append(kwargs))
    plan.write_search(tmp_path / "plan", Search(Slo(20.0, 0.01), rows=QUIET), "http://x")
    simulate.write_outputs(tmp_path / "sim", [minute(0, 2.2)], [minute(0, 2.2)], 2, (15.0, 0.05))
    assert drawn_with == [
        {"slo_p99_ms": 20.0, "error_budget": 0.01},
        {"slo_p99_ms": 15.0, "error_budget": 0.05},
    ]
