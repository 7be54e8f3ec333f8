"""`byom invoke`: send one file through sagemaker-runtime and print the answer.

Owns the request body checks SageMaker makes (at most 6 MiB), the content type guessed from the
file extension, and printing: a text answer on stdout, a binary one only to --output FILE.
The container's own errors arrive as ModelError carrying its status and message. An asynchronous
endpoint takes its request from S3 instead: `--input-location s3://...` hands over to
byom/ship/invoke_async.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from byom.errors import CommandError
from byom.shared import config
from byom.shared.aws import connect
from byom.shared.config import PROJECT_FILE, required
from byom.ship import invoke_async

MAX_BODY = 6 * 1024 * 1024  # SageMaker's limit for a real-time request body
CONTENT_TYPES = {
    ".csv": "text/csv",
    ".json": "application/json",
    ".jsonl": "application/jsonlines",
    ".libsvm": "text/libsvm",
    ".npy": "application/x-npy",
}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("invoke", help="send a file to an endpoint and print the answer")
    config.add_flags(parser, "endpoint")
    parser.add_argument(
        "file", nargs="?", help="request body file, or - for stdin (with --input-location: uploaded there)"
    )
    parser.add_argument(
        "--content-type", help="default: from the file extension (.csv, .json, .jsonl, .libsvm, .npy)"
    )
    parser.add_argument("--accept", help="response type, e.g. application/json")
    parser.add_argument(
        "--variant",
        "--target-variant",
        dest="target_variant",
        help="send to this variant instead of by weight",
    )
    parser.add_argument("--output", metavar="FILE", help="write the answer here instead of stdout")
    parser.add_argument(
        "--input-location",
        metavar="S3URL",
        help="an asynchronous endpoint: InvokeEndpointAsync on this s3:// object (FILE is uploaded there first)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = config.load(args)
    endpoint = required(settings.endpoint, "endpoint")
    if args.input_location:
        return run_async(args, settings, endpoint)
    if settings.async_output:
        raise CommandError(
            f"endpoint {endpoint} is asynchronous (async_output in {PROJECT_FILE}): pass "
            "--input-location s3://BUCKET/KEY, where FILE is uploaded and SageMaker reads the request"
        )
    if args.file is None:
        raise CommandError("missing FILE: the request body, or - for stdin")
    body = read_body(args.file)
    request: dict[str, Any] = {"EndpointName": endpoint, "Body": body, "ContentType": content_type(args)}
    if args.accept:
        request["Accept"] = args.accept
    if args.target_variant:
        request["TargetVariant"] = args.target_variant
    answer = connect(settings).read("sagemaker-runtime", "invoke_endpoint", **request)
    write_answer(answer["Body"].read(), args.output)
    return 0


def run_async(args: argparse.Namespace, settings: config.Config, endpoint: str) -> int:
    for given, flag in ((args.target_variant, "--variant"), (args.output, "--output")):
        if given:
            raise CommandError(f"{flag} does not apply to an asynchronous invocation (--input-location)")
    location = invoke_async.input_location(args.input_location)
    body = None if args.file is None else read_body(args.file, invoke_async.MAX_BODY, "1 GB")
    request = invoke_async.Request(
        endpoint, location, content_type(args, args.file or location), args.accept, body
    )
    answer = invoke_async.invoke(connect(settings), request)
    print(answer.output, flush=True)
    print(answer.note(), file=sys.stderr)
    return 0


def read_body(name: str, limit: int = MAX_BODY, limit_text: str = "6 MiB") -> bytes:
    try:
        body = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
    except OSError as error:
        raise CommandError(f"cannot read {name}: {error.strerror}") from error
    if len(body) > limit:
        raise CommandError(
            f"{name} is {len(body)} bytes; SageMaker accepts at most {limit} ({limit_text}) per request"
        )
    return body


def content_type(args: argparse.Namespace, named: str | None = None) -> str:
    """--content-type, else guessed from the extension of `named` (default: the FILE argument)."""
    if args.content_type:
        return str(args.content_type)
    named = named or args.file
    guessed = CONTENT_TYPES.get(Path(str(named)).suffix.lower())
    if guessed is None:
        raise CommandError(f"cannot tell the content type of {named}; pass --content-type")
    return guessed


def write_answer(body: bytes, output: str | None) -> None:
    if output:
        Path(output).write_bytes(body)
        return
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise CommandError(f"the answer is binary ({len(body)} bytes); pass --output FILE") from error
    print(text, end="" if text.endswith("\n") else "\n")
