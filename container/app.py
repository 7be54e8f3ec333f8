"""The HTTP shell: `create_app(settings)` builds the WSGI app for /ping, /invocations and
/execution-parameters.

Owns: routes, reading the body within the payload limit, and turning every error into
`{"error": code, "message": text}` with its status. The only module that touches Flask; the
request path itself lives in `container.invocations`. The app exists only once the model has
loaded, so /ping answering 200 always means a model is ready.
"""

from __future__ import annotations

import json
import logging

import werkzeug.exceptions
from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from container.access_log import BYTES_IN, AccessLog, access_logger
from container.errors import ContainerError, MethodNotAllowed, NotFound, PayloadTooLarge, RequestError
from container.flavours import load_model
from container.invocations import Invoker
from container.outputs import Predictor
from container.settings import Settings

JSON = "application/json"
HTTP_ERRORS: dict[int, type[RequestError]] = {404: NotFound, 405: MethodNotAllowed}
log = logging.getLogger("byom")


def create_app(settings: Settings, model: Predictor | None = None) -> Flask:
    """Load the model (unless given one) and build the app; raises StartupError on failure."""
    invoker = Invoker(settings, model if model is not None else load_model(settings))
    app = Flask("container")
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False
    _add_routes(app, invoker, settings)
    app.register_error_handler(ContainerError, _container_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    app.wsgi_app = AccessLog(app.wsgi_app, access_logger())  # type: ignore[method-assign]
    return app


def _add_routes(app: Flask, invoker: Invoker, settings: Settings) -> None:
    @app.get("/ping")
    def ping() -> Response:
        return Response(status=200, mimetype="text/plain")

    @app.get("/execution-parameters")
    def execution_parameters() -> Response:
        return jsonify(
            MaxConcurrentTransforms=settings.max_concurrent_transforms,
            BatchStrategy=settings.batch_strategy,
            MaxPayloadInMB=settings.max_payload_mb,
        )

    @app.post("/invocations")
    def invocations() -> Response:
        plan = invoker.plan(
            request.headers.get("Content-Type"),
            request.headers.get("Accept"),
            request.headers.get("X-Amzn-SageMaker-Custom-Attributes"),
        )
        body = _read_body(settings.max_body_bytes)
        request.environ[BYTES_IN] = len(body)
        return Response(invoker.answer(plan, body), mimetype=plan.response_type)


def _read_body(limit: int) -> bytes:
    """The body, or 413: from Content-Length before reading anything; for a chunked body, once
    limit + 1 bytes have arrived (werkzeug's own max-length stream would silently truncate it).
    gunicorn terminates `wsgi.input` at Content-Length or at the last chunk.
    """
    declared = request.content_length
    if declared is not None and declared > limit:
        raise PayloadTooLarge(f"the body is {declared} bytes; the limit is {limit}")
    stream = request.environ["wsgi.input"]
    body: bytes = stream.read(limit + 1 if declared is None else declared)
    if len(body) > limit:
        raise PayloadTooLarge(f"the chunked body is larger than the limit of {limit} bytes")
    return body


def _container_error(error: ContainerError) -> Response:
    response = _json_response(error.body(), error.status)
    if isinstance(error, PayloadTooLarge):
        response.headers["Connection"] = "close"  # do not read the rest of an oversized body
    return response


def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    vocabulary = HTTP_ERRORS.get(status)
    if vocabulary is None:
        return _json_response({"error": "http_error", "message": error.description or ""}, status)
    response = _container_error(vocabulary(error.description or vocabulary.code))
    if isinstance(error, werkzeug.exceptions.MethodNotAllowed) and error.valid_methods:
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response


def _unexpected_error(error: Exception) -> Response:
    log.exception("unexpected error while handling %s %s", request.method, request.path)
    return _container_error(ContainerError("the server failed to handle this request; see its log"))


def _json_response(body: dict[str, str], status: int) -> Response:
    return Response(json.dumps(body), status=status, mimetype=JSON)
