"""`byom invoke --input-location`: one asynchronous invocation (InvokeEndpointAsync).

Owns the asynchronous request: its S3 input location (checked to be an s3:// object URL before
any call), the upload of the request body there when a FILE is given (PutObject; without one the
object must already be there), the call itself, and what it answers: where SageMaker will write
the answer (OutputLocation, printed on stdout so `$(...)` captures it), where a failure will go
and the inference id. It does not wait for the answer: SageMaker writes it once the queue reaches
the request, and tells the endpoint's SNS topics (async_success_topic, async_error_topic).
"""

from __future__ import annotations

from dataclasses import dataclass

from byom.errors import CommandError
from byom.shared import validate
from byom.shared.aws import Aws

MAX_BODY = 1024**3  # SageMaker's limit for an asynchronous request: 1 GB


@dataclass(frozen=True)
class Request:
    endpoint: str
    location: str
    content_type: str
    accept: str | None = None
    body: bytes | None = None


@dataclass(frozen=True)
class Answer:
    output: str
    failure: str | None
    inference_id: str | None

    def note(self) -> str:
        parts = [f"queued as {self.inference_id or '?'}; the answer will be at {self.output}"]
        if self.failure:
            parts.append(f"a failure at {self.failure}")
        return "; ".join(parts)


def input_location(value: str) -> str:
    if value.endswith("/"):
        raise CommandError(f"input location {value!r} is a prefix; name the object (s3://BUCKET/KEY)")
    return validate.s3_url(value, "input location")


def invoke(aws: Aws, request: Request) -> Answer:
    if request.body is not None:
        upload(aws, request)
    params = {
        "EndpointName": request.endpoint,
        "InputLocation": request.location,
        "ContentType": request.content_type,
    }
    if request.accept:
        params["Accept"] = request.accept
    found = aws.read("sagemaker-runtime", "invoke_endpoint_async", **params)
    return Answer(str(found["OutputLocation"]), found.get("FailureLocation"), found.get("InferenceId"))


def upload(aws: Aws, request: Request) -> None:
    matched = validate.S3_URL.fullmatch(request.location)
    assert matched is not None  # input_location checked it
    aws.change(
        "s3",
        "put_object",
        Bucket=matched["bucket"],
        Key=matched["key"],
        Body=request.body,
        ContentType=request.content_type,
    )
