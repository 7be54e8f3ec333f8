"""Spot training: a job stopped by SIGTERM leaves a checkpoint in /opt/ml/checkpoints, and the
restarted job resumes from it to the very model an uninterrupted run trains
(container/training/checkpoints.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
import xgboost

from tests.helpers.harness import REPO
from tests.helpers.models import synthetic
from tests.helpers.training_jobs import OptMl, csv_text, run_train

SETTINGS = {
    "plain": {"objective": "binary:logistic", "num_round": "120", "max_depth": "6", "checkpoint_frequency": "7"},
    "early_stopping": {
        "objective": "binary:logistic", "num_round": "120", "max_depth": "6", "eta": "0.05",
        "early_stopping_rounds": "4", "subsample": "1", "checkpoint_frequency": "5",
    },
}  # fmt: skip


def _job(base: Path, hyperparameters: dict[str, str], checkpoints: bool) -> OptMl:
    features, labels = synthetic(2, n_features=8, rows=40_000, seed=5)
    channels = {
        "train": [csv_text(labels[:36_000], features[:36_000])],
        "validation": [csv_text(labels[36_000:], features[36_000:])],
    }
    job = OptMl.create(base, hyperparameters, channels)
    if checkpoints:
        (job.base / "checkpoints").mkdir()
    return job


def _dump(job: OptMl) -> list[str]:
    return xgboost.Booster(model_file=str(job.model / "xgboost-model.ubj")).get_dump(with_stats=True)


def _interrupt_after(job: OptMl, round_line: str) -> int:
    env = {**os.environ, "SAGEMAKER_BASE_DIR": str(job.base)}
    process = subprocess.Popen(
        [str(REPO / "train")], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith(round_line):
                process.send_signal(signal.SIGTERM)
                break
        return process.wait(timeout=300)
    finally:
        process.kill()


@pytest.mark.parametrize("case", sorted(SETTINGS))
def test_a_resumed_job_ends_with_the_uninterrupted_model(tmp_path: Path, case: str) -> None:
    reference = _job(tmp_path / "reference", SETTINGS[case], checkpoints=False)
    assert run_train(reference).returncode == 0
    job = _job(tmp_path / "spot", SETTINGS[case], checkpoints=True)
    assert _interrupt_after(job, "[3] ") == 143
    state = json.loads((job.base / "checkpoints" / "checkpoint.json").read_text())
    assert 4 <= state["rounds"] < int(SETTINGS[case]["num_round"])
    assert json.loads((job.model / "manifest.json").read_text())["interrupted"] is True
    assert sorted(path.name for path in (job.base / "checkpoints").iterdir()) == [
        "checkpoint.json",
        state["model"],
    ]
    resumed = run_train(job)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"resuming from the checkpoint after round {state['rounds']}" in resumed.stdout
    assert _dump(job) == _dump(reference)
    assert json.loads((job.model / "manifest.json").read_text())["interrupted"] is False


def test_a_checkpoint_for_other_hyperparameters_fails_the_job(tmp_path: Path) -> None:
    job = _job(
        tmp_path, {"objective": "binary:logistic", "num_round": "6", "checkpoint_frequency": "2"}, True
    )
    assert run_train(job).returncode == 0
    state = json.loads((job.base / "checkpoints" / "checkpoint.json").read_text())
    assert state["rounds"] == 6
    (job.base / "input" / "config" / "hyperparameters.json").write_text(
        json.dumps({"objective": "binary:logistic", "num_round": "8", "eta": "0.1"})
    )
    result = run_train(job)
    assert result.returncode == 1
    assert "was written with eta=None, this job has 0.1" in job.failure.read_text()
