"""The codecs: request bodies to tables and predictions to answers, one module per content type.

Owns: the two registries, DECODERS (request content type -> decoder) and ENCODERS (response
content type -> encoder); adding a content type is one module and one entry here. Each decoder
takes the body bytes and the Content-Type parameters and returns a Table, or raises
MalformedRequest (400: not valid in its declared format) or InvalidData (422: valid, but not
numeric input); its routes (`routes.py`) make some bodies faster, its strict path defines what is
accepted. Must not know the model: feature counts and missing-value rules are checked later, in
`schema.conform`.
"""

from __future__ import annotations

from collections.abc import Callable

from container.codecs import csv, json, jsonlines, libsvm, npy
from container.codecs.routes import Decoder
from container.outputs import Prediction

Encoder = Callable[[Prediction], bytes]

__all__ = ["DECODERS", "ENCODERS", "LINE_ANSWERS", "LINE_BODIES", "Decoder", "Encoder"]

DECODERS: dict[str, Decoder] = {
    "text/csv": csv.decode_csv,
    "application/json": json.decode_json,
    "application/jsonlines": jsonlines.decode_jsonlines,
    "application/x-jsonlines": jsonlines.decode_jsonlines,
    "text/libsvm": libsvm.decode_libsvm,
    "text/x-libsvm": libsvm.decode_libsvm,
    "application/x-npy": npy.decode_npy,
}

ENCODERS: dict[str, Encoder] = {
    "text/csv": csv.encode_csv,
    "application/json": json.encode_json,
    "application/jsonlines": jsonlines.encode_jsonlines,
}

# One record per line in, one line per record out: a body of these can be answered a chunk of
# lines at a time (container.streaming). A JSON or npy body is one document, as is a JSON answer.
LINE_BODIES = frozenset({csv.decode_csv, jsonlines.decode_jsonlines, libsvm.decode_libsvm})
LINE_ANSWERS = frozenset({"text/csv", "application/jsonlines"})
