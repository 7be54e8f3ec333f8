"""byom.measure.loadgen and byom.measure.timeline against a real HTTP server on 127.0.0.1, and SageMaker stubbed.

The server serialises its work behind a lock, so offering more than it serves shows whether the
generator keeps its schedule (open loop) and charges the queueing to the requests (latency from
the scheduled time), which a closed-loop client would hide.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from byom.measure import timeline
from byom.measure.http_client import Origin
from byom.measure.loadgen import Generator, HttpSender, SageMakerSender
from byom.measure.loadspec import Phase, Request, schedule
from byom.measure.outcomes import Outcomes
from tests.helpers.http_server import ImpatientHandler, serving


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serving() as url:
        yield url


@pytest.fixture(scope="module")
def impatient_server() -> Iterator[str]:
    with serving(ImpatientHandler) as url:
        yield url


def run(url: str, paths: list[str], phases: list[Phase], timeout: float = 5.0, warm: int = 0) -> Outcomes:
    requests = [Request("POST", path, {"Content-Type": "text/csv"}, b"1,2") for path in paths]
    sender = HttpSender(Origin.parse(url), requests)

    async def go() -> Outcomes:
        try:
            await sender.prepare(warm)
            return await Generator(sender, timeout, 100).run(schedule(phases))
        finally:
            sender.close()

    return asyncio.run(go())


def test_the_schedule_is_kept_and_queueing_is_charged_to_latency(server: str) -> None:
    outcomes = run(server, ["/serial/40"], [Phase(1.0, 50.0)])  # 50/s offered, 25/s served
    scheduled, latency = np.array(outcomes.scheduled), np.array(outcomes.latency)
    assert len(latency) == 50 and set(outcomes.status) == {200}
    assert np.diff(np.sort(scheduled)) == pytest.approx(np.full(49, 0.02))
    # 50 x 40 ms of serial work cannot end before 2 s, though the last request was due at 0.98 s:
    # whichever finished last waited at least a second, which a closed-loop client would not report.
    assert (scheduled + latency).max() >= 1.95
    assert latency.max() >= 0.95
    assert np.median(latency) > 0.2


def test_statuses_are_counted_per_second_by_code(server: str) -> None:
    outcomes = run(server, ["/ok", "/status/503", "/ok", "/status/422"], [Phase(2.0, 40.0)])
    rows = timeline.build(outcomes, 2.0)
    assert [row.offered for row in rows] == [40, 40]
    assert [row.errors for row in rows] == [{"422": 10, "503": 10}] * 2
    assert [row.ok for row in rows] == [20, 20]
    assert rows[0].error_rate == 0.5


def test_chunked_bodies_and_closed_connections_are_read_whole(server: str) -> None:
    outcomes = run(server, ["/chunked", "/close"], [Phase(1.0, 30.0)])
    assert list(outcomes.status) == [200] * 30


def test_connections_the_server_closed_while_idle_are_replaced(impatient_server: str) -> None:
    phases = [Phase(0.5, 20.0), Phase(0.5, 0.0), Phase(0.5, 20.0)]  # idle longer than the server waits
    outcomes = run(impatient_server, ["/ok"], phases, warm=8)  # warm ones are idle from the start
    assert list(outcomes.status) == [200] * 20


def test_a_request_past_its_timeout_is_a_timeout(server: str) -> None:
    outcomes = run(server, ["/serial/300"], [Phase(1.0, 3.0)], timeout=0.1)
    rows = timeline.build(outcomes, 1.0)
    assert rows[0].errors == {"timeout": 3}
    assert max(outcomes.latency) < 1.0


def test_an_unreachable_server_is_a_connection_error() -> None:
    from tests.helpers.harness import free_port

    outcomes = run(f"http://127.0.0.1:{free_port()}", ["/ok"], [Phase(1.0, 5.0)])
    assert timeline.build(outcomes, 1.0)[0].errors == {"connection": 5}


def test_the_timeline_counts_by_scheduled_second_and_completion_second() -> None:
    outcomes = Outcomes()
    for i in range(10):  # 10 requests in second 0, each 1.05 s: they complete in second 1
        outcomes.add(i / 10, 1.05, 200)
    outcomes.add(1.2, 0.010, 503)
    outcomes.add(1.5, 0.020, 200)
    outcomes.cpu_samples = [(1.0, 0.25), (2.0, 0.75)]
    rows = timeline.build(outcomes, 3.0)
    assert [(r.offered, r.achieved, r.ok) for r in rows] == [(10, 0, 10), (2, 11, 1), (0, 0, 0)]
    assert rows[0].p50_ms == pytest.approx(1050)
    assert rows[1].errors == {"503": 1} and rows[1].p99_ms == pytest.approx(19.9)
    assert [r.generator_cpu_percent for r in rows] == [25.0, 50.0, 0.0]


def test_results_round_trip_through_json_and_csv(tmp_path: Path) -> None:
    outcomes = Outcomes()
    outcomes.add(0.5, 0.002, 200)
    outcomes.add(0.6, 0.004, 503)
    rows = timeline.build(outcomes, 1.0)
    path = tmp_path / "r.json"
    timeline.write_json(path, {"kind": timeline.RESULT_KIND, "version": 1}, rows)
    assert timeline.read_result(path)[1] == rows
    timeline.write_csv(path.with_suffix(".csv"), rows)
    lines = path.with_suffix(".csv").read_text().splitlines()
    assert lines[0].startswith("second,offered_rps,achieved_rps")
    assert lines[1].split(",")[7:9] == ["1", "503:1"]


class _Body(io.BytesIO):
    pass


def test_the_sagemaker_sender_signs_through_boto3_and_maps_errors() -> None:
    import boto3
    from botocore.response import StreamingBody
    from botocore.stub import Stubber

    client = boto3.client(
        "sagemaker-runtime", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    )
    body = b"5.1,3.5,1.4,0.2"
    expected = {"EndpointName": "iris", "Body": body, "ContentType": "text/csv", "Accept": "application/json"}
    with Stubber(client) as stub:
        stub.add_response("invoke_endpoint", {"Body": StreamingBody(_Body(b"setosa"), 6)}, expected)
        stub.add_client_error("invoke_endpoint", "ModelError", "bad row", 424, expected_params=expected)
        stub.add_client_error(
            "invoke_endpoint", "ThrottlingException", "slow down", 429, expected_params=expected
        )
        request = Request(
            "POST", "/invocations", {"Content-Type": "text/csv", "accept": "application/json"}, body
        )
        sender = SageMakerSender(client, "iris", [request], threads=1)
        try:
            assert [sender.invoke(request) for _ in range(3)] == [200, 424, 429]
        finally:
            sender.close()
        stub.assert_no_pending_responses()


def test_loadtest_by_endpoint_name_runs_through_boto3(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import boto3
    from botocore.response import StreamingBody
    from botocore.stub import Stubber

    from byom.cli import main
    from byom.measure import loadtest

    client = boto3.client(
        "sagemaker-runtime", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    )
    stub = Stubber(client)
    for _ in range(10):
        stub.add_response(
            "invoke_endpoint",
            {"Body": StreamingBody(_Body(b"setosa"), 6)},
            {"EndpointName": "iris", "Body": b"5.1,3.5,1.4,0.2", "ContentType": "text/csv"},
        )
    monkeypatch.setattr(loadtest, "sagemaker_client", lambda arguments: client)
    with stub:
        argv = ["loadtest", "--sagemaker", "iris", "--rate", "10", "--duration", "1", "--quiet"]
        assert main([*argv, "--out", str(tmp_path / "sm")]) == 0
        stub.assert_no_pending_responses()
    document, rows = timeline.read_result(tmp_path / "sm.json")
    assert (document["target"], document["sagemaker"]) == ("iris", True)
    assert rows[0].ok == 10 and not rows[0].errors


def test_loadtest_by_endpoint_name_without_credentials_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from byom.cli import main

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert main(["loadtest", "--sagemaker", "iris", "--region", "us-east-1", "--rate", "1", "--quiet"]) == 2
    assert "no AWS credentials" in capsys.readouterr().err


def test_ctrl_c_keeps_what_finished(server: str, tmp_path: Path) -> None:
    import json
    import signal
    import subprocess
    import sys

    from tests.helpers.harness import REPO

    out = tmp_path / "cut"
    command = [
        sys.executable,
        "-m",
        "byom",
        "loadtest",
        "--target",
        server,
        "--path",
        "/ok",
        "--rate",
        "50",
        "--duration",
        "30",
        "--quiet",
        "--out",
        str(out),
    ]
    # A shell running this suite in the background may ignore SIGINT, and children inherit that:
    # give the command the default disposition a terminal would, so Python turns it into Ctrl-C.
    default_sigint = lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)  # noqa: E731
    process = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=default_sigint
    )
    time.sleep(3)  # interpreter start and imports, then about a second of load
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert b"interrupted after" in stderr and b"Traceback" not in stderr
    document = json.loads(out.with_suffix(".json").read_text())
    assert document["interrupted"] is True
    assert 0 < document["summary"]["requests"] < 1500
    assert len(document["timeline"]) < 30
