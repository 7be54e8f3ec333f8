"""The HTTP shell: `create_app(settings)` builds the WSGI application for /ping, /invocations and
/execution-parameters.

Owns: routing, reading the body within the payload limit, and turning every error into
`{"error": code, "message": text}` with its status. The only module that speaks WSGI; the request
path itself lives in `container.invocations`. It is a bare WSGI callable, not a framework app:
Flask's per-request machinery cost about 170 us of a 376 us single-row request in process, more
than parsing, predicting and encoding together. The app exists only once the model has loaded,
so /ping answering 200 always means a model is ready.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any, NamedTuple, Protocol

from container.access_log import BYTES_IN, AccessLog
from container.errors import ContainerError, MalformedRequest, MethodNotAllowed, NotFound, PayloadTooLarge
from container.flavours import load_model
from container.invocations import Invoker
from container.outputs import Predictor
from container.script.invoker import from_script
from container.script.locate import find_script
from container.settings import Settings

JSON = "application/json"
Environ = dict[str, Any]
StartResponse = Callable[..., Any]
log = logging.getLogger("byom")
HUGE_LENGTH = 10**18  # a Content-Length this long is read no further: a number past any limit
STATUS_LINES = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}


class RequestPath(Protocol):
    """/invocations' path: `plan` from the headers (refusing what it can before the body is read),
    then `answer` with (content type, body): `Invoker`, or `ScriptInvoker` with a script."""

    @property
    def plan(self) -> Callable[..., Any]: ...

    def answer(self, plan: Any, body: bytes) -> tuple[str, bytes]: ...


class Answer(NamedTuple):
    status: int
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


def create_app(settings: Settings, model: Predictor | None = None) -> AccessLog:
    """Load the model (unless given one) and build the app; raises StartupError on failure. With
    SAGEMAKER_PROGRAM set, requests go through the inference script's hooks."""
    script = find_script(settings)
    if script is not None:
        return AccessLog(Application(settings, from_script(settings, script, model)))
    invoker = Invoker(settings, model if model is not None else load_model(settings))
    return AccessLog(Application(settings, invoker))


class Application:
    def __init__(self, settings: Settings, invoker: RequestPath) -> None:
        self.invoker = invoker
        self.limit = settings.max_body_bytes
        parameters = {
            "MaxConcurrentTransforms": settings.max_concurrent_transforms,
            "BatchStrategy": settings.batch_strategy,
            "MaxPayloadInMB": settings.max_payload_mb,
        }
        self.parameters = Answer(200, JSON, json.dumps(parameters).encode())
        self.routes: dict[str, tuple[str, Callable[[Environ], Answer]]] = {
            "/ping": ("GET", lambda environ: Answer(200, "text/plain", b"")),
            "/execution-parameters": ("GET", lambda environ: self.parameters),
            "/invocations": ("POST", self.invocations),
        }

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        try:
            answer = self.dispatch(environ)
        except ContainerError as error:
            answer = error_answer(error)
        except Exception:
            log.exception(
                "unexpected error while handling %s %s",
                environ.get("REQUEST_METHOD"),
                environ.get("PATH_INFO"),
            )
            answer = error_answer(ContainerError("the server failed to handle this request; see its log"))
        headers = [
            ("Content-Type", answer.content_type),
            ("Content-Length", str(len(answer.body))),
            *answer.headers,
        ]
        start_response(STATUS_LINES[answer.status], headers)
        return [answer.body]

    def dispatch(self, environ: Environ) -> Answer:
        declared = _content_length(environ)
        if declared is not None and declared > self.limit:  # whatever the route: never read
            environ[BYTES_IN] = 0
            raise _too_large(declared, self.limit)
        path = environ.get("PATH_INFO", "")
        route = self.routes.get(path)
        if route is None:
            raise NotFound(f"no such path {path[:100]!r}; the paths are {', '.join(self.routes)}")
        method, handler = route
        if environ.get("REQUEST_METHOD") != method and not _head_of_get(environ, method):
            body = json.dumps(MethodNotAllowed(f"{path} takes {method}").body()).encode()
            return Answer(405, JSON, body, (("Allow", method),))
        return handler(environ)

    def invocations(self, environ: Environ) -> Answer:
        plan = self.invoker.plan(
            environ.get("CONTENT_TYPE"),
            environ.get("HTTP_ACCEPT"),
            environ.get("HTTP_X_AMZN_SAGEMAKER_CUSTOM_ATTRIBUTES"),
            environ.get("HTTP_CONTENT_ENCODING"),
        )
        body = read_body(environ, self.limit)
        environ[BYTES_IN] = len(body)
        content_type, reply = self.invoker.answer(plan, body)
        return Answer(200, _with_charset(content_type), reply)


def read_body(environ: Environ, limit: int) -> bytes:
    """The body, or 413: from Content-Length before reading anything; for a chunked body, once
    limit + 1 bytes have arrived. gunicorn ends `wsgi.input` at Content-Length or the last chunk.
    A body that ends before its Content-Length (the client closed early) is refused, never
    predicted on: its last number may have been cut short.
    """
    declared = _content_length(environ)
    if declared is not None and declared > limit:
        raise _too_large(declared, limit)
    body = _read(environ["wsgi.input"], limit + 1 if declared is None else declared)
    if declared is not None and len(body) < declared:
        raise MalformedRequest(f"the body ended after {len(body)} of the {declared} bytes in Content-Length")
    if len(body) > limit:
        raise PayloadTooLarge(f"the chunked body is larger than the limit of {limit} bytes")
    return body


def _read(stream: Any, size: int) -> bytes:
    try:
        return bytes(stream.read(size))
    except Exception:  # the server's reader raises its own types: a broken chunk, a body cut short
        raise MalformedRequest(
            "the chunked body is broken: a bad chunk size or a missing last chunk"
        ) from None


def error_answer(error: ContainerError) -> Answer:
    close = (("Connection", "close"),) if isinstance(error, PayloadTooLarge) else ()  # leave the rest unread
    return Answer(error.status, JSON, json.dumps(error.body()).encode(), close)


def _content_length(environ: Environ) -> int | None:
    """The declared body length; HUGE_LENGTH for any of more digits than it (over every limit)."""
    text = environ.get("CONTENT_LENGTH") or ""
    if not text:
        return None
    if not (text.isascii() and text.isdigit()):
        raise MalformedRequest(f"Content-Length {text[:40]!r} is not a number")
    return int(text) if len(text) < len(str(HUGE_LENGTH)) else HUGE_LENGTH


def _too_large(declared: int, limit: int) -> PayloadTooLarge:
    size = f"{declared}" if declared < HUGE_LENGTH else f"{HUGE_LENGTH} or more"
    return PayloadTooLarge(f"the body is {size} bytes; the limit is {limit}")


def _head_of_get(environ: Environ, method: str) -> bool:
    """HEAD is answered like GET (gunicorn sends the head alone), as RFC 9110 asks of servers."""
    return method == "GET" and environ.get("REQUEST_METHOD") == "HEAD"


def _with_charset(content_type: str) -> str:
    if content_type.startswith("text/") and "charset" not in content_type.lower():
        return f"{content_type}; charset=utf-8"
    return content_type
