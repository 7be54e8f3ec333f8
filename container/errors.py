"""The error vocabulary: every failure the server reports, each carrying its HTTP status.

    ContainerError (500 internal_error)     our own bug; the body never says more
    ├── InsufficientMemory (507)            multi-model: a load that would not fit in memory
    ├── StartupError                        stops the server before it serves anything
    │   ├── ConfigurationError              a bad environment variable
    │   └── ModelLoadError                  no model, several candidates, unreadable artifact
    ├── TrainingError                       stops a training job; its message becomes output/failure
    └── RequestError                        the client's mistake: always 4xx, never 5xx
        ├── MalformedRequest (400)          the body is not valid in its declared format
        ├── UnsupportedOutput (400)         an output key the model cannot produce
        ├── RefusedModel (400)              multi-model: a model that cannot be loaded
        ├── NotFound (404), MethodNotAllowed (405)
        ├── NotAcceptable (406)             no supported type in Accept
        ├── RequestTimeout (408)            the request did not arrive whole in time
        ├── Conflict (409)                  multi-model: the name is loaded already
        ├── PayloadTooLarge (413)           body over the payload limit
        ├── ExplanationTooLarge (413)       contributions asked for more rows x trees than allowed
        ├── UnsupportedMediaType (415)      Content-Type we cannot decode
        └── InvalidData (422)               well-formed, but not valid input for this model

Every response body is `{"error": code, "message": text}`: no traceback, no file path.
"""

from __future__ import annotations


class ContainerError(Exception):
    """Base of every error the server raises on purpose."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def body(self) -> dict[str, str]:
        return {"error": self.code, "message": self.message}


class StartupError(ContainerError):
    code = "startup_error"


class ConfigurationError(StartupError):
    code = "configuration_error"


class ModelLoadError(StartupError):
    code = "model_load_error"


class InsufficientMemory(ContainerError):
    status = 507
    code = "insufficient_memory"


class TrainingError(ContainerError):
    code = "training_error"


class RequestError(ContainerError):
    status = 400
    code = "bad_request"


class MalformedRequest(RequestError):
    status = 400
    code = "malformed_request"


class UnsupportedOutput(RequestError):
    status = 400
    code = "unsupported_output"


class RefusedModel(RequestError):
    status = 400
    code = "model_load_error"


class NotFound(RequestError):
    status = 404
    code = "not_found"


class MethodNotAllowed(RequestError):
    status = 405
    code = "method_not_allowed"


class NotAcceptable(RequestError):
    status = 406
    code = "not_acceptable"


class RequestTimeout(RequestError):
    status = 408
    code = "request_timeout"


class Conflict(RequestError):
    status = 409
    code = "conflict"


class PayloadTooLarge(RequestError):
    status = 413
    code = "payload_too_large"


class ExplanationTooLarge(RequestError):
    status = 413
    code = "explanation_too_large"


class UnsupportedMediaType(RequestError):
    status = 415
    code = "unsupported_media_type"


class InvalidData(RequestError):
    status = 422
    code = "invalid_data"
