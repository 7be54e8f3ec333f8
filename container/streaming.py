"""Large line-oriented bodies answered a chunk of rows at a time, at memory bounded by the chunk.

Owns: cutting a body into chunks of whole lines (`line_chunks`), and the rule that makes the
chunked answer the whole-body answer to the byte (`answer_by_chunks`). A CSV, JSON Lines or
libsvm body holds one record per line and the CSV and JSON Lines answers hold one line per record,
so the answer to a body is the answers to its chunks joined, as long as every chunk is decoded,
checked and predicted as the whole body would be. Decoding a whole 100 MiB CSV body of narrow
rows took about 16 times its size at once (float64 rows, the parsers' own copies); a chunk of
`BYOM_STREAM_CHUNK_KIB` (1 MiB by default: bench/results/batch.md) costs that much of the chunk
only, and each chunk's answer is kept as bytes until the whole answer is joined.

The whole-body path stays the definition: whatever a chunk refuses (a malformed line, a width
that differs from the first chunk's, a byte-order mark that starts a later chunk, contributions
over the request's limit counted over the chunks so far), the whole body is answered again by the
whole-body path, so its refusal, with its line numbers, is the answer; and a body the whole path
takes is taken. Refusals are rare and cost what they cost before. A body no larger than one
chunk, a JSON document, `application/x-npy` and a JSON answer (one document) take the whole-body
path only. Must not know HTTP or a format: the caller passes a chunk's answer and the whole one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import NamedTuple

from container.codecs.text import UTF8_BOM
from container.errors import ContainerError

LINE_ENDS = b"\r\n"


class ChunkAnswer(NamedTuple):
    """One chunk's encoded answer, the rows it held, and the width they were predicted at."""

    reply: bytes
    rows: int
    width: int


class DiffersFromWhole(Exception):
    """A chunk cannot be answered as part of the whole body: the whole-body path decides (never
    an answer of its own, so not one of container.errors)."""


AnswerChunk = Callable[[bytes, int], ChunkAnswer]  # (chunk, rows before it) -> its answer
AnswerWhole = Callable[[bytes], bytes]


def line_chunks(body: bytes, size: int) -> Iterator[bytes]:
    """The body in pieces of whole lines, each `size` bytes or more up to the end of its last
    line (the last piece may be shorter); the line ends after the last record are left out, as
    the whole-body path strips them."""
    end = len(body)
    while end and body[end - 1] in LINE_ENDS:
        end -= 1
    start = 0
    while start < end:
        cut = body.find(b"\n", start + size - 1, end)
        stop = end if cut < 0 else cut + 1
        yield body[start:stop]
        start = stop


def answer_by_chunks(body: bytes, size: int, answer_chunk: AnswerChunk, answer_whole: AnswerWhole) -> bytes:
    """The answer to `body`, chunk by chunk; the whole-body path's answer when a chunk refuses."""
    try:
        replies = _chunk_replies(body, size, answer_chunk)
    except (ContainerError, DiffersFromWhole):
        return answer_whole(body)
    return b"".join(replies)


def _chunk_replies(body: bytes, size: int, answer_chunk: AnswerChunk) -> list[bytes]:
    replies: list[bytes] = []
    rows, width = 0, None
    for chunk in line_chunks(body, size):
        if replies and chunk.startswith(UTF8_BOM):  # only the body's start may carry one
            raise DiffersFromWhole("a byte-order mark inside the body")
        answer = answer_chunk(chunk, rows)
        if width is not None and answer.width != width:
            raise DiffersFromWhole("rows of another width than the first chunk's")
        replies.append(answer.reply)
        rows, width = rows + answer.rows, answer.width
    return replies
