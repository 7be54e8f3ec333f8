"""Request bodies built by hand for the decoders' refusals."""

from __future__ import annotations

NPY_SHAPE_HEADER = "{'descr': '<f8', 'fortran_order': False, 'shape': (%s,), }"


def npy_with_header(header: str) -> bytes:
    """A version 1.0 .npy file with a hand-written header and a few data bytes."""
    text = header.encode("latin1")
    text += b" " * ((64 - (10 + len(text) + 1) % 64) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text + b"\x00" * 16
