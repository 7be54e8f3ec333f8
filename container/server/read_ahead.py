"""Read each request in the worker's event loop, without blocking, until what is in hand decides
its answer.

Owns: the framing of HTTP/1.1 requests as they arrive, and why slow or hostile clients cannot
hold a thread or the event loop. gthread hands a connection to a thread as soon as its first bytes
arrive, and the thread then blocks until the headers and the body are in: a dozen clients sending
a byte a second hold every thread, and /ping waits behind them. Here the worker's event loop reads
whatever has arrived into a buffer per connection (`Incoming`), and nothing else touches the
request until its `verdict` is in:
- WHOLE: the headers plus a Content-Length body, or a chunked body up to the end of the trailer
  section after its last chunk (the chunk sizes are followed as they arrive). Bytes after it are
  the start of the next request on the connection (`split`).
- DECIDED: not whole, but what is in hand decides the answer, and reading on is pointless or
  unbounded: a Content-Length over the payload limit (refused with 413 from the headers, the body
  never read), a chunked body past the limit (413 once limit + 1 bytes of it are in), framing
  gunicorn refuses (bare LF or CR line ends, an unknown or repeated Transfer-Encoding, a
  Content-Length that is not a number or comes twice, a chunk size that is not one), headers
  longer than HEADER_LIMIT, or a client that closed early (400). The connection closes after the
  answer.

Whatever the verdict, the request is then parsed from these bytes alone, never from the socket, so
no parser ever waits on a client (see container.server.worker). Must not know about the application: it
only frames HTTP/1.1 requests.
"""

from __future__ import annotations

import enum
import re
import time
from dataclasses import dataclass, field

HEADER_LIMIT = 64 * 1024  # headers longer than this are refused (gunicorn's own limits answer)
SMALL_REQUEST = 64 * 1024  # always read at once: /ping and small invocations never wait
READ_SIZE = 256 * 1024
CHUNK_LINE_LIMIT = 1024  # a chunk-size line (hex digits and extensions) longer than this is broken
MAX_DIGITS = 18  # a Content-Length or chunk size with more digits is over any payload limit
HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
BARE_LINE_END = re.compile(rb"\r(?!\n)|(?<!\r)\n")  # a CR or an LF alone: gunicorn refuses both


class Verdict(enum.Enum):
    WHOLE = "whole"  # one whole request; the connection may be kept alive
    DECIDED = "decided"  # what is in hand decides the answer; the connection closes after it


@dataclass
class Incoming:
    """The bytes of one request received so far, and what they say about its length."""

    deadline: float
    data: bytearray = field(default_factory=bytearray)
    progressed_at: float = 0.0  # when bytes last arrived
    verdict: Verdict | None = None
    end: int = 0  # with WHOLE: where the request ends in `data`
    head_end: int = 0  # where the headers end (after the blank line), once they are in
    total: int | None = None  # with a Content-Length: head_end + Content-Length
    chunked: bool = False
    next_chunk: int = 0  # in a chunked body, where the next chunk-size line starts
    body_in_hand: int = 0  # in a chunked body, the bytes of the completed chunks
    body_unread: bool = False  # refused from the headers: the body is not read
    scanned: int = 0  # how far the headers were searched for their end
    wants_continue: bool = False

    @classmethod
    def starting(cls, timeout: float) -> Incoming:
        now = time.monotonic()
        return cls(deadline=now + timeout, progressed_at=now)

    @property
    def handover(self) -> bool:
        """Whether reading has ended: the request goes to the parser and the app."""
        return self.verdict is not None

    def add(self, chunk: bytes, body_limit: int) -> None:
        """Take what the client sent next; an empty chunk means the client closed its side."""
        if self.verdict is not None:
            return
        if not chunk:
            self.verdict = Verdict.DECIDED  # cut short: the parser or the app answers 400
            return
        self.data += chunk
        self.progressed_at = time.monotonic()
        if not self.head_end:
            self._read_headers(body_limit)
        if self.verdict is None and self.chunked:
            self._read_chunks(body_limit)
        elif self.verdict is None and self.total is not None and len(self.data) >= self.total:
            self._whole(self.total)

    def split(self) -> tuple[bytes, bytes]:
        """The request's bytes to parse, and the bytes after it (the next request's start).

        A request refused from its headers for a Content-Length over the limit is given without
        the part of its body in hand: the app never reads it."""
        data = memoryview(self.data)  # sliced without a copy: a bytearray's slice is one more
        try:
            if self.verdict is Verdict.WHOLE:
                return bytes(data[: self.end]), bytes(data[self.end :])
            if self.body_unread:
                return bytes(data[: self.head_end]), b""
            return bytes(data), b""
        finally:
            data.release()  # the buffer may grow or be freed again

    @property
    def reading_large_body(self) -> bool:
        return len(self.data) >= SMALL_REQUEST

    def _whole(self, end: int) -> None:
        self.verdict, self.end = Verdict.WHOLE, end

    def _read_headers(self, body_limit: int) -> None:
        end = self.data.find(b"\r\n\r\n", max(0, self.scanned - 3))
        if end < 0:
            # Searched from where the last search ended: a client trickling its headers a byte at
            # a time costs a scan of each byte, not of the whole buffer at every byte.
            alone = BARE_LINE_END.search(self.data, max(0, self.scanned - 1))
            self.scanned = len(self.data)
            if len(self.data) > HEADER_LIMIT or (alone and alone.end() < len(self.data)):  # a CR may be last
                self.verdict = Verdict.DECIDED
            return
        head = bytes(self.data[:end])
        self.head_end = end + 4
        framing = Framing.of(head)
        if framing.refused or BARE_LINE_END.search(head):
            self.verdict = Verdict.DECIDED  # the parser answers 400 or 501 from the headers
        elif framing.chunked:
            self.chunked, self.next_chunk = True, self.head_end
            self.wants_continue = framing.expects_continue
        elif framing.length > body_limit:
            self.verdict, self.body_unread = Verdict.DECIDED, True  # the app answers 413 unread
        else:
            self.total = self.head_end + framing.length
            self.wants_continue = framing.expects_continue and len(self.data) < self.total

    def _read_chunks(self, body_limit: int) -> None:
        """Follow the chunks in hand: the body is whole once the last chunk and its trailers are
        in; it is decided once more than the limit of it is in (the app answers 413) or its
        framing breaks (400)."""
        while (line_end := self.data.find(b"\r\n", self.next_chunk)) >= 0:
            size = bytes(self.data[self.next_chunk : line_end]).partition(b";")[0].strip()
            if not size or len(size) > MAX_DIGITS or not HEX_DIGITS.issuperset(size):
                self.verdict = Verdict.DECIDED
                return
            length = int(size, 16)
            if length == 0:  # then trailer lines, up to an empty one
                trailers_end = self.data.find(b"\r\n\r\n", line_end)
                if trailers_end >= 0:
                    self._whole(trailers_end + 4)
                return
            after = line_end + 2 + length
            if len(self.data) < after + 2:
                if self.body_in_hand + min(len(self.data) - line_end - 2, length) > body_limit:
                    self.verdict = Verdict.DECIDED
                return
            if self.data[after : after + 2] != b"\r\n":
                self.verdict = Verdict.DECIDED
                return
            self.body_in_hand += length
            self.next_chunk = after + 2
            if self.body_in_hand > body_limit:
                self.verdict = Verdict.DECIDED
                return
        line = bytes(self.data[self.next_chunk : self.next_chunk + CHUNK_LINE_LIMIT + 1])
        size, extension, _ = line.rstrip(b"\r").partition(b";")
        broken = len(size.strip()) > MAX_DIGITS or not HEX_DIGITS.issuperset(size.strip())
        if len(line) > CHUNK_LINE_LIMIT or (broken and not extension):  # no need to see its end
            self.verdict = Verdict.DECIDED


@dataclass(frozen=True)
class Framing:
    """What a request's headers say about its body."""

    refused: bool  # framing gunicorn's parser refuses: no need to read on
    chunked: bool
    length: int  # the Content-Length (0 without one); past MAX_DIGITS digits, more than any limit
    expects_continue: bool

    @classmethod
    def of(cls, head: bytes) -> Framing:
        lines = head.split(b"\r\n")
        fields = [line.partition(b":") for line in lines[1:]]
        named = [(name.strip().lower(), value.strip()) for name, colon, value in fields if colon]
        lengths = [value for name, value in named if name == b"content-length"]
        codings = [value for name, value in named if name == b"transfer-encoding"]
        expect = [value for name, value in named if name == b"expect"]
        chunked = len(codings) == 1 and codings[0].lower().rsplit(b",", 1)[-1].strip() == b"chunked"
        version_1_1 = lines[0].endswith(b" HTTP/1.1")
        refused = (
            len(lengths) > 1
            or bool(codings and not version_1_1)
            or bool(lengths and codings)
            or (bool(codings) and not chunked)
            or bool(lengths and not (lengths[0].isascii() and lengths[0].isdigit()))
        )
        digits = lengths[0] if lengths and not refused else b"0"
        return cls(
            refused=refused,
            chunked=chunked and not refused,
            length=int(digits) if len(digits) <= MAX_DIGITS else 10**MAX_DIGITS,
            expects_continue=version_1_1 and [value.lower() for value in expect] == [b"100-continue"],
        )
