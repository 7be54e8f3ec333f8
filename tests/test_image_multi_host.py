"""Training on several hosts in the image: three containers on one Docker network
(tests/compose/multi-host-training.yml), each with a SageMaker-shaped /opt/ml tree, and the SDK's
local mode with `instance_count=2` (tests/helpers/sdk_local_training.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from pathlib import Path

import numpy as np
import pytest
import xgboost

from tests.helpers import sdk_driver
from tests.helpers.harness import REPO
from tests.helpers.models import synthetic
from tests.helpers.training_jobs import OptMl, csv_text

pytestmark = pytest.mark.container

SDK_DRIVER = REPO / "tests" / "helpers" / "sdk_local_training.py"
SDK_TIMEOUT = 600
COMPOSE_FILE = REPO / "tests" / "compose" / "multi-host-training.yml"
HOSTS = ("algo-1", "algo-2", "algo-3")
HYPERPARAMETERS = {"objective": "binary:logistic", "num_round": "20", "max_depth": "3", "eval_metric": "auc"}


def write_hosts(base: Path, shares: list[dict[str, list[str]]], distribution: str) -> None:
    """What SageMaker writes on each host: its resourceconfig.json and inputdataconfig.json."""
    for host, channels in zip(HOSTS, shares, strict=True):
        job = OptMl.create(base / host, HYPERPARAMETERS, channels)
        config = job.base / "input" / "config"
        resources = {"current_host": host, "hosts": list(HOSTS), "network_interface_name": "eth0"}
        (config / "resourceconfig.json").write_text(json.dumps(resources))
        data_config = {
            name: {"ContentType": "text/csv", "TrainingInputMode": "File", "S3DistributionType": distribution,
                   "RecordWrapperType": "None"}
            for name in ("train", "validation")
        }  # fmt: skip
        (config / "inputdataconfig.json").write_text(json.dumps(data_config))
    (base / "model").mkdir()


def channels(rows: int = 1500) -> dict[str, list[str]]:
    features, labels = synthetic(n_classes=2, rows=rows + 300, seed=3)
    train = [csv_text(labels[part], features[part]) for part in np.array_split(np.arange(rows), 2)]
    return {"train": train, "validation": [csv_text(labels[rows:], features[rows:])]}


def compose_up(image: str, base: Path) -> dict[str, tuple[int, str]]:
    """Runs the three hosts to their end; each host's exit code and log."""
    project = f"byommulti{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "BYOM_IMAGE": image, "BYOM_JOB": str(base), "COMPOSE_PROJECT_NAME": project}
    compose = ["docker-compose", "--file", str(COMPOSE_FILE)]
    try:
        up = subprocess.run(
            [*compose, "up", "--no-color"], env=env, capture_output=True, text=True, timeout=600
        )
        assert "ERROR" not in up.stderr.split("\n", 1)[0], up.stderr
        return {host: _ended(f"{project}_{host}_1") for host in HOSTS}
    finally:
        subprocess.run([*compose, "down"], env=env, capture_output=True, timeout=120)


def _ended(container: str) -> tuple[int, str]:
    inspected = subprocess.run(
        ["docker", "inspect", "-f", "{{.State.ExitCode}}", container],
        capture_output=True,
        text=True,
        timeout=60,
    )
    logs = subprocess.run(["docker", "logs", container], capture_output=True, text=True, timeout=60)
    return int(inspected.stdout.strip()), logs.stdout + logs.stderr


def test_three_containers_train_sharded_data_one_of_them_without_any(image: str, tmp_path: Path) -> None:
    data = channels()
    shares = [{"train": [file], "validation": data["validation"]} for file in data["train"]] + [{}]
    write_hosts(tmp_path, shares, "ShardedByS3Key")
    ended = compose_up(image, tmp_path)
    described = "\n".join(f"--- {host}: exit {code}\n{log[-3000:]}" for host, (code, log) in ended.items())
    assert [code for code, _ in ended.values()] == [0, 0, 0], described
    assert "algo-3 received no train data; algo-1, algo-2 train without it" in ended["algo-3"][1]
    assert "on 750 rows x 6 features (host algo-2, rank 1 of 2)" in ended["algo-2"][1]
    assert sorted(path.name for path in (tmp_path / "model").iterdir()) == [
        "manifest.json",
        "xgboost-model.ubj",
    ]
    booster = xgboost.Booster(model_file=str(tmp_path / "model" / "xgboost-model.ubj"))
    assert booster.num_boosted_rounds() == 20
    metrics = json.loads((tmp_path / "model" / "manifest.json").read_text())["metrics"]
    assert metrics["validation-auc"] > 0.95


def test_three_containers_train_replicated_data(image: str, tmp_path: Path) -> None:
    write_hosts(tmp_path, [channels()] * 3, "FullyReplicated")
    ended = compose_up(image, tmp_path)
    described = "\n".join(f"--- {host}: exit {code}\n{log[-3000:]}" for host, (code, log) in ended.items())
    assert [code for code, _ in ended.values()] == [0, 0, 0], described
    assert "on 500 rows x 6 features (host algo-1, rank 0 of 3)" in ended["algo-1"][1]
    assert "algo-1 writes the model" in ended["algo-3"][1]
    assert (tmp_path / "model" / "manifest.json").is_file()


def test_the_sdk_trains_on_two_instances_in_local_mode(image: str, tmp_path: Path) -> None:
    sdk_driver.require_sdk()
    data = channels()
    for name, texts in data.items():
        (tmp_path / name).mkdir()
        for number, text in enumerate(texts):
            (tmp_path / name / f"part-{number}.csv").write_text(text)
    (tmp_path / "output").mkdir()
    (tmp_path / "root").mkdir()
    label = f"sdktrain-{uuid.uuid4().hex[:12]}"
    result_path = tmp_path / "result.json"
    command = [
        str(sdk_driver.SDK_PYTHON),
        str(SDK_DRIVER),
        image,
        str(tmp_path / "train"),
        str(tmp_path / "validation"),
    ]
    command += [str(tmp_path / "output"), label, str(tmp_path / "root"), str(result_path)]
    with sdk_driver.removing_what_local_mode_leaves(label):
        run = sdk_driver.run_in_own_group(command, sdk_driver.sdk_environment(), tmp_path, SDK_TIMEOUT)
    assert run.returncode == 0, run.stdout[-8000:]
    result = json.loads(result_path.read_text())
    assert result["refused"] == []
    assert result["model_files"] == ["manifest.json", "xgboost-model.ubj"]
    assert result["manifest"]["metrics"]["validation-auc"] > 0.95
    # Both hosts trained, on half the rows each; the first wrote the model, the second waited for it.
    assert re.search(r"on 750 rows x 6 features \(host algo-1-\w+, rank 0 of 2\)", run.stdout), run.stdout[
        -8000:
    ]
    assert re.search(r"on 750 rows x 6 features \(host algo-2-\w+, rank 1 of 2\)", run.stdout)
    assert re.search(r"trained; algo-1-\w+ writes the model", run.stdout)
