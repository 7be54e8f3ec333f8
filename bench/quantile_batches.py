"""`python bench/quantile_batches.py [ROWS]`: seconds XGBoost takes to build a QuantileDMatrix of
ROWS (400,000) rows x 30 float32 features given through a DataIter in 1, 4, 27 and 100 batches,
and from the array at once; then a plain DMatrix of the array and its first `hist` round, where
XGBoost sketches it instead. Why container/training/slabs.py gathers the parsed pieces into a few
large blocks. Results in bench/results/training-data.md."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import numpy as np
import xgboost


class _Batches(xgboost.DataIter):
    def __init__(self, features: np.ndarray, labels: np.ndarray, count: int) -> None:
        super().__init__(release_data=True)
        self._features, self._labels = features, labels
        self._edges = np.linspace(0, len(labels), count + 1).astype(int)
        self._next = 0

    def reset(self) -> None:
        self._next = 0

    def next(self, input_data: Callable[..., None]) -> bool:
        if self._next + 1 == len(self._edges):
            return False
        start, stop = self._edges[self._next], self._edges[self._next + 1]
        input_data(data=self._features[start:stop], label=self._labels[start:stop])
        self._next += 1
        return True


def main(rows: int) -> None:
    rng = np.random.default_rng(0)
    features = np.round(rng.standard_normal((rows, 30)), 6).astype(np.float32)
    labels = (features[:, 0] > 0).astype(np.float64)
    for count in (1, 4, 27, 100):
        start = time.perf_counter()
        xgboost.QuantileDMatrix(_Batches(features, labels, count), max_bin=256, nthread=2)
        print(f"{count} batches: {time.perf_counter() - start:.2f} s", flush=True)
    start = time.perf_counter()
    xgboost.QuantileDMatrix(features, label=labels, max_bin=256, nthread=2)
    print(f"the array: {time.perf_counter() - start:.2f} s")
    start = time.perf_counter()
    matrix = xgboost.DMatrix(features, label=labels, nthread=2)
    built = time.perf_counter()
    xgboost.train({"nthread": 2, "objective": "binary:logistic", "tree_method": "hist"}, matrix, 1)
    print(
        f"DMatrix of the array: {built - start:.2f} s, then its first hist round: {time.perf_counter() - built:.2f} s"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 400_000)
