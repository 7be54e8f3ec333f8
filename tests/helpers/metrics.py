"""Scraping a server's `/metrics` in tests, and the metric names a Grafana dashboard queries."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "byom.json"
METRIC_NAME = re.compile(r"\bbyom_[a-z_]+\b")


def scrape(url: str) -> Samples:
    text = requests.get(url, timeout=30).text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def names(samples: Samples) -> set[str]:
    return {name for name, _ in samples}


def wait_for(url: str, until: Callable[[Samples], bool], deadline: float = 30.0) -> Samples:
    """Scrape until `until` holds (a worker's replacement is not instant); the last scrape."""
    give_up = time.monotonic() + deadline
    samples = scrape(url)
    while not until(samples) and time.monotonic() < give_up:
        time.sleep(0.1)
        samples = scrape(url)
    return samples


def dashboard_queries(path: Path = DASHBOARD) -> set[str]:
    """Every byom_ metric name in the dashboard's PromQL expressions."""
    found: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("expr"), str):
                found.update(METRIC_NAME.findall(node["expr"]))
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(json.loads(path.read_text()))
    return found
