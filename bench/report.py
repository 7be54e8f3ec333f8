"""The report: bench/results/latest.md (a Markdown table per section) and latest.json.

Owns: the shape of a section's results (tables, notes, the exact commands, raw numbers) and
rendering them with the run's header (date, nproc, CPU model, versions, how long it took).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        self.rows.append([str(cell) for cell in cells])

    def markdown(self) -> str:
        lines = ["| " + " | ".join(self.headers) + " |", "|" + "---|" * len(self.headers)]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return "\n".join(lines)


@dataclass
class Section:
    key: str
    title: str
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def count(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:,.0f}"


def ms(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    return f"{value:,.0f}" if value >= 100 else f"{value:.2f}" if value < 10 else f"{value:.1f}"


def times(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f}x" if value < 10 else f"{value:.1f}x"


def percent(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{100 * value:.1f}%"


def runs(values: list[float]) -> str:
    return " / ".join(count(v) for v in values)


def write(
    meta: dict[str, Any], sections: list[Section], directory: Path = RESULTS, stem: str = "latest"
) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    markdown = directory / f"{stem}.md"
    markdown.write_text(render(meta, sections))
    payload = {
        "meta": meta,
        "sections": {
            s.key: {"title": s.title, "error": s.error, "commands": s.commands, "notes": s.notes, **s.data}
            for s in sections
        },
    }
    data = directory / f"{stem}.json"
    data.write_text(json.dumps(payload, indent=2, default=_plain) + "\n")
    return markdown, data


def _plain(value: object) -> object:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def render(meta: dict[str, Any], sections: list[Section]) -> str:
    out = [
        "# byom benchmark",
        "",
        f"Written by `{meta['command']}` on {meta['date']}; the run took {meta['duration_s']:.0f} s"
        f" ({meta['mode']}: {meta['seconds_per_measurement']:g} s per load measurement,"
        f" {meta['runs']} run(s) each, median reported).",
        "",
        "| Machine | |",
        "|---|---|",
        f"| `nproc` | {meta['nproc']} |",
        f"| CPU model | {meta['cpu_model']} |",
        f"| checkout | {meta['checkout']} |",
        f"| load average (1, 5, 15 min) | {meta['load_average']} |",
        f"| Python speed: `sum(range(10**7))`, median of 5 | {meta['yardstick']} |",
        *[f"| {name} | {version} |" for name, version in meta["versions"].items()],
        "",
        *[f"- {line}" for line in meta["method"]],
    ]
    for section in sections:
        out += ["", f"## {section.title}", ""]
        if section.error:
            out += [f"**Not measured: the section failed:** `{section.error}`", ""]
        for table in section.tables:
            out += [table.markdown(), ""]
        out += [f"- {note}" for note in section.notes]
        if section.commands:
            out += ["", "Commands:", "", "```sh", *section.commands, "```"]
    return "\n".join(out).rstrip() + "\n"
