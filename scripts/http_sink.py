"""A minimal keep-alive HTTP server that answers every request with 200 "ok", for measuring the
load generator's own ceiling (`byom loadtest` against it is limited by the generator, not by it).

    taskset -c 0 python scripts/http_sink.py 18099 &
    taskset -c 1 .venv/bin/python -m byom loadtest --target http://127.0.0.1:18099 --rate 1000 --ramp-to 20000 --duration 20
"""

import asyncio
import sys

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class Sink(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].lower()
            start = head.find(b"content-length:")
            length = (
                int(head[start + 15 : head.find(b"\r\n", start) if b"\r\n" in head[start:] else None])
                if start >= 0
                else 0
            )
            if len(self.buffer) < head_end + 4 + length:
                return
            self.buffer = self.buffer[head_end + 4 + length :]
            self.transport.write(RESPONSE)  # type: ignore[attr-defined]


async def serve(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(Sink, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
