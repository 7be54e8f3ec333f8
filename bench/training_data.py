"""`python bench/training_data.py [ROWS]`: loading a training channel of ROWS (2,000,000) rows x 30
features, CSV, then gzip, then libsvm: seconds, MB/s of text and peak RSS for `train`'s reader
(`load_channels` alone, for CSV also with its pieces parsed on one thread; then with the
QuantileDMatrix built from its blocks, which sketches the data as XGBoost's own DMatrix does only
when training starts), XGBoost's own `DMatrix("file?format=...")` and pandas.read_csv, then end to
end: `./train` against XGBoost's own reader plus `xgboost.train`, 10 rounds. Each measurement runs
in its own process, so its peak RSS (VmHWM) is its own; "imports" is that peak once the libraries
are imported, before the clock starts (the measuring process's, also for `./train`'s child). The
data is generated once into a scratch directory: numbers of 6 decimals (`-1.234567`), written like
an export. `--measure NAME FILE` runs one measurement. bench/results/training-data.md."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CHECKOUT = Path(__file__).resolve().parents[1]
FEATURES = 30
ROUNDS = 10


def generate(directory: Path, rows: int) -> dict[str, Path]:
    import numpy as np

    rng = np.random.default_rng(0)
    csv, svm = directory / "data.csv", directory / "data.svm"
    with csv.open("wb") as text, svm.open("wb") as sparse:
        for start in range(0, rows, 200_000):
            count = min(200_000, rows - start)
            values = np.round(np.clip(rng.normal(size=(count, FEATURES)), -9.999999, 9.999999), 6)
            labels = (values[:, 0] + values[:, 1] > 0).astype(int)
            text.write(_csv_bytes(labels, values))
            sparse.write(_libsvm_bytes(labels, values))
    gz = directory / "data.csv.gz"
    with csv.open("rb") as source, gzip.open(gz, "wb", compresslevel=6) as target:
        shutil.copyfileobj(source, target, 1 << 20)
    return {"csv": csv, "gzip": gz, "libsvm": svm}


def _csv_bytes(labels: object, values: object) -> bytes:
    """Fixed-width fields `-d.dddddd,` built as a byte matrix, the sign's byte dropped where positive."""
    import numpy as np

    v = np.asarray(values)
    digits = np.round(np.abs(v) * 1e6).astype(np.int64)
    count = v.shape[0]
    field = np.empty((count, FEATURES, 10), dtype=np.uint8)
    field[:, :, 0] = np.where(v < 0, ord("-"), 0)
    field[:, :, 1] = ord("0") + digits // 1_000_000
    field[:, :, 2] = ord(".")
    for place in range(6):
        field[:, :, 3 + place] = ord("0") + digits // 10 ** (5 - place) % 10
    field[:, :, 9] = ord(",")
    field[:, -1, 9] = ord("\n")
    line = np.concatenate([np.asarray(labels, dtype=np.uint8)[:, None] + ord("0"), np.full((count, 1), ord(","), np.uint8), field.reshape(count, -1)], axis=1)  # fmt: skip
    flat = line.reshape(-1)
    return flat[flat != 0].tobytes()


def _libsvm_bytes(labels: object, values: object) -> bytes:
    lines = (
        f"{label} " + " ".join(f"{i}:{x:.6f}" for i, x in enumerate(row) if x != 0) + "\n"
        for label, row in zip(labels.tolist(), values.tolist(), strict=True)  # type: ignore[attr-defined]
    )
    return "".join(lines).encode()


# --- measurements, each in a process of its own --------------------------------------------------


def measure(name: str, path: str) -> dict[str, float]:
    """Libraries are imported before the clock starts; a child's peak counts for ./train."""
    import resource

    import pandas  # noqa: F401
    import xgboost  # noqa: F401

    import container.training.matrices  # noqa: F401

    imported = _peak_mib()
    start = time.perf_counter()
    rows = MEASURES[name](Path(path))
    seconds = time.perf_counter() - start
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"seconds": seconds, "rows": rows, "peak_mib": max(_peak_mib(), child), "imports_mib": imported}


def _ours(path: Path) -> int:
    from container.training.matrices import xgboost_matrix

    train, data = _parsed(path)
    matrix = xgboost_matrix(train, train.labels, {"nthread": 2}, data)
    return int(matrix.num_row())


def _parsed(path: Path) -> tuple[Any, Path]:
    from container.training.data import load_channels

    data = Path(tempfile.mkdtemp()) / "data"
    (data / "train").mkdir(parents=True)
    (data / "train" / path.name).symlink_to(path)
    kind = "text/libsvm" if path.suffix == ".svm" else "text/csv"
    return load_channels(data, {"train": {"ContentType": kind}}, task="classification").train, data


def _ours_parse_only(path: Path) -> int:
    return int(_parsed(path)[0].shape[0])


def _ours_parse_one_thread(path: Path) -> int:
    from unittest import mock

    with mock.patch("container.training.chunks.usable_cpu_count", return_value=1):
        return _ours_parse_only(path)


def _xgboost_own(path: Path) -> int:
    import xgboost

    uri = f"{path}?format=libsvm" if path.suffix == ".svm" else f"{path}?format=csv&label_column=0"
    return int(xgboost.DMatrix(uri, nthread=2).num_row())


def _pandas(path: Path) -> int:
    import numpy as np
    import pandas as pd

    frame = pd.read_csv(path, header=None, dtype=np.float32)
    return len(frame)


def _train_ours(path: Path) -> int:
    base = Path(tempfile.mkdtemp())
    (base / "input" / "config").mkdir(parents=True)
    (base / "input" / "data" / "train").mkdir(parents=True)
    (base / "input" / "data" / "train" / path.name).symlink_to(path)
    hyperparameters = {"objective": "binary:logistic", "num_round": str(ROUNDS)}
    (base / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    env = {**os.environ, "SAGEMAKER_BASE_DIR": str(base)}
    subprocess.run([str(CHECKOUT / "train")], env=env, check=True, capture_output=True)
    return 0


def _train_xgboost_own(path: Path) -> int:
    import xgboost

    matrix = xgboost.DMatrix(f"{path}?format=csv&label_column=0", nthread=2)
    xgboost.train({"objective": "binary:logistic", "nthread": 2}, matrix, num_boost_round=ROUNDS)
    return int(matrix.num_row())


MEASURES = {
    "train's reader, parse only": _ours_parse_only,
    "train's reader, parse only, one thread": _ours_parse_one_thread,
    "train's reader + QuantileDMatrix": _ours,
    "XGBoost DMatrix(uri)": _xgboost_own,
    "pandas.read_csv": _pandas,
    "./train, 10 rounds": _train_ours,
    "XGBoost DMatrix(uri) + train, 10 rounds": _train_xgboost_own,
}
PLAN = [
    ("csv", "train's reader, parse only"), ("csv", "train's reader, parse only, one thread"),
    ("csv", "train's reader + QuantileDMatrix"), ("csv", "XGBoost DMatrix(uri)"), ("csv", "pandas.read_csv"),
    ("gzip", "train's reader, parse only"), ("gzip", "pandas.read_csv"),
    ("libsvm", "train's reader, parse only"), ("libsvm", "train's reader + QuantileDMatrix"),
    ("libsvm", "XGBoost DMatrix(uri)"),
    ("csv", "./train, 10 rounds"), ("csv", "XGBoost DMatrix(uri) + train, 10 rounds"),
]  # fmt: skip


def _peak_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main(rows: int) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="byom-bench-training-"))
    try:
        files = generate(scratch, rows)
        matrix_mib = rows * FEATURES * 4 / 2**20
        print(f"{rows:,} rows x {FEATURES}; the float32 matrix is {matrix_mib:.0f} MiB")
        for kind, path in files.items():
            print(f"{kind}: {path.stat().st_size / 2**20:.0f} MiB")
        print(f"load average before: {os.getloadavg()[0]:.2f}")
        print(
            "| data | reader | seconds | MB/s of text | peak RSS MiB | RSS / float32 matrix | (RSS - imports) / matrix |"
        )
        print("|---|---|---|---|---|---|---|")
        text_mb = {kind: files["csv" if kind == "gzip" else kind].stat().st_size / 1e6 for kind in files}
        for kind, name in PLAN:
            command = [sys.executable, __file__, "--measure", name, str(files[kind])]
            env = {**os.environ, "PYTHONPATH": str(CHECKOUT)}
            result = json.loads(
                subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
            )
            peak = result["peak_mib"]
            print(
                f"| {kind} | {name} | {result['seconds']:.2f} | {text_mb[kind] / result['seconds']:.0f} | "
                f"{peak:.0f} | {peak / matrix_mib:.2f} | {(peak - result['imports_mib']) / matrix_mib:.2f} |",
                flush=True,
            )
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(scratch)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--measure"]:
        print(json.dumps(measure(sys.argv[2], sys.argv[3])))
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 2_000_000)
