"""Importing the script and checking its hooks before anything is served; calling them after.

Owns: the import (the script's directory, then its `lib/`, first on the import path; the module
under its own name, which must not be another module's already imported), the rules a script
must meet (at least one hook; `transform_fn` alone, never beside `input_fn`, `predict_fn` or
`output_fn`; each hook taking its arguments, plus an optional trailing `context`, as AWS's
toolkit counts them), and what a hook's failure becomes: this container's own errors pass
through; an exception with a `status_code` of 400-499 (sagemaker_inference's errors have one) is
that status with the JSON error body; anything else is a 500 with the JSON body, logged with its
traceback. Every problem found at import is a StartupError naming the file: the server stops at
boot with that one line.
"""

from __future__ import annotations

import importlib.util
import inspect
import logging
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from types import ModuleType
from typing import Any

from container.errors import ConfigurationError, ContainerError, RequestError
from container.script import requirements
from container.script.locate import HOOK_NAMES, Script

log = logging.getLogger("byom")

ARGUMENTS = {
    "model_fn": ("model_dir",),
    "input_fn": ("body", "content_type"),
    "predict_fn": ("data", "model"),
    "output_fn": ("prediction", "accept"),
    "transform_fn": ("model", "body", "content_type", "accept"),
}
REPLACED_BY_TRANSFORM = ("input_fn", "predict_fn", "output_fn")


@dataclass(frozen=True)
class Context:
    """A hook's optional last argument: the request as far as hooks may need it."""

    model_dir: str
    content_type: str | None = None
    accept: str | None = None
    custom_attributes: str | None = None


class RefusedByScript(RequestError):
    """A hook refused the request with its own 4xx."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")


class ScriptFailed(ContainerError):
    """A hook raised something else: 500, with the hook and the exception named."""

    code = "inference_script_error"


@dataclass(frozen=True)
class Hook:
    name: str
    function: Callable[..., Any]
    takes_context: bool
    script: str  # the file name, for messages

    def __call__(self, *arguments: Any, context: Context) -> Any:
        try:
            return self.function(*arguments, context) if self.takes_context else self.function(*arguments)
        except ContainerError:
            raise
        except Exception as error:
            status = getattr(error, "status_code", None)
            if isinstance(status, int) and 400 <= status <= 499:
                raise RefusedByScript(status, str(error) or HTTPStatus(status).phrase) from error
            log.exception("%s %s raised %s", self.script, self.name, type(error).__name__)
            raise ScriptFailed(f"{self.script} {self.name} raised {describe(error)}") from error


def load(script: Script) -> dict[str, Hook]:
    """The script's hooks by name, after the import and every check; StartupError otherwise."""
    module = import_script(script)
    found = {name: getattr(module, name) for name in HOOK_NAMES if callable(getattr(module, name, None))}
    if not found:
        raise ConfigurationError(f"{script.path} defines none of {', '.join(HOOK_NAMES)}")
    beside = [name for name in REPLACED_BY_TRANSFORM if name in found]
    if "transform_fn" in found and beside:
        raise ConfigurationError(
            f"{script.path} defines transform_fn and {', '.join(beside)}: transform_fn replaces "
            "input_fn, predict_fn and output_fn, so define it alone or define the others"
        )
    return {name: Hook(name, function, takes_context(script, name, function), script.path.name)
            for name, function in found.items()}  # fmt: skip


def import_script(script: Script) -> ModuleType:
    name = script.module_name
    imported = sys.modules.get(name)
    if imported is not None and getattr(imported, "__file__", None) == str(script.path):
        return imported  # this process imported it already (an app built twice, as tests do)
    if imported is not None:
        raise ConfigurationError(
            f"SAGEMAKER_PROGRAM={script.path.name}: a module named {name} is already imported "
            "(a library's); rename the script"
        )
    for directory in (script.lib, script.directory):  # the script's own folder ends up first
        if str(directory) not in sys.path:
            sys.path.insert(0, str(directory))
    requirements.check(script.requirements, script.lib)
    try:
        return _import_file(name, script.path)
    except BaseException as error:  # its SystemExit or KeyboardInterrupt too: it must not stop us silently
        sys.modules.pop(name, None)
        raise ConfigurationError(
            f"{script.path} failed to import: {describe(error)}{line_in(script, error)}"
        ) from None


def _import_file(name: str, path: Path) -> ModuleType:
    """The file imported as module `name` (registered before it runs, as an import would)."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path} cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def takes_context(script: Script, name: str, function: Callable[..., Any]) -> bool:
    expected = ARGUMENTS[name]
    try:
        count = len(inspect.signature(function).parameters)
    except (TypeError, ValueError):  # a builtin without a signature: called without context
        return False
    if count not in (len(expected), len(expected) + 1):
        raise ConfigurationError(
            f"{script.path}: {name} takes {count} parameter{'s' * (count != 1)}; it is called as "
            f"{name}({', '.join(expected)}[, context])"
        )
    return count == len(expected) + 1


def describe(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:300]}" if text else type(error).__name__


def line_in(script: Script, error: BaseException) -> str:
    """` (line N)` of the script where the import failed, when the failure was in it."""
    if isinstance(error, SyntaxError) and error.lineno and error.filename == str(script.path):
        return f" (line {error.lineno})"
    frames = [
        frame for frame in traceback.extract_tb(error.__traceback__) if frame.filename == str(script.path)
    ]
    return f" (line {frames[-1].lineno})" if frames else ""
