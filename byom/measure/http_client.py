"""A minimal HTTP/1.1 keep-alive client on asyncio streams, for the load generator's hot path.

It sends one prepared request per exchange and reads the status line, the headers and a
Content-Length or chunked body; a connection the server closes (or says it will close) is dropped
and reopened. It owns the pool of connections to one host and nothing about schedules or results.
Written by hand rather than with aiohttp or httpx because per-request overhead is the generator's
ceiling: the whole exchange here is a write, one readuntil and one readexactly. Measured in the
same generator against scripts/http_sink.py at 3,000 req/s for 5 s: 63-73 us of CPU per request
here, 237-283 us with aiohttp 3.14.5, which fell 5-10 s behind its schedule.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit

from byom.errors import CommandError
from byom.measure.loadspec import Request


@dataclass(frozen=True)
class Origin:
    host: str
    port: int
    base_path: str

    @classmethod
    def parse(cls, url: str) -> Origin:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise CommandError(
                f"target {url!r}: expected http://host[:port] (or an endpoint name with --sagemaker)"
            )
        return cls(parts.hostname, parts.port or 80, parts.path.rstrip("/"))


def encode_request(origin: Origin, request: Request) -> bytes:
    path = request.path if request.path.startswith("/") else "/" + request.path
    lines = [f"{request.method} {origin.base_path}{path} HTTP/1.1", f"Host: {origin.host}:{origin.port}"]
    lines += [f"{name}: {value}" for name, value in request.headers.items()]
    lines.append(f"Content-Length: {len(request.body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + request.body


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.reusable = True

    async def exchange(self, payload: bytes) -> int:
        """Send one request and read its whole response; returns the status code."""
        self.writer.write(payload)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        lowered = head.lower()
        if b"transfer-encoding: chunked" in lowered:
            await self._read_chunked()
        else:
            await self.reader.readexactly(_content_length(lowered))
        if b"connection: close" in lowered:
            self.reusable = False
        return status

    async def _read_chunked(self) -> None:
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await self.reader.readexactly(size + 2)
            if size == 0:
                return

    def close(self) -> None:
        self.reusable = False
        self.writer.close()


def _content_length(lowered_head: bytes) -> int:
    start = lowered_head.find(b"content-length:")
    if start < 0:
        return 0
    end = lowered_head.find(b"\r\n", start)
    return int(lowered_head[start + 15 : end])


class Pool:
    """Idle keep-alive connections to one origin; a request with none idle opens another."""

    def __init__(self, origin: Origin) -> None:
        self.origin = origin
        self.idle: list[Connection] = []
        self.opened = 0

    async def acquire(self) -> Connection:
        return self.idle.pop() if self.idle else await self.open()

    async def open(self) -> Connection:
        reader, writer = await asyncio.open_connection(self.origin.host, self.origin.port)
        self.opened += 1
        return Connection(reader, writer)

    async def warm(self, count: int) -> None:
        """Open `count` connections up front, so the first second is not a storm of new ones."""
        self.idle += await asyncio.gather(*(self.open() for _ in range(count)))

    def release(self, connection: Connection) -> None:
        if connection.reusable:
            self.idle.append(connection)
        else:
            connection.close()

    def close(self) -> None:
        for connection in self.idle:
            connection.close()
        self.idle.clear()
