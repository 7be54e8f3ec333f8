"""Read each request whole in the worker's event loop before a thread takes it.

Owns: why slow clients cannot starve the workers or /ping. gthread hands a connection to a thread
as soon as its first bytes arrive, and the thread then blocks until the headers and the body are
in: a dozen clients sending a byte a second hold every thread, and /ping waits behind them. Here
the worker's main loop reads whatever has arrived, without blocking, into a buffer per connection
(`Incoming`), and a thread takes the connection only once its request is complete: headers plus a
Content-Length body, or a chunked body up to the end of the trailer section after its last chunk
(the chunk sizes are followed as they arrive). It is handed over early when reading further
is pointless: a Content-Length over the payload limit (the thread answers 413 unread), headers
longer than HEADER_LIMIT or unreadable framing (the parser answers the error).

Memory: past its first SMALL_REQUEST bytes, a request is read on only while fewer large ones
than there are threads are being read or processed (the worker's `admit_large`); the others wait,
unread, in the kernel. Small requests such as /ping are never held back. Must not know about the
application: it only frames HTTP/1.1 requests.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

HEADER_LIMIT = 64 * 1024  # gunicorn's own limits answer anything larger
SMALL_REQUEST = 64 * 1024  # always read at once: /ping and small invocations never wait
READ_SIZE = 256 * 1024
HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


@dataclass
class Incoming:
    """The bytes of one request received so far, and what they say about its length."""

    deadline: float
    data: bytearray = field(default_factory=bytearray)
    total: int | None = None  # header bytes + Content-Length, once the headers are in
    chunked: bool = False
    next_chunk: int = 0  # in a chunked body, where the next chunk-size line starts
    handover: bool = False  # stop reading: complete, or not worth reading further
    wants_continue: bool = False

    @classmethod
    def starting(cls, timeout: float) -> Incoming:
        return cls(deadline=time.monotonic() + timeout)

    def add(self, chunk: bytes, body_limit: int) -> None:
        self.data += chunk
        if self.total is None and not self.chunked:
            self._read_headers(body_limit)
        if self.chunked:
            self.handover = self.handover or len(self.data) > body_limit or self._chunks_end(body_limit)
        elif self.total is not None:
            self.handover = self.handover or len(self.data) >= self.total

    def _read_headers(self, body_limit: int) -> None:
        end = self.data.find(b"\r\n\r\n")
        if end < 0:
            self.handover = len(self.data) > HEADER_LIMIT
            return
        head = bytes(self.data[:end])
        if head.lower().count(b"\r\ncontent-length:") > 1:
            self.handover = True  # ambiguous framing: the parser answers 400
            return
        fields = header_fields(head)
        self.chunked = "chunked" in fields.get("transfer-encoding", "").lower()
        length = fields.get("content-length", "0").strip()
        if self.chunked:
            self.next_chunk = end + 4
            self.wants_continue = expects_continue(fields)
            return
        if not (length.isascii() and length.isdigit()) or int(length) > body_limit:
            self.handover = True  # the parser or the app answers 400 / 413, unread
            return
        self.total = end + 4 + int(length)
        self.wants_continue = expects_continue(fields) and len(self.data) < self.total

    def _chunks_end(self, body_limit: int) -> bool:
        """Whether the body is complete: the last chunk and its trailers are in. Broken framing or
        a chunk over the payload limit also ends it (the parser answers 400, the app 413)."""
        while (line_end := self.data.find(b"\r\n", self.next_chunk)) >= 0:
            size = bytes(self.data[self.next_chunk : line_end]).partition(b";")[0].strip()
            if not size or not HEX_DIGITS.issuperset(size):
                return True
            length = int(size, 16)
            if length > body_limit:
                return True
            if length == 0:  # then trailer lines, up to an empty one
                return self.data.find(b"\r\n\r\n", line_end) >= 0
            after = line_end + 2 + length
            if len(self.data) < after + 2:
                return False
            if self.data[after : after + 2] != b"\r\n":
                return True
            self.next_chunk = after + 2
        return len(self.data) - self.next_chunk > HEADER_LIMIT  # a size line that never ends


def header_fields(head: bytes) -> dict[str, str]:
    """Header names (lower case) to values; the request line and malformed lines are skipped."""
    fields = {}
    for line in head.split(b"\r\n")[1:]:
        name, colon, value = line.partition(b":")
        if colon:
            fields[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    return fields


def expects_continue(fields: dict[str, str]) -> bool:
    return fields.get("expect", "").lower() == "100-continue"
