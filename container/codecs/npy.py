"""application/x-npy: one NumPy array, 1-D (one row) or 2-D, of integers or floats.

Owns: what a .npy body is. Its header is checked before anything is allocated: the declared size
must be exactly the bytes sent, so a small body cannot claim a huge array; pickled object arrays
are refused.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from container.errors import InvalidData, MalformedRequest
from container.tables import Table


def decode_npy(body: bytes, params: Mapping[str, str]) -> Table:
    """A .npy array, checked from its header before anything is allocated: the declared size must
    be exactly the bytes sent, so a small body cannot claim a huge array."""
    stream = io.BytesIO(body)
    shape, fortran_order, dtype = _npy_header(stream)
    if dtype.hasobject:
        raise MalformedRequest("the .npy array holds pickled objects, which are refused")
    if dtype.kind not in "iuf":
        raise InvalidData("the .npy array must hold integers or floats")
    if len(shape) not in (1, 2):
        raise InvalidData(f"the .npy array must be 1-D (one row) or 2-D, got {len(shape)}-D")
    if any(size < 0 for size in shape):  # numpy's header reader lets them through
        raise MalformedRequest(f"the .npy header declares a negative dimension: {shape}")
    data = body[stream.tell() :]
    declared = math.prod(shape) * dtype.itemsize
    if declared != len(data):
        raise MalformedRequest(f"the .npy header declares {declared} bytes of data, the body has {len(data)}")
    array = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran_order else "C")
    if array.size == 0:
        raise MalformedRequest("the request holds no instances")
    return Table(np.atleast_2d(array).astype(np.float64))


def _npy_header(stream: io.BytesIO) -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            return np.lib.format.read_array_header_1_0(stream)
        return np.lib.format.read_array_header_2_0(stream)
    except Exception as error:  # the header is a Python literal: any parse failure is the client's
        raise MalformedRequest(f"not a readable .npy array: {error}") from None
