"""Asynchronous inference: the settings (flags or byom.toml) checked before any call, the
AsyncInferenceConfig deploy creates (exact, with botocore's Stubber; and kept by moto), the
`byom cfn` template, and `byom invoke --input-location` uploading to S3 and calling
InvokeEndpointAsync."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from byom.shared.aws import Aws
from byom.ship import invoke_async
from tests.helpers.ship import DEPLOY_FLAGS, assert_refused, byom, lint

TOPIC = "arn:aws:sns:us-east-1:123456789012:iris-done"
ERRORS = "arn:aws:sns:us-east-1:123456789012:iris-failed"
ASYNC = (
    "--async-output",
    "s3://byom-async/iris/",
    "--async-success-topic",
    TOPIC,
    "--async-error-topic",
    ERRORS,
    "--async-max-concurrency",
    "4",
)
WANTED = {
    "OutputConfig": {
        "S3OutputPath": "s3://byom-async/iris/",
        "NotificationConfig": {"SuccessTopic": TOPIC, "ErrorTopic": ERRORS},
    },
    "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 4},
}


def create_config_request(result_out: str) -> dict[str, Any]:
    [line] = [line for line in result_out.splitlines() if "will call sagemaker CreateEndpointConfig" in line]
    return dict(json.loads(line[line.index("{") :]))


def test_the_async_config_is_one_exact_request(aws_env: str) -> None:
    """The dry run's CreateEndpointConfig, replayed through Stubber: botocore's model accepts it."""
    result = byom("deploy", *DEPLOY_FLAGS, *ASYNC, "--dry-run")
    assert result.code == 0, result.err
    request = create_config_request(result.out)
    assert request["AsyncInferenceConfig"] == WANTED
    client = boto3.client("sagemaker", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_response(
            "create_endpoint_config",
            {"EndpointConfigArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/x"},
            request,
        )
        client.create_endpoint_config(**request)
        stub.assert_no_pending_responses()


def test_deploy_creates_it_and_status_shows_it(client: Any) -> None:
    result = byom("deploy", *DEPLOY_FLAGS, *ASYNC)
    assert result.code == 0, result.err
    assert "async to s3://byom-async/iris/" in result.out
    name = client("sagemaker").describe_endpoint(EndpointName="iris")["EndpointConfigName"]
    described = client("sagemaker").describe_endpoint_config(EndpointConfigName=name)
    assert described["AsyncInferenceConfig"] == WANTED
    status = byom("status", "--endpoint", "iris")
    assert status.code == 0, status.err
    assert "asynchronous: answers to s3://byom-async/iris/" in status.out
    assert f"  SuccessTopic: {TOPIC}" in status.out
    assert "at most 4 concurrent invocations per instance" in status.out
    again = byom("deploy", *DEPLOY_FLAGS, *ASYNC)
    assert again.code == 0 and "unchanged" in again.out, again.out


def test_the_project_file_expresses_it(aws_env: str, tmp_path: Path) -> None:
    (tmp_path / "byom.toml").write_text('async_output = "s3://byom-async/x/"\nasync_max_concurrency = 2\n')
    result = byom("deploy", *DEPLOY_FLAGS, "--dry-run")
    assert result.code == 0, result.err
    assert create_config_request(result.out)["AsyncInferenceConfig"] == {
        "OutputConfig": {"S3OutputPath": "s3://byom-async/x/"},
        "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 2},
    }


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ("--async-output", "https://byom-async/iris/"),
            "async output 'https://byom-async/iris/' is not an s3://",
        ),
        (("--async-output", "s3://byom-async"), "is not an s3://bucket/key URL"),
        (
            ("--async-output", "s3://b-x/k", "--async-success-topic", "iris-done"),
            "success topic 'iris-done' is not an SNS topic ARN",
        ),
        (
            ("--async-output", "s3://b-x/k", "--async-error-topic", "arn:aws:sqs:us-east-1:123456789012:q"),
            "error topic 'arn:aws:sqs:us-east-1:123456789012:q' is not an SNS topic ARN",
        ),
        (
            ("--async-output", "s3://b-x/k", "--async-max-concurrency", "1001"),
            "async max concurrency must be between 1 and 1000",
        ),
        (
            ("--async-output", "s3://b-x/k", "--async-max-concurrency", "0"),
            "async max concurrency must be between 1 and 1000",
        ),
        (("--async-success-topic", TOPIC), "async_success_topic needs async_output"),
        (("--async-max-concurrency", "3"), "async_max_concurrency needs async_output"),
        (
            ("--async-output", "s3://b-x/k", "--serverless-memory", "2048"),
            "asynchronous inference needs instances: async_output does not apply to serverless",
        ),
    ],
)
def test_bad_async_settings_are_one_line_before_any_call(
    aws_env: str, monkeypatch: pytest.MonkeyPatch, flags: tuple[str, ...], message: str
) -> None:
    monkeypatch.delenv("AWS_REGION")  # a call attempted would fail on the region instead
    for command in ("deploy", "cfn"):
        assert_refused(byom(command, *DEPLOY_FLAGS, *flags), message)


def test_cfn_makes_the_same_async_config_and_cfn_lint_accepts_it(tmp_path: Path) -> None:
    template = tmp_path / "async.json"
    assert byom("cfn", *DEPLOY_FLAGS, *ASYNC, "--output", str(template)).code == 0
    linted = lint(template)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    properties = json.loads(template.read_text())["Resources"]["EndpointConfig"]["Properties"]
    assert properties["AsyncInferenceConfig"] == WANTED


def test_invoke_uploads_the_file_and_calls_invoke_endpoint_async(client: Any, tmp_path: Path) -> None:
    client("s3").create_bucket(Bucket="byom-async")
    rows = tmp_path / "rows.csv"
    rows.write_text("5.1,3.5,1.4,0.2\n")
    result = byom(
        "invoke", "--endpoint", "iris", "--input-location", "s3://byom-async/in/rows.csv", str(rows)
    )
    assert result.code == 0, result.err
    stored = client("s3").get_object(Bucket="byom-async", Key="in/rows.csv")
    assert (stored["Body"].read(), stored["ContentType"]) == (b"5.1,3.5,1.4,0.2\n", "text/csv")
    [output] = result.out.splitlines()
    assert output.startswith("s3://") and f"the answer will be at {output}" in result.err


def test_invoke_async_sends_the_exact_request(aws_env: str) -> None:
    aws = Aws(boto3.Session(region_name="us-east-1"))
    with Stubber(aws.client("sagemaker-runtime")) as stub:
        stub.add_response(
            "invoke_endpoint_async",
            {
                "InferenceId": "abc",
                "OutputLocation": "s3://byom-async/iris/abc.out",
                "FailureLocation": "s3://f/abc",
            },
            {
                "EndpointName": "iris",
                "InputLocation": "s3://byom-async/in/rows.json",
                "ContentType": "application/json",
                "Accept": "text/csv",
            },
        )
        answer = invoke_async.invoke(
            aws, invoke_async.Request("iris", "s3://byom-async/in/rows.json", "application/json", "text/csv")
        )
        stub.assert_no_pending_responses()
    assert answer.output == "s3://byom-async/iris/abc.out"
    assert (
        answer.note()
        == "queued as abc; the answer will be at s3://byom-async/iris/abc.out; a failure at s3://f/abc"
    )


@pytest.mark.parametrize(
    ("argv", "toml", "message"),
    [
        (
            ("rows.csv",),
            'async_output = "s3://byom-async/iris/"\n',
            "endpoint iris is asynchronous (async_output in byom.toml): pass --input-location",
        ),
        (("--input-location", "s3://byom-async/in/"), "", "input location 's3://byom-async/in/' is a prefix"),
        (("--input-location", "/tmp/rows.csv"), "", "input location '/tmp/rows.csv' is not an s3://"),
        (
            ("--input-location", "s3://byom-async/in/rows.csv", "--variant", "Blue"),
            "",
            "--variant does not apply to an asynchronous invocation",
        ),
        (
            ("--input-location", "s3://byom-async/in/rows"),
            "",
            "cannot tell the content type of s3://byom-async/in/rows",
        ),
        ((), "", "missing FILE"),
    ],
)
def test_invoke_refusals_are_one_line(
    aws_env: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    argv: tuple[str, ...],
    toml: str,
    message: str,
) -> None:
    monkeypatch.delenv("AWS_REGION")
    (tmp_path / "byom.toml").write_text(toml)
    (tmp_path / "rows.csv").write_text("1,2,3,4\n")
    assert_refused(byom("invoke", "--endpoint", "iris", *argv), message)
