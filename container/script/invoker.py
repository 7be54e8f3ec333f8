"""One request through the script's hooks, with this container's machinery for the hooks it omits.

Owns the order: `transform_fn(model, body, content_type, accept)`, or `input_fn` -> `predict_fn`
-> `output_fn`, each the user's where the script defines it and the built-in one otherwise. What
the built-in parts can refuse from the headers is still refused before the body is read: the
Content-Type when `input_fn` is the built-in decoder, the Accept when `output_fn` is the built-in
encoder, an output key the built-in model cannot produce; a compressed body always. A user's hook
gets the body as `str` for application/json and text/csv (as AWS's toolkit gives it) and as
`bytes` otherwise, and the Accept header (the default type when it is missing or `*/*`). Its
answer is bytes or str, or `(body, content_type)`; the content type is otherwise that Accept.
Same shape as `container.invocations.Invoker`: `plan` from the headers, then `answer`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from werkzeug.http import parse_options_header

from container.codecs import Decoder
from container.errors import ContainerError, MalformedRequest, ModelLoadError
from container.flavours import load_model
from container.invocations import (
    PLANS,
    check_not_encoded,
    decoder_for,
    default_accept,
    default_keys,
    negotiate,
)
from container.outputs import Predictor, check_supported, keys_from_custom_attributes
from container.script import defaults
from container.script.hooks import Context, Hook, ScriptFailed, load
from container.script.locate import Script
from container.settings import Settings

TEXT_BODIES = frozenset({"application/json", "text/csv"})


def from_script(settings: Settings, script: Script, model: Predictor | None = None) -> ScriptInvoker:
    """The script's hooks, imported and checked, around its model: its model_fn's, else this
    container's (loaded and proven as without a script); StartupError on any failure."""
    hooks = load(script)
    if "model_fn" in hooks:
        model = user_model(hooks["model_fn"], settings)
    elif model is None:
        model = load_model(settings)
    return ScriptInvoker(settings, hooks, model)


def user_model(model_fn: Hook, settings: Settings) -> Any:
    try:
        model = model_fn(str(settings.model_dir), context=Context(str(settings.model_dir)))
    except ContainerError as error:
        raise ModelLoadError(error.message) from None
    if model is None:
        raise ModelLoadError(f"{model_fn.script} model_fn returned None; return the model")
    return model


@dataclass(frozen=True)
class ScriptPlan:
    context: Context
    decoder: Decoder | None  # the built-in decoder, when the script has no input_fn
    params: Mapping[str, str]
    response_type: str | None  # the built-in encoder's type, when the script has no output_fn
    keys: tuple[str, ...] | None
    text_body: bool  # a user's hook gets the body as str


class ScriptInvoker:
    def __init__(self, settings: Settings, hooks: dict[str, Hook], model: Any) -> None:
        self.hooks = hooks
        self.model = model
        self.builtin_model: Predictor | None = None if "model_fn" in hooks else model
        self.model_dir = str(settings.model_dir)
        self.batch = settings.batch
        self.default_accept = default_accept(settings.default_accept)
        self.default_keys = default_keys(settings.inference_output, self.builtin_model)
        self.user_reads = "input_fn" in hooks or "transform_fn" in hooks
        self.user_writes = "output_fn" in hooks or "transform_fn" in hooks
        self.plan = functools.lru_cache(maxsize=PLANS)(self._plan)

    def _plan(
        self,
        content_type: str | None,
        accept: str | None,
        custom_attributes: str | None,
        content_encoding: str | None = None,
    ) -> ScriptPlan:
        check_not_encoded(content_encoding)
        given_accept = accept if accept and accept.strip() != "*/*" else self.default_accept
        response_type = None if self.user_writes else negotiate(accept, self.default_accept, self.batch)
        decoder, params = (None, {}) if self.user_reads else decoder_for(content_type)
        keys = keys_from_custom_attributes(custom_attributes) or self.default_keys
        if keys is not None and self.builtin_model is not None and "predict_fn" not in self.hooks:
            check_supported(keys, self.builtin_model)
        mimetype = parse_options_header(content_type or "")[0].lower()
        context = Context(self.model_dir, content_type, given_accept, custom_attributes)
        return ScriptPlan(context, decoder, params, response_type, keys, mimetype in TEXT_BODIES)

    def answer(self, plan: ScriptPlan, body: bytes) -> tuple[str, bytes]:
        """(response content type, response body)."""
        context = plan.context
        if "transform_fn" in self.hooks:
            arguments = (self.model, self._user_body(plan, body), context.content_type, context.accept)
            return self._reply(
                self.hooks["transform_fn"](*arguments, context=context), context, "transform_fn"
            )
        data = self._read(plan, body)
        prediction = self._predict(plan, data)
        if "output_fn" in self.hooks:
            reply = self.hooks["output_fn"](prediction, context.accept, context=context)
            return self._reply(reply, context, "output_fn")
        assert plan.response_type is not None
        return plan.response_type, defaults.encode(prediction, plan.response_type)

    def _read(self, plan: ScriptPlan, body: bytes) -> Any:
        if "input_fn" in self.hooks:
            context = plan.context
            return self.hooks["input_fn"](self._user_body(plan, body), context.content_type, context=context)
        assert plan.decoder is not None
        return plan.decoder(body, plan.params)

    def _predict(self, plan: ScriptPlan, data: Any) -> Any:
        if "predict_fn" in self.hooks:
            return self.hooks["predict_fn"](data, self.model, context=plan.context)
        if self.builtin_model is not None:
            return defaults.predict_builtin(data, self.builtin_model, plan.keys)
        return defaults.predict_with_own_method(data, self.model, self.hooks["model_fn"].script)

    @staticmethod
    def _user_body(plan: ScriptPlan, body: bytes) -> str | bytes:
        if not plan.text_body:
            return body
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError as error:
            raise MalformedRequest(f"the body is not valid UTF-8 (byte {error.start})") from None

    def _reply(self, reply: Any, context: Context, hook: str) -> tuple[str, bytes]:
        content_type = context.accept or self.default_accept
        if isinstance(reply, tuple) and len(reply) == 2:
            reply, content_type = reply
        if isinstance(reply, str):
            return str(content_type), reply.encode("utf-8")
        if isinstance(reply, bytes | bytearray | memoryview):
            return str(content_type), bytes(reply)
        script = self.hooks[hook].script
        raise ScriptFailed(
            f"{script} {hook} returned a {type(reply).__name__}; return bytes or str, or (body, content_type)"
        )
