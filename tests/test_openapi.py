"""docs/openapi.yaml against a live `./serve` (gunicorn) on 127.0.0.1, with schemathesis's CLI.

schemathesis generates valid and invalid requests for every operation (its examples, coverage and
fuzzing phases) and checks every answer: never a 5xx, a documented status, content type and
headers, a body matching the response schema, 405 for methods the spec does not list. Two checks
are left out because a text body cannot satisfy them: whether a request "should" succeed depends
on the model's feature count, and a CSV or libsvm body is text whatever JSON type was generated.
Bounded: EXAMPLES per operation, five operations, a few seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.helpers.harness import REPO, HttpEndpoint

SPEC = REPO / "docs" / "openapi.yaml"
EXAMPLES = 50
EXCLUDED_CHECKS = "positive_data_acceptance,negative_data_rejection"


@pytest.mark.server
def test_the_live_server_meets_its_openapi_description(server_endpoint: HttpEndpoint, tmp_path: Path) -> None:
    report = tmp_path / "schemathesis.json"
    command = [
        str(REPO / ".venv" / "bin" / "schemathesis"), "run", str(SPEC),
        "--url", server_endpoint.base_url,
        "--max-examples", str(EXAMPLES),
        "--checks", "all", "--exclude-checks", EXCLUDED_CHECKS,
        "--generation-database", "none",
        "--no-color",
        "--report", "json", "--report-json-path", str(report),
    ]  # fmt: skip
    environment = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.helpers.schemathesis_hooks",
        "PYTHONPATH": str(REPO),
    }
    result = subprocess.run(
        command, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
    summary = json.loads(report.read_text())
    assert summary["test_cases"]["generated"] >= 100
    assert summary["failures"] == [] and summary["errors"] == []
    assert set(summary["valid_rates"]) == {
        "GET /ping", "HEAD /ping", "GET /execution-parameters", "HEAD /execution-parameters", "POST /invocations",
    }  # fmt: skip
