"""Stop a listening socket from completing new TCP handshakes while keeping those it completed.

Owns: the one Linux detail behind a lossless SIGTERM. For a client, a connection is accepted once
the kernel has completed the handshake and queued it on the listening socket: connect() has
returned and the request is on its way. When the server stops, gunicorn closes the listener, and
the kernel resets every connection still queued there. Accepting until the queue is empty is not
enough while clients keep connecting, since it refills; so the stopping server first attaches a
socket filter that drops every packet addressed to the listener (new SYNs go unanswered: the
client retries and then finds the port closed, never a half-served request), then its workers
accept what is queued. Connections already queued keep working: each has its own socket, created
before the filter, which filters nothing. Where the filter is refused (inside Docker: EPERM), the
queue's length at that moment says how many connections to accept: the queue is first in, first
out, so those accepts take every connection queued before, while clients that keep connecting
cannot keep a stopping worker accepting until it is killed.

The filter belongs to the socket, which the arbiter and every worker share: attached, it refuses
handshakes for all of them, for good. So only the arbiter, stopping the whole server, attaches
it (container/server/gunicorn_main.py); a worker stopping alone (gunicorn's HUP reload, a signal
to that worker) leaves it off, and the other workers and its replacement keep accepting.
"""

from __future__ import annotations

import ctypes
import socket
import struct

SO_ATTACH_FILTER = getattr(socket, "SO_ATTACH_FILTER", 26)  # Linux <asm-generic/socket.h>
RETURN_CONSTANT = 0x06  # classic BPF: BPF_RET | BPF_K; returning 0 bytes drops the packet
DROP_EVERY_PACKET = struct.pack("HBBI", RETURN_CONSTANT, 0, 0, 0)  # struct sock_filter
SO_GET_FILTER = SO_ATTACH_FILTER  # the same number, read with getsockopt
# struct tcp_info: 8 one-byte fields, then u32s; on a listener, tcpi_unacked is the accept queue's
# length (Linux tcp_get_info), the fifth u32.
TCP_INFO_SIZE = 32
QUEUE_LENGTH_OFFSET = 24


def refuse_new_handshakes(listener: socket.socket) -> bool:
    """Attach the drop-everything filter; False where the platform has no socket filters."""
    program = ctypes.create_string_buffer(DROP_EVERY_PACKET, len(DROP_EVERY_PACKET))
    sock_fprog = struct.pack("HP", 1, ctypes.addressof(program))  # the kernel copies the program
    try:
        listener.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, sock_fprog)
    except OSError:
        return False
    return True


def handshakes_refused(listener: socket.socket) -> bool:
    """Whether a filter is attached to the listener. SO_GET_FILTER with a zero length answers with
    the filter's length in instructions; given a buffer, the kernel would take its size for a
    number of instructions and could write eight times as many bytes, so ctypes asks for the
    length alone."""
    libc = ctypes.CDLL(None, use_errno=True)
    length = ctypes.c_uint(0)
    failed = libc.getsockopt(listener.fileno(), socket.SOL_SOCKET, SO_GET_FILTER, None, ctypes.byref(length))
    return failed == 0 and length.value > 0


def queued_connections(listener: socket.socket) -> int | None:
    """How many completed connections wait on a listening TCP socket; None where not known."""
    try:
        info = listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, TCP_INFO_SIZE)
    except (OSError, AttributeError):  # not TCP (a Unix socket), or no TCP_INFO on this platform
        return None
    if len(info) < QUEUE_LENGTH_OFFSET + 4:
        return None
    queued: int = struct.unpack_from("I", info, QUEUE_LENGTH_OFFSET)[0]
    return queued
