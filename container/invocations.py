"""One /invocations request as plain functions: headers to a Plan, then body to an answer.

Owns: the order of the request path. Everything that can be refused from the headers alone
(Accept, Content-Type and Content-Encoding, selected outputs) is refused in `plan`, before the
body is read, decoded or predicted on. Must not know WSGI: the web shell hands it header strings
and body bytes.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import cast

from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header, parse_options_header

from container import streaming
from container.codecs import DECODERS, ENCODERS, LINE_ANSWERS, LINE_BODIES, Decoder, Encoder
from container.errors import ConfigurationError, NotAcceptable, UnsupportedMediaType, UnsupportedOutput
from container.outputs import (
    CONTRIBUTIONS,
    Explains,
    Predictor,
    check_supported,
    check_work,
    keys_from_custom_attributes,
    parse_keys,
    predict,
)
from container.schema import conform
from container.settings import Settings

JSON_LINES = "application/jsonlines"
IDENTITY_CODINGS = frozenset({"", "identity"})
# Clients repeat their headers, so each combination is planned once: planning was 19,000 of the
# 220,000 instructions of a 1-row XGBoost request in process (callgrind). Headers that vary per
# request (say a trace id in custom attributes) cost a cache miss each; the oldest plans make way.
PLANS = 256


@dataclass(frozen=True)
class Plan:
    """What a request's headers decide; shared by every request with the same headers."""

    decoder: Decoder
    params: Mapping[str, str]
    encoder: Encoder
    response_type: str
    keys: tuple[str, ...] | None
    by_lines: bool = False  # a body of records per line, answered a line per record: chunkable


class Invoker:
    def __init__(self, settings: Settings, model: Predictor) -> None:
        self.model = model
        self.batch = settings.batch
        self.max_row_trees = settings.max_contribution_row_trees
        self.chunk_bytes = settings.stream_chunk_bytes
        self.default_accept = default_accept(settings.default_accept)
        self.default_keys = default_keys(settings.inference_output, model)
        self.plan = functools.lru_cache(maxsize=PLANS)(self._plan)

    def _plan(
        self,
        content_type: str | None,
        accept: str | None,
        custom_attributes: str | None,
        content_encoding: str | None = None,
    ) -> Plan:
        response_type = self._negotiate(accept)
        decoder, params = decoder_for(content_type)
        check_not_encoded(content_encoding)
        keys = keys_from_custom_attributes(custom_attributes) or self.default_keys
        if keys is not None:
            check_supported(keys, self.model)
        by_lines = decoder in LINE_BODIES and response_type in LINE_ANSWERS
        return Plan(decoder, params, ENCODERS[response_type], response_type, keys, by_lines)

    def answer(self, plan: Plan, body: bytes) -> tuple[str, bytes]:
        """(response content type, response body): a large body of lines a chunk of rows at a
        time (container.streaming), any other whole; the same bytes either way."""
        if plan.by_lines and len(body) > self.chunk_bytes:
            whole = functools.partial(self._whole, plan)
            chunk = functools.partial(self._chunk, plan)
            return plan.response_type, streaming.answer_by_chunks(body, self.chunk_bytes, chunk, whole)
        return plan.response_type, self._whole(plan, body)

    def _whole(self, plan: Plan, body: bytes) -> bytes:
        rows = conform(plan.decoder(body, plan.params), self.model.schema)
        return plan.encoder(predict(self.model, rows, plan.keys, self.max_row_trees))

    def _chunk(self, plan: Plan, chunk: bytes, rows_before: int) -> streaming.ChunkAnswer:
        """One chunk's answer; the contributions limit counts the rows of the chunks before it."""
        rows = conform(plan.decoder(chunk, plan.params), self.model.schema)
        if plan.keys is not None and CONTRIBUTIONS in plan.keys:
            check_work(cast(Explains, self.model), rows_before + rows.shape[0], self.max_row_trees)
        reply = plan.encoder(predict(self.model, rows, plan.keys, self.max_row_trees))
        return streaming.ChunkAnswer(reply, rows.shape[0], rows.shape[1])

    def _negotiate(self, accept: str | None) -> str:
        return negotiate(accept, self.default_accept, self.batch)


@functools.lru_cache(maxsize=256)  # clients repeat their Accept header; parsing it costs ~16 us
def negotiate(accept: str | None, default: str, batch: bool) -> str:
    """The response type for an Accept header; NotAcceptable when no encoder matches."""
    chosen = default
    if accept and accept.strip() != "*/*":
        offered = [default, *(mimetype for mimetype in ENCODERS if mimetype != default)]
        match = parse_accept_header(accept, MIMEAccept).best_match(offered)
        if match is None:
            raise NotAcceptable(f"cannot answer in {accept!r}; accepted: {', '.join(ENCODERS)}")
        chosen = match
    # Batch transform joins output by line: JSON answers one record per line there.
    return JSON_LINES if batch and chosen == "application/json" else chosen


def decoder_for(content_type: str | None) -> tuple[Decoder, Mapping[str, str]]:
    """The decoder for a Content-Type and its parameters (lower-cased names); 415 when none."""
    mimetype, params = parse_options_header(content_type or "")
    decoder = DECODERS.get(mimetype.lower())
    if decoder is None:
        supported = ", ".join(DECODERS)
        raise UnsupportedMediaType(
            f"Content-Type {content_type or '(none)'!r} is not supported; send one of {supported}"
        )
    return decoder, MappingProxyType({k.lower(): v for k, v in params.items()})  # shared: read-only


def check_not_encoded(content_encoding: str | None) -> None:
    """A compressed body would be decoded as garbage: refuse it by its header (RFC 9110: 415)."""
    coding = (content_encoding or "").strip().lower()
    if coding not in IDENTITY_CODINGS:
        raise UnsupportedMediaType(
            f"Content-Encoding {coding[:40]!r} is not supported; send the body uncompressed"
        )


def default_accept(value: str) -> str:
    mimetype = parse_options_header(value)[0].lower()
    if mimetype not in ENCODERS:
        raise ConfigurationError(
            f"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT={value!r}: expected one of {', '.join(ENCODERS)}"
        )
    return mimetype


def default_keys(text: str | None, model: Predictor | None) -> tuple[str, ...] | None:
    """SAGEMAKER_INFERENCE_OUTPUT's keys, checked against the model when it is one of ours."""
    if text is None:
        return None
    try:
        keys = parse_keys(text)
        if model is not None:
            check_supported(keys, model)
    except UnsupportedOutput as error:
        raise ConfigurationError(f"SAGEMAKER_INFERENCE_OUTPUT={text!r}: {error.message}") from None
    return keys
