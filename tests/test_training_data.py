"""Channels read block by block: gzip, several files, exact numbers, bad rows named by file and line,
and data beyond the memory budget read again from its files (container/training/chunks.py, data.py)."""

from __future__ import annotations

import gzip
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import xgboost

from container.errors import TrainingError
from container.training import chunks
from container.training.data import load_channels
from tests.helpers.harness import REPO
from tests.helpers.models import synthetic
from tests.helpers.training_jobs import OptMl, csv_text, libsvm_text

# Numbers float() reads exactly where shortcuts do not: 17 significant digits, halfway cases of
# float64, exponents at the fast path's edges, signs, leading dots, -0.
HOSTILE = [
    "0.1", "-0", "+1.5", ".5", "5.", "1e22", "1e23", "9007199254740993", "2.2250738585072011e-308",
    "1.7976931348623157e38", "0.30000000000000004", "123456789012345678901234567890", "4.9e-324",
    "1.00000000000000011102230246251565404236316680908203125", "-7.2057594037927933e16", "3.4028235e38",
]  # fmt: skip


def _channel(base: Path, texts: list[bytes], names: list[str], kind: str = "text/csv") -> Path:
    directory = base / "data" / "train"
    directory.mkdir(parents=True)
    for name, text in zip(names, texts, strict=True):
        (directory / name).write_bytes(gzip.compress(text) if name.endswith(".gz") else text)
    return base / "data"


@pytest.mark.parametrize("label", ["1", "cat"])  # the C reader whole; or labels split off first
def test_csv_numbers_are_read_as_float_reads_them(tmp_path: Path, label: str) -> None:
    rows = [HOSTILE[i : i + 4] for i in range(0, len(HOSTILE), 4)]
    text = "".join(f"{label}," + ",".join(row) + "\n" for row in rows).encode()
    train = load_channels(_channel(tmp_path, [text], ["a.csv"]), {}).train
    expected = np.array([[float(value) for value in row] for row in rows]).astype(np.float32)
    np.testing.assert_array_equal(train.features, expected)
    assert np.signbit(train.features[0, 1])


def test_libsvm_numbers_are_read_as_float_reads_them(tmp_path: Path) -> None:
    text = "".join(f"1 {i}:{value}\n" for i, value in enumerate(HOSTILE)).encode()
    kinds = {"train": {"ContentType": "text/libsvm"}}
    train = load_channels(_channel(tmp_path, [text], ["a.svm.gz"]), kinds).train
    expected = np.diag([float(value) for value in HOSTILE]).astype(np.float32)
    np.testing.assert_array_equal(train.features.toarray(), expected)


def test_gzip_and_several_files_read_as_one_plain_file(tmp_path: Path) -> None:
    features, labels = synthetic(2, rows=300)
    text = csv_text(labels, features).encode()
    lines = text.splitlines(keepends=True)
    parts = [b"".join(lines[:100]), b"".join(lines[100:250]).replace(b"\n", b"\r\n"), b"".join(lines[250:])]
    split = load_channels(_channel(tmp_path / "a", parts, ["1.csv", "2.csv.gz", "3"]), {}).train
    whole = load_channels(_channel(tmp_path / "b", [text], ["all.csv"]), {}).train
    np.testing.assert_array_equal(split.features, whole.features)
    np.testing.assert_array_equal(split.labels, labels.astype(np.float64))
    assert split.shape == (300, 6) and len(split.files) == 3


BAD_ROWS = {  # second file, gzip, line 3 of 4
    "ragged": ("1,1,2\n0,3,4\n1,5\n0,6,7\n", "regression", "2.csv.gz, line 3: 1 features where line 1 has 2"),
    "feature": ("1,1,2\n0,3,4\n1,5,x\n0,6,7\n", "regression", "2.csv.gz, line 3: 'x' is not a number"),
    "text_label": ("1,1,2\n0,3,4\nhigh,5,6\n0,6,7\n", "regression", "2.csv.gz, line 3: label 'high' is not a number"),
    "missing_label": ("a,1,2\nb,3,4\n,5,6\na,6,7\n", "classification", "2.csv.gz, line 3: the label (first column) is missing"),
    "wider_file": ("1,1,2,3\n", "regression", "2.csv.gz, line 1: 3 features where channel 'train', file 1.csv has 2"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD_ROWS))
def test_a_bad_row_is_named_by_file_and_line(tmp_path: Path, case: str) -> None:
    text, task, says = BAD_ROWS[case]
    first = b"1,0.5,0.5\n0,0.25,0.25\n" if task == "regression" else b"a,0.5,0.5\nb,0.25,0.25\n"
    data = _channel(tmp_path, [first, text.encode()], ["1.csv", "2.csv.gz"])
    with pytest.raises(TrainingError) as raised:
        load_channels(data, {}, task=task)
    assert says in raised.value.message


def test_a_bad_row_fails_in_its_own_piece(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pieces before the bad row are read, and the error comes while its piece is parsed."""
    monkeypatch.setattr(chunks, "PIECE_BYTES", 64)
    good = "".join(f"{i % 2},{i}.5,{i}.25\n" for i in range(40))
    path = tmp_path / "train" / "big.csv"
    path.parent.mkdir()
    path.write_text(good + "1,2\n" + good)
    blocks = chunks.read_blocks(path, "csv", numeric_labels=True)
    read = []
    with pytest.raises(TrainingError, match=r"file big\.csv, line 41: 1 features where line \d+ has 2"):
        for block in blocks:
            read.append(block)
    assert sum(block.rows for block in read) < 40 and read[-1].first_line + read[-1].rows <= 41


def _job(base: Path, rows: int, memory_mb: str | None) -> tuple[OptMl, subprocess.CompletedProcess[str]]:
    features, labels = synthetic(2, n_features=8, rows=rows, seed=3)
    half = rows // 2
    channels = {
        "train": [
            csv_text(labels[:half], features[:half]),
            csv_text(labels[half:-2000], features[half:-2000]),
        ],
        "validation": [libsvm_text(labels[-2000:], features[-2000:])],
    }
    hyperparameters = {"objective": "binary:logistic", "num_round": "20", "max_depth": "4"}
    job = OptMl.create(base, hyperparameters, channels, {"validation": "text/libsvm"})
    for path in (job.base / "input" / "data" / "train").iterdir():
        path.write_bytes(gzip.compress(path.read_bytes()))
    env = {**os.environ, "SAGEMAKER_BASE_DIR": str(job.base)}
    if memory_mb is not None:
        env["BYOM_TRAINING_MEMORY_MB"] = memory_mb
    result = subprocess.run([str(REPO / "train")], env=env, capture_output=True, text=True, timeout=600)
    return job, result


def test_data_beyond_the_memory_budget_trains_from_external_memory(tmp_path: Path) -> None:
    """60,000 rows x 8 features are 1.9 MiB of float32: over a 1 MiB budget, they are read again
    from the gzip files at each pass into XGBoost's external memory, and give the same trees."""
    streamed, result = _job(tmp_path / "streamed", 62_000, "1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "exceeds the memory budget" in result.stdout
    kept, again = _job(tmp_path / "kept", 62_000, None)
    assert again.returncode == 0 and "exceeds the memory budget" not in again.stdout
    dumps = [
        xgboost.Booster(model_file=str(job.model / "xgboost-model.ubj")).get_dump(with_stats=True)
        for job in (streamed, kept)
    ]
    assert dumps[0] == dumps[1]
    assert not list(Path("/tmp").glob("byom-xgboost-pages-*/train*"))  # external pages removed
