"""Training channels from `/opt/ml/input/data/<channel>/`: files to datasets of feature blocks and labels.

Owns: which channels count (`train`, or `training` as in the AWS sample; `validation` optional),
which files in them (every regular file, sorted, dotfiles skipped; gzip or plain), their content
type (from `inputdataconfig.json`, CSV when not given), the width every file must share, whether
the parsed features stay in memory, and label handling. A channel is read once, block by block
(container/training/chunks.py): its labels are kept (one number or string per row), and so are
its float32 feature blocks, gathered into a few large ones (container/training/slabs.py), while they fit in the memory budget (half of what the container may
still use, or BYOM_TRAINING_MEMORY_MB); beyond it the blocks are dropped and read again from the
files each time they are needed (`Dataset.blocks()`), so no whole matrix is ever built for
XGBoost. `Dataset.features` builds the whole matrix, for scikit-learn, which needs it. A host of
a multi-host job keeps every n-th row of a channel (`every_nth`) and may widen a libsvm channel to
another host's width (`widened`); both apply to re-read blocks too. Every problem is a TrainingError naming the channel, file and line. Must not know XGBoost.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse

from container.errors import TrainingError
from container.host_memory import available_bytes
from container.tables import Matrix
from container.training.chunks import Block, is_number, read_blocks, where
from container.training.slabs import Slabs

TRAIN_CHANNELS = ("train", "training")
VALIDATION_CHANNEL = "validation"
CONTENT_TYPES = {
    "text/csv": "csv",
    "csv": "csv",
    "text/libsvm": "libsvm",
    "text/x-libsvm": "libsvm",
    "libsvm": "libsvm",
}
MEBIBYTE = 1024 * 1024


@dataclass(frozen=True)
class Dataset:
    """One channel: its files, shape and labels (float64 numbers, or strings when a CSV label is
    not a number), and its float32 feature blocks when they fit in memory (`cached`)."""

    channel: str
    kind: str
    files: tuple[Path, ...]
    shape: tuple[int, int]
    labels: np.ndarray
    cached: tuple[Matrix, ...] | None
    stride: tuple[int, int] = (0, 1)  # (first, step): the rows of the files kept, when not cached

    def blocks(self) -> Iterator[Matrix]:
        """The float32 feature blocks in row order, each of the channel's width."""
        if self.cached is not None:
            yield from self.cached
            return
        first, step = self.stride
        start = 0
        for path in self.files:
            for block in read_blocks(path, self.kind, numeric_labels=False):
                kept = block.features[(first - start) % step :: step] if step > 1 else block.features
                start += block.rows
                if kept.shape[0]:
                    yield _widened(kept, self.shape[1])

    @functools.cached_property
    def features(self) -> Matrix:
        """The whole matrix (scikit-learn needs it): float32, dense for CSV, CSR for libsvm."""
        parts = list(self.blocks())
        return scipy.sparse.vstack(parts, format="csr") if self.kind == "libsvm" else np.vstack(parts)


def widened(dataset: Dataset, width: int) -> Dataset:
    """A libsvm channel as `width` features wide (another host's share of it is wider)."""
    cached = None if dataset.cached is None else tuple(_widened(block, width) for block in dataset.cached)
    return replace(dataset, shape=(dataset.shape[0], width), cached=cached)


def every_nth(dataset: Dataset, first: int, step: int) -> Dataset:
    """Rows first, first + step, ...: one host's part of a channel every host has whole."""
    rows = len(range(first, dataset.shape[0], step))
    cached = dataset.cached
    if cached is not None:
        starts = np.cumsum([0] + [block.shape[0] for block in cached])
        parts = (block[(first - start) % step :: step] for block, start in zip(cached, starts, strict=False))
        cached = tuple(part for part in parts if part.shape[0])
    return replace(
        dataset, shape=(rows, dataset.shape[1]), labels=dataset.labels[first::step], cached=cached,
        stride=(dataset.stride[0] + first * dataset.stride[1], dataset.stride[1] * step),
    )  # fmt: skip


@dataclass(frozen=True)
class Channels:
    train: Dataset
    validation: Dataset | None


def load_channels(
    data_dir: Path, data_config: Mapping[str, Any], task: str | None = None, memory_mb: int | None = None
) -> Channels:
    """The train and validation channels. With `task` "regression" a label that is not a number
    fails where it is read; `memory_mb` caps the parsed blocks kept in memory."""
    present = sorted(path.name for path in data_dir.iterdir() if path.is_dir()) if data_dir.is_dir() else []
    name = next((channel for channel in TRAIN_CHANNELS if channel in present), None)
    if name is None:
        raise TrainingError(
            f"no training data: expected a 'train' channel in {data_dir}; found {present or 'none'}"
        )
    budget = [memory_mb * MEBIBYTE if memory_mb is not None else _default_budget()]
    train = load_channel(data_dir / name, _content_type(data_config, name), task=task, budget=budget)
    validation = None
    if VALIDATION_CHANNEL in present:
        kind = _content_type(data_config, VALIDATION_CHANNEL)
        validation = load_channel(
            data_dir / VALIDATION_CHANNEL, kind, width=train.shape[1], task=task, budget=budget
        )
    return Channels(train, validation)


def load_channel(
    directory: Path, kind: str, width: int | None = None, task: str | None = None,
    budget: list[int | None] | None = None,
) -> Dataset:  # fmt: skip
    """Reads every file of the channel once. `width` (the train channel's) is the width to match;
    `budget` ([bytes] or [None]) is what the kept blocks may take, and is spent by them."""
    files = _channel_files(directory)
    scan = _Scan(kind, width, (budget or [None])[0])
    for path in files:
        for block in read_blocks(path, kind, numeric_labels=task == "regression"):
            scan.add(block)
    if budget is not None and budget[0] is not None:
        budget[0] -= scan.kept_bytes
    return scan.dataset(directory.name, files)


class _Scan:
    """What reading a channel's blocks learns: width, rows, labels, and the blocks while they fit."""

    def __init__(self, kind: str, width: int | None, budget: int | None) -> None:
        self.kind, self.fixed_width, self.budget = kind, width, budget
        self.width, self.rows, self.kept_bytes = width or 0, 0, 0
        self.labels: list[np.ndarray] = []
        self.kept: Slabs | None = Slabs()
        self.first: Block | None = None

    def add(self, block: Block) -> None:
        self._check_width(block)
        self.first = self.first or block
        self.rows += block.rows
        self.labels.append(block.labels)
        if self.kept is not None:
            self.kept.add(block.features)
            self.kept_bytes += _nbytes(block.features)
            if self.budget is not None and self.kept_bytes > self.budget:
                self.kept, self.kept_bytes = None, 0  # too large to keep: read again when needed
                print(
                    "byom train: the data exceeds the memory budget; it is read again at each pass",
                    flush=True,
                )

    def _check_width(self, block: Block) -> None:
        width = int(block.features.shape[1])
        if self.kind == "libsvm":
            if self.fixed_width is not None and width > self.fixed_width:
                raise TrainingError(
                    f"{where(block.path)}: a feature index of {width - 1} or more, beyond the train "
                    f"channel's {self.fixed_width} features"
                )
            self.width = max(self.width, width)
        elif self.first is None and self.fixed_width is None:
            self.width = width
        elif width != self.width:
            origin = "the train channel" if self.first is None else where(self.first.path)
            raise TrainingError(
                f"{where(block.path, block.first_line)}: {width} features where {origin} has {self.width}"
            )

    def dataset(self, channel: str, files: list[Path]) -> Dataset:
        kept = None if self.kept is None else tuple(_widened(part, self.width) for part in self.kept.blocks())
        shape = (self.rows, self.width)
        return Dataset(channel, self.kind, tuple(files), shape, _joined_labels(self.labels), kept)


def has_train_data(data_dir: Path) -> bool:
    """Whether a train channel holds a file with data: a host of a ShardedByS3Key job may get none."""
    return any(_data_files(data_dir / name) for name in TRAIN_CHANNELS if (data_dir / name).is_dir())


def _channel_files(directory: Path) -> list[Path]:
    files = _data_files(directory)
    if not files:
        raise TrainingError(f"channel '{directory.name}' has no data in {directory}")
    return files


def _default_budget() -> int | None:
    available = available_bytes()
    return None if available is None else available // 2


def _nbytes(matrix: Matrix) -> int:
    if isinstance(matrix, scipy.sparse.csr_matrix):
        return int(matrix.data.nbytes + matrix.indices.nbytes + matrix.indptr.nbytes)
    return int(matrix.nbytes)


def _widened(matrix: Matrix, width: int) -> Matrix:
    """A libsvm block padded to the channel's width (its own is its largest index + 1)."""
    if not isinstance(matrix, scipy.sparse.csr_matrix) or matrix.shape[1] == width:
        return matrix
    return scipy.sparse.csr_matrix(
        (matrix.data, matrix.indices, matrix.indptr), shape=(matrix.shape[0], width)
    )


def _joined_labels(parts: list[np.ndarray]) -> np.ndarray:
    if all(part.dtype.kind == "f" for part in parts):
        return np.concatenate(parts)
    return np.concatenate([part if part.dtype.kind != "f" else _label_texts(part) for part in parts])


def _label_texts(numbers: np.ndarray) -> np.ndarray:
    """Number labels of a block beside text labels elsewhere: written as the text would be
    (`1`, `0.5`); a `1.0` in the file becomes `1` here."""
    return np.array([str(int(v)) if v == int(v) else repr(v) for v in numbers.tolist()], dtype=str)


def class_labels(
    train: np.ndarray, validation: np.ndarray | None
) -> tuple[list[Any], np.ndarray, np.ndarray | None]:
    """Classes in sorted order (numbers when every label is one) and each label's class index."""
    numeric = _all_numbers(train) and (validation is None or _all_numbers(validation))
    values, checked_values = _as_classes(train, validation, numeric)
    classes, codes = np.unique(values, return_inverse=True)
    checked = None
    if checked_values is not None:
        positions = np.minimum(np.searchsorted(classes, checked_values), len(classes) - 1)
        unknown = checked_values[classes[positions] != checked_values]
        if unknown.size:
            raise TrainingError(
                f"validation labels never seen in train: {sorted(map(str, set(unknown.tolist())))[:5]}"
            )
        checked = positions.astype(np.int64)
    return classes.tolist(), codes.astype(np.int64).reshape(-1), checked


def _as_classes(
    train: np.ndarray, validation: np.ndarray | None, numeric: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """Both channels' labels as numbers (whole numbers as int64 when all are) or as text."""
    if not numeric:
        return train.astype(str), None if validation is None else validation.astype(str)
    numbers = [labels.astype(np.float64) for labels in (train, validation) if labels is not None]
    if all(np.all(part == np.round(part)) for part in numbers):
        numbers = [part.astype(np.int64) for part in numbers]
    return numbers[0], numbers[1] if validation is not None else None


def numeric_targets(dataset: Dataset) -> np.ndarray:
    if dataset.labels.dtype.kind == "f":
        return dataset.labels
    for row, label in enumerate(dataset.labels.tolist(), start=1):
        if not is_number(label.strip()):
            raise TrainingError(
                f"channel '{dataset.channel}', row {row}: label {label[:40]!r} is not a number; a regression "
                "target must be numeric (for class labels choose a classification objective or task)"
            )
    return dataset.labels.astype(np.float64)


def sample_rows(source: Dataset | Matrix, count: int) -> np.ndarray:
    """Up to `count` rows spread evenly over the data (dense float64): golden rows that cover its
    range. A Dataset is read block by block for them."""
    wanted = _spread(source.shape[0], count)
    if not isinstance(source, Dataset):
        return _dense(source[wanted])
    rows, start = [], 0
    for block in source.blocks():
        inside = wanted[(wanted >= start) & (wanted < start + block.shape[0])] - start
        if inside.size:
            rows.append(_dense(block[inside]))
        start += block.shape[0]
    return np.vstack(rows)


def _spread(total: int, count: int) -> np.ndarray:
    return np.unique(np.linspace(0, total - 1, count).astype(int))


def _dense(rows: Matrix) -> np.ndarray:
    return np.asarray(rows.toarray() if isinstance(rows, scipy.sparse.csr_matrix) else rows, dtype=np.float64)


def _data_files(directory: Path) -> list[Path]:
    files = sorted(path for path in directory.rglob("*") if path.is_file() and not path.name.startswith("."))
    return [path for path in files if path.stat().st_size > 0]


def _content_type(data_config: Mapping[str, Any], channel: str) -> str:
    declared = str(data_config.get(channel, {}).get("ContentType") or "text/csv")
    kind = CONTENT_TYPES.get(declared.split(";")[0].strip().lower())
    if kind is None:
        raise TrainingError(
            f"channel '{channel}' has ContentType {declared!r}; expected text/csv or text/libsvm"
        )
    return kind


def _all_numbers(labels: np.ndarray) -> bool:
    return labels.dtype.kind == "f" or all(is_number(str(label).strip()) for label in labels.tolist())
