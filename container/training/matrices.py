"""XGBoost's view of a Dataset: its feature blocks through an xgboost.DataIter, never one array.

Owns: the DataIter over a Dataset's blocks with their labels, and which XGBoost matrix they build:
QuantileDMatrix (XGBoost keeps only each value's histogram bin, one byte for up to 256 bins, a
quarter of the float32 matrix) when the blocks are kept in memory, ExtMemQuantileDMatrix (its
pages cached on disk under a temporary directory) when the data exceeds the memory budget, and a
plain DMatrix of the whole matrix for the two settings quantile matrices cannot train
(`tree_method=exact`, `booster=gblinear`). A validation matrix takes the train matrix's bins
(`ref`), as XGBoost requires. Must not know files, formats or labels' meaning.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import xgboost

from container.tables import Matrix
from container.training.data import Dataset

DEFAULT_MAX_BIN = 256  # XGBoost's own default


class _Blocks(xgboost.DataIter):
    """The dataset's blocks, each with its slice of the labels; XGBoost pulls them (twice or more)."""

    def __init__(self, dataset: Dataset, labels: np.ndarray, cache_prefix: str | None) -> None:
        super().__init__(cache_prefix=cache_prefix, release_data=True)
        self._dataset, self._labels = dataset, labels
        self._blocks: Iterator[Matrix] | None = None
        self._start = 0

    def reset(self) -> None:
        self._blocks, self._start = None, 0

    def next(self, input_data: Callable[..., None]) -> bool:
        if self._blocks is None:
            self._blocks = self._dataset.blocks()
        block = next(self._blocks, None)
        if block is None:
            return False
        stop = self._start + block.shape[0]
        input_data(data=block, label=self._labels[self._start : stop])
        self._start = stop
        return True


def needs_whole_matrix(params: dict[str, Any]) -> bool:
    return params.get("tree_method") == "exact" or params.get("booster") == "gblinear"


def xgboost_matrix(
    dataset: Dataset,
    labels: np.ndarray,
    params: dict[str, Any],
    cache: Path,
    ref: xgboost.DMatrix | None = None,
) -> xgboost.DMatrix:
    """The matrix XGBoost trains or evaluates on; `cache` is a directory for external memory."""
    if needs_whole_matrix(params):
        return xgboost.DMatrix(dataset.features, label=labels, nthread=params.get("nthread"))
    max_bin = int(params.get("max_bin", DEFAULT_MAX_BIN))
    if dataset.cached is not None:
        return xgboost.QuantileDMatrix(
            _Blocks(dataset, labels, None), max_bin=max_bin, ref=ref, nthread=params.get("nthread")
        )
    prefix = str(cache / dataset.channel)
    return xgboost.ExtMemQuantileDMatrix(
        _Blocks(dataset, labels, prefix), max_bin=max_bin, ref=ref, nthread=params.get("nthread")
    )


def cache_directory() -> tempfile.TemporaryDirectory[str]:
    """Where external memory pages go while a job trains; removed after it."""
    return tempfile.TemporaryDirectory(prefix="byom-xgboost-pages-")
