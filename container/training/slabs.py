"""A channel's kept feature blocks, gathered into a few large ones as they are read.

Owns: how large the kept blocks are. XGBoost builds a QuantileDMatrix batch by batch, passing over
the batches four times and sketching each: on 400,000 rows x 30, 100 batches took it 1.9x to
3.3x as long as one (bench/results/training-data.md), so the pieces a file is
parsed in (a few MiB, for bounded memory while parsing) are not kept as they come. Dense blocks
are copied into slabs of SLAB_BYTES allocated ahead (unwritten pages take no memory, so the last
slab costs only its rows), and each piece is freed once copied: no second copy of the matrix.
CSR blocks are stacked in groups of about SLAB_BYTES (one group's copy at a time). Must not know
files, formats or XGBoost.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse

from container.tables import Matrix

SLAB_BYTES = 128 * 1024 * 1024


class Slabs:
    """Blocks added in row order; `blocks()` gives them back gathered, in the same order."""

    def __init__(self, slab_bytes: int = SLAB_BYTES) -> None:
        self.slab_bytes = slab_bytes
        self.done: list[Matrix] = []
        self._slab: np.ndarray | None = None
        self._filled = 0
        self._sparse: list[scipy.sparse.csr_matrix] = []
        self._sparse_bytes = 0

    def add(self, block: Matrix) -> None:
        if isinstance(block, scipy.sparse.csr_matrix):
            self._add_sparse(block)
        else:
            self._add_dense(np.asarray(block))

    def blocks(self) -> tuple[Matrix, ...]:
        """Every slab, the last cut to its rows."""
        if self._slab is not None and self._filled:
            self.done.append(self._slab[: self._filled])
        self._slab, self._filled = None, 0
        self._stack_sparse()
        return tuple(self.done)

    def _add_dense(self, block: np.ndarray) -> None:
        start = 0
        while start < block.shape[0]:
            if (
                self._slab is None
                or self._slab.shape[1:] != block.shape[1:]
                or self._slab.dtype != block.dtype
            ):
                self.blocks()  # a new width or type (not within one channel): a slab of its own
                rows = max(1, self.slab_bytes // max(1, block.shape[1] * block.itemsize))
                self._slab = np.empty((rows, block.shape[1]), dtype=block.dtype)
            taken = min(block.shape[0] - start, self._slab.shape[0] - self._filled)
            self._slab[self._filled : self._filled + taken] = block[start : start + taken]
            self._filled += taken
            start += taken
            if self._filled == self._slab.shape[0]:
                self.done.append(self._slab)
                self._slab, self._filled = None, 0

    def _add_sparse(self, block: scipy.sparse.csr_matrix) -> None:
        self._sparse.append(block)
        self._sparse_bytes += block.data.nbytes + block.indices.nbytes + block.indptr.nbytes
        if self._sparse_bytes >= self.slab_bytes:
            self._stack_sparse()

    def _stack_sparse(self) -> None:
        if not self._sparse:
            return
        width = max(block.shape[1] for block in self._sparse)
        wide = [
            scipy.sparse.csr_matrix((b.data, b.indices, b.indptr), shape=(b.shape[0], width))
            for b in self._sparse
        ]
        self.done.append(wide[0] if len(wide) == 1 else scipy.sparse.vstack(wide, format="csr"))
        self._sparse, self._sparse_bytes = [], 0
