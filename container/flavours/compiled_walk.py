"""A TreeWalk walked in C: tree_walk.c, built into _tree_walk.so beside this file.

Owns: loading the shared library, calling it on a TreeWalk's arrays, and which batches it takes.
`make` builds the library in a checkout and the Dockerfile in the image; without it (a checkout
run before `make`) the numpy walk serves instead, which answers the same bits more slowly.

Why: the numpy walk of 200 trees of depth 6 spends ~40 us per row on numpy's per-call costs (a
dozen `take`s per level); in C one row takes ~4 us (8 us from `predict`, the call's set-up
included), and 10,000 rows 16-19 ms against XGBoost's 33 ms on one thread. So with one model
thread (the default: a worker per core and more) it takes every dense batch; with more,
XGBoost's threads take the big ones.

Small batches are walked with the GIL held (ctypes.PyDLL): releasing it for microseconds would
hand it to another of the worker's threads, a thread switch per request. Big ones release it
(ctypes.CDLL), so the worker's other threads run meanwhile.
"""

from __future__ import annotations

import ctypes
import logging
from pathlib import Path

import numpy as np

from container.flavours.tree_walk import F32, MAX_ROW_TREES, TreeWalk

LIBRARY = Path(__file__).with_name("_tree_walk.so")
log = logging.getLogger("byom")


class CompiledWalk:
    """A TreeWalk's arrays, laid out for tree_walk.c, and the library that walks them."""

    def __init__(
        self, walk: TreeWalk, libraries: tuple[ctypes.CDLL, ctypes.CDLL], whole_batches: bool
    ) -> None:
        self.walk = walk
        self.whole_batches = whole_batches
        self._holding_gil, self._releasing_gil = libraries
        self._arrays = (  # kept alive here, so that their addresses stay valid
            np.ascontiguousarray(np.stack(walk.level_starts), np.int64),  # (depth + 1) x n_trees
            np.ascontiguousarray(walk.features, np.int32),  # half the cache lines of intp
            np.ascontiguousarray(walk.thresholds, F32),
            np.ascontiguousarray(walk.missing_right, np.uint8),
            np.ascontiguousarray(walk.leaves, F32),
        )
        # Read once: each `.ctypes.data` costs ~1 us.
        self._addresses = tuple(array.ctypes.data for array in self._arrays)

    @property
    def n_trees(self) -> int:
        return self.walk.n_trees

    def margins(self, rows: np.ndarray) -> np.ndarray:
        return self._walk(rows, logistic=False)

    def predict(self, rows: np.ndarray, margin: bool = False) -> np.ndarray:
        """The model's output, or with `margin` its untransformed sum, as TreeWalk.predict."""
        return self._walk(rows, logistic=not margin and self.walk.link == "logistic")

    def _walk(self, rows: np.ndarray, logistic: bool) -> np.ndarray:
        values = np.array(rows, dtype=F32, order="C")  # a copy, so writable: see _address
        n_rows, width = values.shape
        outputs = np.empty(n_rows, dtype=F32)
        self._library(n_rows).walk_margins(
            _address(values), n_rows, width, self.walk.n_trees, self.walk.depth, *self._addresses,
            _address(outputs), logistic,
        )  # fmt: skip
        return outputs

    def suits(self, rows: object) -> bool:
        """Every dense batch with `whole_batches`, else the small ones TreeWalk takes."""
        return isinstance(rows, np.ndarray) and (self.whole_batches or self.walk.suits(rows))

    def _library(self, n_rows: int) -> ctypes.CDLL:
        return self._holding_gil if n_rows * self.walk.n_trees <= MAX_ROW_TREES else self._releasing_gil


def _address(array: np.ndarray) -> int:
    """Where a writable C-contiguous array's data starts: 0.5 us, against 1.4 us for
    `.ctypes.data`, twice per call of a one-row walk that takes ~4 us."""
    return ctypes.addressof(ctypes.c_char.from_buffer(array.data)) if array.nbytes else 0


def compile_walk(walk: TreeWalk, whole_batches: bool) -> CompiledWalk | None:
    """The walk in C, or None (logged) when the library was not built or does not load."""
    try:
        libraries = (ctypes.PyDLL(str(LIBRARY)), ctypes.CDLL(str(LIBRARY)))
    except OSError as error:
        log.info("the compiled tree walk is not available (%s); `make` builds it", error)
        return None
    for library in libraries:
        library.walk_margins.restype = None
        library.walk_margins.argtypes = [
            ctypes.c_void_p, *[ctypes.c_int64] * 4, *[ctypes.c_void_p] * 6, ctypes.c_int64,
        ]  # fmt: skip
    return CompiledWalk(walk, libraries, whole_batches)
