"""`python bench/libsvm_layout.py FILE.svm`: a libsvm file read by train's reader (CSR blocks), then
the same blocks as dense float32 (NaN where absent): their bytes, and the seconds XGBoost takes to
build a QuantileDMatrix from each (twice, alternating), with the first tree of 3 rounds trained on
each, which must be the same. Why container/training/chunks.py keeps libsvm pieces as CSR. Results
in bench/results/training-data.md."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import scipy.sparse
import xgboost

from container.tables import Matrix
from container.training import chunks


class _Batches(xgboost.DataIter):
    def __init__(self, parts: Sequence[Matrix], labels: Sequence[np.ndarray]) -> None:
        super().__init__(release_data=True)
        self._parts, self._labels, self._next = parts, labels, 0

    def reset(self) -> None:
        self._next = 0

    def next(self, input_data: Callable[..., None]) -> bool:
        if self._next == len(self._parts):
            return False
        input_data(data=self._parts[self._next], label=self._labels[self._next])
        self._next += 1
        return True


def _dense(matrix: scipy.sparse.csr_matrix) -> np.ndarray:
    out = np.full(matrix.shape, np.nan, dtype=np.float32)
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    out[rows, matrix.indices] = matrix.data
    return out


def main(path: Path) -> None:
    blocks = list(chunks.read_blocks(path, "libsvm", numeric_labels=False))
    width = max(block.features.shape[1] for block in blocks)
    sparse = [scipy.sparse.csr_matrix(block.features, shape=(block.rows, width)) for block in blocks]
    dense = [_dense(matrix) for matrix in sparse]
    labels = [block.labels for block in blocks]
    density = sum(m.nnz for m in sparse) / sum(m.shape[0] * m.shape[1] for m in sparse)
    sparse_mib = sum(m.data.nbytes + m.indices.nbytes + m.indptr.nbytes for m in sparse) / 2**20
    print(
        f"density {density:.3f}; CSR {sparse_mib:.0f} MiB, dense {sum(d.nbytes for d in dense) / 2**20:.0f} MiB"
    )
    for name, parts in [("CSR", sparse), ("dense", dense)] * 2:
        start = time.perf_counter()
        matrix = xgboost.QuantileDMatrix(_Batches(parts, labels), max_bin=256, nthread=2)
        seconds = time.perf_counter() - start
        booster = xgboost.train({"nthread": 2, "objective": "binary:logistic"}, matrix, 3)
        print(
            f"{name}: QuantileDMatrix {seconds:.2f} s; first tree {booster.get_dump()[0][:50]!r}", flush=True
        )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
