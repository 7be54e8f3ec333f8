"""Multi-host training on one machine: what a FullyReplicated train channel should do.

Runs the real `./train` on generated binary data (ROWS x 10 features, a fifth more for validation):
on one host; on two hosts with the train files sharded; on two hosts with the channel replicated
and split by rank (what `train` does); and on two hosts each training on every row (what a
replicated channel gives when nobody splits it: declared ShardedByS3Key, each host given all of
it). It prints the validation AUC and log loss from each manifest, and the wall time.

    .venv/bin/python -m bench.multi_host_training [ROWS]
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tests.helpers import cluster_jobs
from tests.helpers.models import synthetic
from tests.helpers.training_jobs import OptMl, csv_text, run_train

HYPERPARAMETERS = {
    "objective": "binary:logistic",
    "num_round": "50",
    "max_depth": "4",
    "eval_metric": "auc,logloss",
}


def channels(rows: int) -> dict[str, list[str]]:
    features, labels = synthetic(n_classes=2, n_features=10, rows=rows + rows // 5, seed=7)
    noisy = np.where(np.random.default_rng(7).random(len(labels)) < 0.1, 1 - labels, labels)
    files = [csv_text(noisy[part], features[part]) for part in np.array_split(np.arange(rows), 4)]
    return {"train": files, "validation": [csv_text(noisy[rows:], features[rows:])]}


def one_host(base: Path, data: dict[str, list[str]]) -> Path:
    job = OptMl.create(base, HYPERPARAMETERS, data)
    result = run_train(job)
    assert result.returncode == 0, result.stderr
    return job.model


def two_hosts(base: Path, shares: list[dict[str, list[str]]], train_distribution: str) -> Path:
    distribution = {"train": train_distribution, "validation": "FullyReplicated"}
    cluster = cluster_jobs.create(base, HYPERPARAMETERS, shares, distribution)
    results = cluster_jobs.run(cluster, timeout_seconds=300)
    assert all(result.returncode == 0 for result in results.values()), cluster_jobs.report(results)
    return cluster.jobs[cluster.hosts[0]].model


def main(rows: int) -> None:
    data = channels(rows)
    half = [{"train": data["train"][host::2], "validation": data["validation"]} for host in range(2)]
    runs = {
        "one host": lambda base: one_host(base, data),
        "two hosts, sharded": lambda base: two_hosts(base, half, "ShardedByS3Key"),
        "two hosts, replicated, split by rank": lambda base: two_hosts(base, [data, data], "FullyReplicated"),
        "two hosts, every row on each": lambda base: two_hosts(base, [data, data], "ShardedByS3Key"),
    }
    print(f"{rows} train rows x 10 features, {rows // 5} validation rows, {HYPERPARAMETERS}")
    print("| run | validation AUC | validation logloss | wall s |\n|---|---|---|---|")
    with tempfile.TemporaryDirectory() as scratch:
        for number, (name, run) in enumerate(runs.items()):
            started = time.monotonic()
            model = run(Path(scratch) / str(number))
            took = time.monotonic() - started
            metrics = json.loads((model / "manifest.json").read_text())["metrics"]
            auc, loss = metrics["validation-auc"], metrics["validation-logloss"]
            print(f"| {name} | {auc:.6f} | {loss:.6f} | {took:.1f} |", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 40_000)
