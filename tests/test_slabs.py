"""container/training/slabs.py: pieces gathered into slabs give back the same rows in order, in
fewer blocks, across slab boundaries, dense and CSR."""

from __future__ import annotations

import numpy as np
import scipy.sparse

from container.training.slabs import Slabs


def test_dense_pieces_come_back_as_the_same_rows_in_few_slabs() -> None:
    rng = np.random.default_rng(0)
    pieces = [rng.standard_normal((rows, 5)).astype(np.float32) for rows in rng.integers(0, 40, 50)]
    slabs = Slabs(slab_bytes=64 * 5 * 4)  # 64 rows a slab
    for piece in pieces:
        slabs.add(piece)
    gathered = slabs.blocks()
    assert [block.shape[0] for block in gathered[:-1]] == [64] * (len(gathered) - 1)
    assert all(block.flags.c_contiguous and block.dtype == np.float32 for block in gathered)
    assert np.vstack(gathered).tobytes() == np.vstack(pieces).tobytes()


def test_csr_pieces_of_several_widths_come_back_as_the_same_rows() -> None:
    rng = np.random.default_rng(1)
    pieces = [
        scipy.sparse.random(rows, width, density=0.4, format="csr", dtype=np.float32, random_state=rng)
        for rows, width in zip(rng.integers(1, 30, 20).tolist(), rng.integers(1, 9, 20).tolist(), strict=True)
    ]
    slabs = Slabs(slab_bytes=400)
    for piece in pieces:
        slabs.add(piece)
    gathered = slabs.blocks()
    assert 1 < len(gathered) < len(pieces)
    width = max(piece.shape[1] for piece in pieces)
    expected = scipy.sparse.vstack([scipy.sparse.csr_matrix(p, shape=(p.shape[0], width)) for p in pieces])
    got = scipy.sparse.vstack([scipy.sparse.csr_matrix(g, shape=(g.shape[0], width)) for g in gathered])
    assert (got != expected).nnz == 0 and got.shape == expected.shape


def test_no_pieces_give_no_blocks() -> None:
    assert Slabs().blocks() == ()
