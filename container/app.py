"""The HTTP shell: `create_app(settings)` builds the WSGI application for /ping, /invocations and
/execution-parameters, or in multi-model mode /ping, /execution-parameters and the /models routes
(container.multimodel).

Owns: routing, reading the body within the payload limit, and turning every error into
`{"error": code, "message": text}` with its status. The only module that speaks WSGI; the request
path itself lives in `container.invocations`. It is a bare WSGI callable, not a framework app:
Flask's per-request machinery cost about 170 us of a 376 us single-row request in process, more
than parsing, predicting and encoding together. The app exists only once the model has loaded,
so /ping answering 200 always means a model is ready (in multi-model mode: that the server is,
with or without models).
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any, NamedTuple, Protocol

from container import batch_limits
from container.access_log import BYTES_IN, MODEL, MODEL_SECONDS, AccessLog, RequestObserver
from container.errors import ContainerError, MalformedRequest, MethodNotAllowed, NotFound, PayloadTooLarge
from container.flavours import load_model
from container.invocations import Invoker
from container.multimodel import api
from container.multimodel.models import LoadedModels, ModelEvents
from container.multimodel.registry import Registry
from container.outputs import Predictor
from container.script.invoker import from_script
from container.script.locate import Script, find_model_script, find_script
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


def create_app(
    settings: Settings,
    model: Predictor | None = None,
    registry: Registry | None = None,
    events: ModelEvents | None = None,
    observer: RequestObserver | None = None,
) -> AccessLog:
    """Load the model (unless given one) and build the app; raises StartupError on failure. With
    SAGEMAKER_PROGRAM set, requests go through the inference script's hooks. In multi-model mode
    the app starts with the models the registry lists (a private one unless given the server's),
    telling `events` (the metrics) of each load. `observer` (the metrics) hears of each request."""
    if settings.multi_model:
        models = LoadedModels(settings, registry or Registry.private(), model_request_path, events)
        models.start()
        return AccessLog(Application(settings, None, models), observer=observer)
    path = request_path(settings, find_script(settings), model)
    return AccessLog(Application(settings, path), observer=observer)


def request_path(settings: Settings, script: Script | None, model: Predictor | None = None) -> RequestPath:
    """How a request reaches the model of settings.model_dir: through the script's hooks, or not."""
    if script is not None:
        return from_script(settings, script, model)
    return Invoker(settings, model if model is not None else load_model(settings))


def model_request_path(settings: Settings, name: str) -> RequestPath:
    """One model of many (settings.model_dir is its directory), with its own script if it has one."""
    return request_path(settings, find_model_script(settings, name))


Handler = Callable[[Environ], Answer]


class Application:
    def __init__(
        self, settings: Settings, invoker: RequestPath | None, models: LoadedModels | None = None
    ) -> None:
        self.invoker = invoker
        self.models = models
        self.limit = settings.max_body_bytes
        fits = batch_limits.fitting(
            batch_limits.memory_limit_bytes(settings.system_root),
            settings.workers,
            settings.memory_reserve_mb,
            settings.max_payload_mb,
            settings.max_concurrent_transforms,
        )
        parameters = {
            "MaxConcurrentTransforms": fits.max_concurrent_transforms,
            "BatchStrategy": settings.batch_strategy,
            "MaxPayloadInMB": fits.max_payload_mb,
        }
        self.parameters = Answer(200, JSON, json.dumps(parameters).encode())
        self.routes: dict[str, dict[str, Handler]] = {
            "/ping": {"GET": lambda environ: Answer(200, "text/plain", b"")},
            "/execution-parameters": {"GET": lambda environ: self.parameters},
        }
        if invoker is not None:
            self.routes["/invocations"] = {"POST": functools.partial(self.invocations, invoker=invoker)}
        if models is not None:
            self.routes["/invocations"] = {"POST": _multi_model_invocations}
            self.routes["/models"] = {
                "GET": functools.partial(self.list_models, models=models),
                "POST": functools.partial(self.load_model, models=models),
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
        route = self.routes.get(path) or self.model_route(path)
        if route is None:
            raise NotFound(f"no such path {path[:100]!r}; the paths are {', '.join(self.routes)}")
        method = environ.get("REQUEST_METHOD", "")
        handler = route.get("GET" if method == "HEAD" else method)  # HEAD as GET (RFC 9110)
        if handler is None:
            allowed = ", ".join(route)
            body = json.dumps(MethodNotAllowed(f"{path[:100]} takes {allowed}").body()).encode()
            return Answer(405, JSON, body, (("Allow", allowed),))
        return handler(environ)

    def model_route(self, path: str) -> dict[str, Handler] | None:
        """/models/NAME and /models/NAME/invoke, in multi-model mode."""
        if self.models is None or not path.startswith("/models/"):
            return None
        name, _, action = path.removeprefix("/models/").partition("/")
        models = self.models
        if action == "invoke":
            return {"POST": functools.partial(self.invoke, models=models, name=name)}
        if action == "" and name:
            return {"GET": functools.partial(self.describe_model, models=models, name=name),
                    "DELETE": functools.partial(self.unload_model, models=models, name=name)}  # fmt: skip
        return None

    def invocations(self, environ: Environ, invoker: RequestPath) -> Answer:
        plan = invoker.plan(
            environ.get("CONTENT_TYPE"),
            environ.get("HTTP_ACCEPT"),
            environ.get("HTTP_X_AMZN_SAGEMAKER_CUSTOM_ATTRIBUTES"),
            environ.get("HTTP_CONTENT_ENCODING"),
        )
        body = read_body(environ, self.limit)
        environ[BYTES_IN] = len(body)
        started = time.perf_counter()
        try:
            content_type, reply = invoker.answer(plan, body)
        finally:  # a refusal of the body (400) took model time too
            environ[MODEL_SECONDS] = time.perf_counter() - started
        return Answer(200, _with_charset(content_type), reply)

    def invoke(self, environ: Environ, models: LoadedModels, name: str) -> Answer:
        environ[MODEL] = name
        return self.invocations(environ, models.get(name))

    def load_model(self, environ: Environ, models: LoadedModels) -> Answer:
        body = read_body(environ, self.limit)
        environ[BYTES_IN] = len(body)
        return _json(api.load(models, body))

    def list_models(self, environ: Environ, models: LoadedModels) -> Answer:
        return _json(api.listing(models, environ.get("QUERY_STRING", "")))

    def describe_model(self, environ: Environ, models: LoadedModels, name: str) -> Answer:
        environ[MODEL] = name
        return _json(api.describe(models, name))

    def unload_model(self, environ: Environ, models: LoadedModels, name: str) -> Answer:
        environ[MODEL] = name
        return _json(api.unload(models, name))


def _multi_model_invocations(environ: Environ) -> Answer:
    raise NotFound("this is a multi-model endpoint: invoke a model with POST /models/NAME/invoke")


def _json(payload: object) -> Answer:
    return Answer(200, JSON, json.dumps(payload).encode())


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


def _with_charset(content_type: str) -> str:
    if content_type.startswith("text/") and "charset" not in content_type.lower():
        return f"{content_type}; charset=utf-8"
    return content_type
