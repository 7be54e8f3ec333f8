"""A trivial POST handler run on our server's exact gunicorn command line: the benchmark's ceiling
for /invocations (never shipped).

Same worker class, workers, threads, keep-alive and access log as `./serve`; it reads the body
and answers one short line, so /invocations' rate divided by its rate is the share of the stack's
capacity the model's request path (decode, checks, predict, encode) leaves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from container.access_log import AccessLog


def application() -> AccessLog:
    return AccessLog(answer)


def answer(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [("Content-Type", "text/csv; charset=utf-8"), ("Content-Length", "2")])
    return [b"0\n"]
