"""WSGI apps that tests/test_plain_worker.py serves with the worker class, on gunicorn."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

LARGE = 8 * 1024 * 1024  # more than a socket's send buffer takes at once


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """/boom raises, /large answers LARGE bytes, /chunks two chunks of unknown length, anything
    else describes its request."""
    path = environ["PATH_INFO"]
    if path == "/boom":
        raise RuntimeError("the app failed")
    if path == "/large":
        start_response("200 OK", [("Content-Length", str(LARGE))])
        return [b"x" * LARGE]
    if path == "/chunks":
        start_response("200 OK", [])
        return [b"ab", b"cd"]
    seen = {key: value for key, value in environ.items() if isinstance(value, str | bool | int)}
    seen["body"] = environ["wsgi.input"].read().decode("latin-1")
    body = json.dumps(seen, sort_keys=True).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
