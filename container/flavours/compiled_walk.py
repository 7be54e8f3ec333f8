"""A TreeWalk walked in C: tree_walk.c, the extension module _tree_walk beside this file.

Owns: loading the module, binding a TreeWalk's arrays to it, and which batches it takes. `make`
builds the module in a checkout and the Dockerfile in the image; without it (a checkout run
before `make`) the numpy walk serves instead, which answers the same bits more slowly.

Why: the numpy walk of 200 trees of depth 6 spends ~40 us per row on numpy's per-call costs (a
dozen `take`s per level); in C one row takes ~4 us, and 10,000 rows 16-19 ms against XGBoost's
33 ms on one thread. So with one model thread (the default: a worker per core and more) it takes
every dense batch; with more, XGBoost's threads take the big ones.

Small batches are walked with the GIL held: releasing it for microseconds would hand it to
another of the worker's threads, a thread switch per request. Big ones release it, so the
worker's other threads run meanwhile.
"""

from __future__ import annotations

import functools
import importlib.machinery
import importlib.util
import logging
from pathlib import Path
from types import ModuleType

import numpy as np

from container.flavours.tree_walk import F32, MAX_ROW_TREES, TreeWalk

LIBRARY = Path(__file__).with_name("_tree_walk" + importlib.machinery.EXTENSION_SUFFIXES[0])
FLOAT64 = np.dtype(np.float64)
log = logging.getLogger("byom")


class CompiledWalk:
    """A TreeWalk's arrays, laid out for tree_walk.c and bound to its `margins`."""

    def __init__(self, walk: TreeWalk, module: ModuleType, whole_batches: bool) -> None:
        self.walk = walk
        self.whole_batches = whole_batches
        self._margins = functools.partial(
            module.margins,
            np.ascontiguousarray(np.stack(walk.level_starts), np.int64),  # (depth + 1) x n_trees
            np.ascontiguousarray(walk.features, np.int32),  # half the cache lines of intp
            np.ascontiguousarray(walk.thresholds, F32),
            np.ascontiguousarray(walk.missing_right, np.uint8),
            np.ascontiguousarray(walk.leaves, F32),
            walk.depth,
            int(walk.features.max(initial=0)) + 1,  # the narrowest row it may read: C checks
        )

    @property
    def n_trees(self) -> int:
        return self.walk.n_trees

    def margins(self, rows: np.ndarray) -> np.ndarray:
        return self._walk(rows, logistic=False)

    def predict(self, rows: np.ndarray, margin: bool = False) -> np.ndarray:
        """The model's output, or with `margin` its untransformed sum, as TreeWalk.predict."""
        return self._walk(rows, logistic=not margin and self.walk.link == "logistic")

    def _walk(self, rows: np.ndarray, logistic: bool) -> np.ndarray:
        if rows.dtype != FLOAT64 or not rows.flags.c_contiguous:
            # Read as float32, the walk's and XGBoost's input type, first: float64 holds it exactly.
            rows = np.ascontiguousarray(np.asarray(rows, dtype=F32), dtype=FLOAT64)
        n_rows = len(rows)
        outputs = np.empty(n_rows, dtype=F32)
        self._margins(rows, outputs, logistic, n_rows * self.walk.n_trees > MAX_ROW_TREES)
        return outputs

    def suits(self, rows: object) -> bool:
        """Every dense batch with `whole_batches`, else the small ones TreeWalk takes."""
        return isinstance(rows, np.ndarray) and (self.whole_batches or self.walk.suits(rows))


def compile_walk(walk: TreeWalk, whole_batches: bool) -> CompiledWalk | None:
    """The walk in C, or None (logged) when the module was not built or does not load."""
    try:
        module = load_module(LIBRARY)
    except ImportError as error:
        log.info("the compiled tree walk is not available (%s); `make` builds it", error)
        return None
    return CompiledWalk(walk, module, whole_batches)


def load_module(path: Path) -> ModuleType:
    """The extension module built at `path`; ImportError when it is missing or not one (a
    library built before it became a module, say: `make` rebuilds it)."""
    spec = importlib.util.spec_from_file_location("container.flavours._tree_walk", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path} is not an extension module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
