"""Training jobs for tests: an `/opt/ml`-shaped tree in a temp directory, and `./train` run on it.

`OptMl.create` writes the config files and channel data; `run_train` runs the real `./train`
(or, with `image=`, `docker run IMAGE train`) against it. Datasets are generated or ship with
scikit-learn; nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import skops.io
import xgboost

from container.flavours import find_artifact
from tests.helpers.harness import REPO, share_with_any_user
from tests.helpers.models import iris, synthetic


@dataclass(frozen=True)
class OptMl:
    base: Path

    @property
    def model(self) -> Path:
        return self.base / "model"

    @property
    def failure(self) -> Path:
        return self.base / "output" / "failure"

    @classmethod
    def create(
        cls,
        base: Path,
        hyperparameters: Mapping[str, str],
        channels: Mapping[str, Sequence[str]],
        content_types: Mapping[str, str] | None = None,
    ) -> OptMl:
        """`channels` maps a channel name to the texts of its files."""
        config = base / "input" / "config"
        config.mkdir(parents=True)
        (config / "hyperparameters.json").write_text(json.dumps(dict(hyperparameters)))
        data_config = {
            name: {"ContentType": kind, "TrainingInputMode": "File"}
            for name, kind in (content_types or {}).items()
        }
        (config / "inputdataconfig.json").write_text(json.dumps(data_config))
        (config / "resourceconfig.json").write_text(
            json.dumps({"current_host": "algo-1", "hosts": ["algo-1"]})
        )
        for name, texts in channels.items():
            directory = base / "input" / "data" / name
            directory.mkdir(parents=True)
            for number, text in enumerate(texts):
                (directory / f"part-{number}.data").write_text(text)
        return cls(base)


def run_train(
    job: OptMl, timeout: float = 600, image: str | None = None, run_as: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    if image is not None:
        if run_as:
            share_with_any_user(job.base, writable=True)
        command = ["docker", "run", "--rm", *run_as, "-v", f"{job.base}:/opt/ml", image, "train"]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    env = {**os.environ, "SAGEMAKER_BASE_DIR": str(job.base)}
    env.pop("SM_MODEL_DIR", None)
    return subprocess.run([str(REPO / "train")], env=env, capture_output=True, text=True, timeout=timeout)


def csv_text(labels: Sequence[Any], rows: np.ndarray) -> str:
    return "".join(
        f"{label}," + ",".join(repr(float(v)) for v in row) + "\n"
        for label, row in zip(labels, rows, strict=True)
    )


def libsvm_text(labels: Sequence[Any], rows: np.ndarray) -> str:
    lines = []
    for label, row in zip(labels, rows, strict=True):
        pairs = " ".join(f"{index}:{value!r}" for index, value in enumerate(row.tolist()) if value != 0)
        lines.append(f"{label} {pairs}\n")
    return "".join(lines)


def iris_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Iris with string labels: every fifth row is validation."""
    features, labels = iris()
    held = np.arange(len(labels)) % 5 == 0
    return features[~held], labels[~held], features[held], labels[held]


def synthetic_split(
    n_classes: int, names: Sequence[Any] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    features, labels = synthetic(n_classes=n_classes, rows=600)
    named = np.asarray(names)[labels] if names is not None else labels
    return features[:500], named[:500], features[500:], named[500:]


def iris_job(base: Path, hyperparameters: dict[str, str]) -> tuple[OptMl, np.ndarray]:
    train_x, train_y, valid_x, valid_y = iris_split()
    channels = {"train": [csv_text(train_y, train_x)], "validation": [csv_text(valid_y, valid_x)]}
    return OptMl.create(base, hyperparameters, channels), train_x


def synthetic_job(
    base: Path,
    hyperparameters: dict[str, str],
    n_classes: int,
    names: list[str] | None = None,
    libsvm: bool = False,
) -> tuple[OptMl, np.ndarray]:
    train_x, train_y, valid_x, valid_y = synthetic_split(n_classes, names)
    write = libsvm_text if libsvm else csv_text
    halves = [
        write(train_y[:250], train_x[:250]),
        write(train_y[250:], train_x[250:]),
    ]  # two files per channel
    kinds = {"train": "text/libsvm", "validation": "text/libsvm"} if libsvm else None
    return OptMl.create(
        base, hyperparameters, {"train": halves, "validation": [write(valid_y, valid_x)]}, kinds
    ), train_x


def regression_job(base: Path, hyperparameters: dict[str, str]) -> tuple[OptMl, np.ndarray]:
    train_x, _, valid_x, _ = synthetic_split(2)
    target = lambda x: 3 * x[:, 0] - x[:, 1] ** 2  # noqa: E731
    channels = {
        "train": [csv_text(target(train_x), train_x)],
        "validation": [csv_text(target(valid_x), valid_x)],
    }
    return OptMl.create(base, hyperparameters, channels), train_x


JOBS: dict[str, Callable[[Path], tuple[OptMl, np.ndarray]]] = {
    "decision_tree": lambda base: iris_job(base, {"algorithm": "decision_tree", "max_depth": "4"}),
    "random_forest": lambda base: iris_job(base, {"algorithm": "random_forest", "n_estimators": "15"}),
    "gradient_boosting": lambda base: iris_job(
        base, {"algorithm": "gradient_boosting", "n_estimators": "20"}
    ),
    "random_forest_regression": lambda base: regression_job(
        base, {"algorithm": "random_forest", "task": "regression", "n_estimators": "10"}
    ),
    "xgboost_binary": lambda base: synthetic_job(
        base,
        {
            "objective": "binary:logistic",
            "num_round": "200",
            "early_stopping_rounds": "5",
            "eval_metric": "auc,logloss",
        },
        2,
    ),
    "xgboost_multi_named": lambda base: synthetic_job(
        base, {"objective": "multi:softprob", "num_round": "15"}, 3, ["low", "mid", "high"]
    ),
    "xgboost_libsvm": lambda base: synthetic_job(
        base, {"objective": "binary:logistic", "num_round": "10"}, 2, libsvm=True
    ),
    "xgboost_regression": lambda base: regression_job(base, {"num_round": "20", "max_depth": "3"}),
}


def reference_predictions(model_dir: Path, rows: np.ndarray) -> np.ndarray:
    """The library's own answer, loading the artifact without any of our code."""
    artifact = find_artifact(model_dir).path
    if artifact.suffix == ".skops":
        estimator = skops.io.load(artifact, trusted=skops.io.get_untrusted_types(file=artifact))
        return np.asarray(estimator.predict(rows))
    return np.asarray(xgboost.Booster(model_file=str(artifact)).predict(xgboost.DMatrix(rows)))
