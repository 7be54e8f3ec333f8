"""Training channels from `/opt/ml/input/data/<channel>/`: files to feature matrices and labels.

Owns: which channels count (`train`, or `training` as in the AWS sample; `validation` optional),
which files in them (every regular file, sorted, dotfiles skipped), their content type (from
`inputdataconfig.json`, CSV when not given), and label handling. CSV rows are `label,features...`
with no header; the features go through the serving CSV decoder, so training accepts exactly the
numbers serving accepts. libsvm is read by scikit-learn's svmlight loader with 0-based indices, as
serving reads it. Every problem is a TrainingError naming the channel, file and row.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse
from sklearn.datasets import load_svmlight_files

from container.codecs.csv import decode_csv
from container.errors import RequestError, TrainingError
from container.tables import Matrix

TRAIN_CHANNELS = ("train", "training")
VALIDATION_CHANNEL = "validation"
CONTENT_TYPES = {
    "text/csv": "csv",
    "csv": "csv",
    "text/libsvm": "libsvm",
    "text/x-libsvm": "libsvm",
    "libsvm": "libsvm",
}
PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


@dataclass(frozen=True)
class Dataset:
    features: Matrix
    labels: np.ndarray  # as written: strings from CSV, floats from libsvm
    channel: str


@dataclass(frozen=True)
class Channels:
    train: Dataset
    validation: Dataset | None


def load_channels(data_dir: Path, data_config: Mapping[str, Any]) -> Channels:
    present = sorted(path.name for path in data_dir.iterdir() if path.is_dir()) if data_dir.is_dir() else []
    name = next((channel for channel in TRAIN_CHANNELS if channel in present), None)
    if name is None:
        raise TrainingError(
            f"no training data: expected a 'train' channel in {data_dir}; found {present or 'none'}"
        )
    train = load_channel(data_dir / name, _content_type(data_config, name))
    validation = None
    if VALIDATION_CHANNEL in present:
        kind = _content_type(data_config, VALIDATION_CHANNEL)
        validation = load_channel(data_dir / VALIDATION_CHANNEL, kind, width=train.features.shape[1])
    return Channels(train, validation)


def has_train_data(data_dir: Path) -> bool:
    """Whether a train channel holds a file with data: a host of a ShardedByS3Key job may get none."""
    return any(_data_files(data_dir / name) for name in TRAIN_CHANNELS if (data_dir / name).is_dir())


def load_channel(directory: Path, kind: str, width: int | None = None) -> Dataset:
    files = _data_files(directory)
    if not files:
        raise TrainingError(f"channel '{directory.name}' has no data in {directory}")
    dataset = _read_libsvm(files, width) if kind == "libsvm" else _read_csv(files)
    if width is not None and dataset.features.shape[1] != width:
        raise TrainingError(
            f"channel '{directory.name}' has {dataset.features.shape[1]} features, the train channel {width}"
        )
    return dataset


def class_labels(
    train: np.ndarray, validation: np.ndarray | None
) -> tuple[list[Any], np.ndarray, np.ndarray | None]:
    """Classes in sorted order (numbers when every label is one) and each label's class index."""
    numeric = _all_numbers(train) and (validation is None or _all_numbers(validation))
    values = _as_numbers(train) if numeric else train.astype(str)
    classes = sorted(set(values.tolist()))
    index = {label: position for position, label in enumerate(classes)}

    def encode(labels: np.ndarray) -> np.ndarray:
        return np.array([index[label] for label in labels.tolist()], dtype=np.int64)

    checked = None
    if validation is not None:
        validation_values = _as_numbers(validation) if numeric else validation.astype(str)
        unknown = set(validation_values.tolist()) - set(classes)
        if unknown:
            raise TrainingError(f"validation labels never seen in train: {sorted(map(str, unknown))[:5]}")
        checked = encode(validation_values)
    return classes, encode(values), checked


def numeric_targets(dataset: Dataset) -> np.ndarray:
    if dataset.labels.dtype.kind == "f":
        return dataset.labels
    for row, label in enumerate(dataset.labels.tolist(), start=1):
        if not PLAIN_NUMBER.fullmatch(label.strip()):
            raise TrainingError(
                f"channel '{dataset.channel}', row {row}: label {label[:40]!r} is not a number; a regression "
                "target must be numeric (for class labels choose a classification objective or task)"
            )
    return dataset.labels.astype(np.float64)


def sample_rows(features: Matrix, count: int) -> np.ndarray:
    """Up to `count` rows spread evenly over the data (dense): golden rows that cover its range."""
    picked = features[np.unique(np.linspace(0, features.shape[0] - 1, count).astype(int))]
    return np.asarray(picked.toarray() if scipy.sparse.issparse(picked) else picked, dtype=np.float64)


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


def _read_csv(files: list[Path]) -> Dataset:
    labels: list[str] = []
    blocks: list[np.ndarray] = []
    for path in files:
        file_labels, features = _read_csv_file(path)
        if blocks and features.shape[1] != blocks[0].shape[1]:
            raise TrainingError(
                f"{path.name} has {features.shape[1]} features, {files[0].name} has {blocks[0].shape[1]}"
            )
        labels += file_labels
        blocks.append(features)
    return Dataset(np.vstack(blocks), np.array(labels, dtype=object), files[0].parent.name)


def _read_csv_file(path: Path) -> tuple[list[str], np.ndarray]:
    try:
        text = path.read_bytes().decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise TrainingError(f"{_where(path)}: not UTF-8 text") from None
    lines = text.rstrip("\r\n").split("\n")
    labels, features = [], []
    for row, line in enumerate(lines, start=1):
        label, comma, rest = line.rstrip("\r").partition(",")
        if not comma:
            raise TrainingError(f"{_where(path)}, row {row}: expected a label and at least one feature")
        labels.append(label.strip())
        features.append(rest)
    try:
        table = decode_csv("\n".join(features).encode(), {})
    except RequestError as error:
        raise TrainingError(
            f"{_where(path)}: {error.message} (label in the first column, no header row)"
        ) from None
    return labels, np.asarray(table.rows)


def _read_libsvm(files: list[Path], width: int | None) -> Dataset:
    try:
        loaded = load_svmlight_files([str(path) for path in files], zero_based=True, n_features=width)
    except ValueError as error:
        raise TrainingError(f"channel '{files[0].parent.name}': not valid libsvm: {error}") from None
    matrices, labels = loaded[0::2], loaded[1::2]
    features = scipy.sparse.vstack(matrices).tocsr()
    return Dataset(features, np.concatenate(labels).astype(np.float64), files[0].parent.name)


def _all_numbers(labels: np.ndarray) -> bool:
    return labels.dtype.kind == "f" or all(
        PLAIN_NUMBER.fullmatch(str(label).strip()) for label in labels.tolist()
    )


def _as_numbers(labels: np.ndarray) -> np.ndarray:
    numbers = labels.astype(np.float64)
    return numbers.astype(np.int64) if np.all(numbers == np.round(numbers)) else numbers


def _where(path: Path) -> str:
    return f"channel '{path.parent.name}', file {path.name}"
