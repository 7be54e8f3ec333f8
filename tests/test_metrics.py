"""The metrics in this process: what one request records, the routes and labels, and the merge
of a dead worker's files (container/metrics). Across real workers: tests/test_metrics_server.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.multiprocess import MultiProcessCollector
from werkzeug.test import Client

from container.app import create_app
from container.metrics.exposition import merge_into, prepare, resident_bytes
from container.metrics.instruments import Instruments, route_of
from container.settings import Settings
from tests.helpers.harness import DEMO_MODEL

CSV = {"Content-Type": "text/csv"}
ROW = b"5.1,3.5,1.4,0.2"


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def files_read(directory: Path) -> CollectorRegistry:
    """A registry over the directory's files, as the master's scrape reads them."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))
    return registry


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> tuple[Client, CollectorRegistry]:
    directory = tmp_path_factory.mktemp("metrics")
    app = create_app(Settings(model_dir=DEMO_MODEL), observer=Instruments(directory))
    return Client(app), files_read(directory)


def test_an_invocation_is_counted_with_its_bytes_and_both_latencies(
    measured: tuple[Client, CollectorRegistry],
) -> None:
    client, registry = measured
    labels = {"route": "/invocations", "status_class": "2xx", "model": ""}
    before = sample(registry, "byom_requests_total", **labels)
    bytes_before = sample(registry, "byom_request_bytes_total", route="/invocations")
    model_before = sample(registry, "byom_model_latency_seconds_count", model="")
    response = client.post("/invocations", data=ROW, headers=CSV)
    assert response.status_code == 200
    assert sample(registry, "byom_requests_total", **labels) == before + 1
    assert sample(registry, "byom_request_bytes_total", route="/invocations") == bytes_before + len(ROW)
    assert sample(registry, "byom_response_bytes_total", route="/invocations") >= len(b"setosa")
    assert sample(registry, "byom_model_latency_seconds_count", model="") == model_before + 1
    assert sample(registry, "byom_overhead_latency_seconds_count", model="") == model_before + 1


def test_errors_are_counted_by_status_class_and_have_no_model_latency(
    measured: tuple[Client, CollectorRegistry],
) -> None:
    client, registry = measured
    count = sample(registry, "byom_model_latency_seconds_count", model="")
    assert client.post("/invocations", data=ROW, headers={"Content-Type": "image/png"}).status_code == 415
    assert client.get("/no/such/path").status_code == 404
    assert sample(registry, "byom_requests_total", route="/invocations", status_class="4xx", model="") >= 1
    assert sample(registry, "byom_requests_total", route="other", status_class="4xx", model="") >= 1
    assert sample(registry, "byom_model_latency_seconds_count", model="") == count


def test_the_scrape_names_follow_prometheus_conventions(measured: tuple[Client, CollectorRegistry]) -> None:
    text = generate_latest(measured[1]).decode()
    for name in ("byom_requests_total", "byom_model_latency_seconds_bucket", "byom_request_bytes_total"):
        assert f"\n{name}" in text


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/ping", "/ping"),
        ("/invocations", "/invocations"),
        ("/models", "/models"),
        ("/models/a", "/models/{name}"),
        ("/models/a/invoke", "/models/{name}/invoke"),
        ("/models/a/b", "other"),
        ("/models/", "other"),
        ("/random-scan-1234", "other"),
    ],
)
def test_routes_are_bounded_whatever_the_path(path: str, route: str) -> None:
    assert route_of(path) == route


def test_a_404_naming_a_model_does_not_make_its_name_a_label(tmp_path: Path) -> None:
    instruments, registry = Instruments(tmp_path), files_read(tmp_path)
    instruments.record({"PATH_INFO": "/models/x/invoke", "byom.model": "x"}, "404 Not Found", 0.001, 10)
    instruments.record({"PATH_INFO": "/models/y/invoke", "byom.model": "y"}, "200 OK", 0.001, 10)
    assert (
        sample(registry, "byom_requests_total", route="/models/{name}/invoke", status_class="4xx", model="")
        == 1
    )
    assert (
        sample(registry, "byom_requests_total", route="/models/{name}/invoke", status_class="2xx", model="y")
        == 1
    )


def test_a_value_held_while_its_file_grows_still_counts_into_the_file(tmp_path: Path) -> None:
    instruments, registry = Instruments(tmp_path), files_read(tmp_path)
    instruments.record({"PATH_INFO": "/ping"}, "200 OK", 0.001, 0)
    counters = instruments.files.opened["counter"]
    mapped_first = counters._m
    for number in range(2_000):  # a series per model: the 64 KiB file grows several times
        instruments.record({"PATH_INFO": "/models/m/invoke", "byom.model": f"m{number}"}, "200 OK", 0.001, 0)
    assert counters._m is not mapped_first, "the file never grew: the test tests nothing"
    instruments.record({"PATH_INFO": "/ping"}, "200 OK", 0.001, 0)
    assert sample(registry, "byom_requests_total", route="/ping", status_class="2xx", model="") == 2
    last = {"route": "/models/{name}/invoke", "status_class": "2xx", "model": "m1999"}
    assert sample(registry, "byom_requests_total", **last) == 1


def test_model_loads_and_counts_are_recorded(tmp_path: Path) -> None:
    instruments, registry = Instruments(tmp_path), files_read(tmp_path)
    instruments.loaded("a", 0.5)
    instruments.held(3)
    assert sample(registry, "byom_model_load_seconds_count", model="a") == 1
    assert sample(registry, "byom_models_loaded") == 3


def test_a_dead_workers_values_are_added_into_the_retired_file(tmp_path: Path) -> None:
    key = mmap_key("byom_requests", "byom_requests_total", ["route"], ["/ping"], "help")
    for name, value in (("counter_retired.db", 5.0), ("counter_123.db", 2.0)):
        written = MmapedDict(str(tmp_path / name))
        written.write_value(key, value, 0.0)
        written.close()
    merge_into(tmp_path / "counter_retired.db", tmp_path / "counter_123.db")
    merge_into(tmp_path / "counter_new.db", tmp_path / "counter_123.db")
    values = {
        k: v for k, v, _, _ in MmapedDict.read_all_values_from_file(str(tmp_path / "counter_retired.db"))
    }
    assert values == {key: 7.0}
    fresh = {k: v for k, v, _, _ in MmapedDict.read_all_values_from_file(str(tmp_path / "counter_new.db"))}
    assert fresh == {key: 2.0}


def test_resident_memory_is_read_and_a_gone_process_has_none() -> None:
    assert resident_bytes(os.getpid()) > 1_000_000
    assert resident_bytes(2**22 + 7) == 0


def test_a_new_server_removes_what_gone_masters_left_and_nothing_else(tmp_path: Path) -> None:
    gone, live, other = (
        tmp_path / "byom-metrics-999999999",
        tmp_path / f"byom-metrics-{os.getpid()}",
        tmp_path / "x",
    )
    for directory in (gone, live, other):
        directory.mkdir()
    prepare(tmp_path / "byom-metrics-1")
    assert not gone.exists() and live.exists() and other.exists() and (tmp_path / "byom-metrics-1").is_dir()


def test_histogram_buckets_hold_values_up_to_their_bound_as_prometheus_client_does(tmp_path: Path) -> None:
    instruments, registry = Instruments(tmp_path), files_read(tmp_path)
    for seconds in (0.0001, 0.00011, 100.0):
        instruments.record({"PATH_INFO": "/invocations", "byom.model_seconds": seconds}, "200 OK", seconds, 1)
    assert sample(registry, "byom_model_latency_seconds_bucket", model="", le="0.0001") == 1
    assert sample(registry, "byom_model_latency_seconds_bucket", model="", le="0.00025") == 2
    assert sample(registry, "byom_model_latency_seconds_bucket", model="", le="60.0") == 2
    assert sample(registry, "byom_model_latency_seconds_count", model="") == 3


def test_the_in_flight_sample_is_the_workers_last(tmp_path: Path) -> None:
    instruments, registry = Instruments(tmp_path), files_read(tmp_path)
    instruments.sample_in_flight(3)
    assert sample(registry, "byom_requests_in_flight") == 3
    instruments.sample_in_flight(0)
    assert sample(registry, "byom_requests_in_flight") == 0
