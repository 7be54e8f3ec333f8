"""`train`: one SageMaker training job, from `/opt/ml/input` to `/opt/ml/model`.

Owns: the order of a job and its exits. It reads the three config files (hyperparameters,
input data config, resource config), loads the channels, fits, prints the metrics as
`name: value` lines, writes the artifact and its manifest to the model directory and the metrics
to `output/data/metrics.json`. Any failure writes a short reason to `output/failure` (SageMaker
shows its first 1024 characters) and exits non-zero: 1 for a problem with the job's inputs, 2 for
our own bug. SIGTERM stops XGBoost at the next round; what was trained is saved (and, with
`/opt/ml/checkpoints`, left as a checkpoint the restarted job resumes from), and the job exits 143
with the reason in `output/failure`. With several hosts (distributed.py) every host runs this;
only the team's first writes the model and the checkpoints, and a host without data leaves with
exit 0.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Any

from container import manifest
from container.errors import ConfigurationError, TrainingError
from container.flavours import EXPORT_SUFFIX, MANIFEST_NAME, flavour_of
from container.settings import TrackerSettings, TrainingPaths
from container.training import distributed
from container.training.algorithms import StopFlag, TrainedModel, evaluate, fit, targets_for
from container.training.checkpoints import Checkpoints
from container.training.data import Channels, sample_rows
from container.training.hyperparameters import Hyperparameters, parse

EXIT_BAD_INPUT, EXIT_OUR_BUG, EXIT_STOPPED = 1, 2, 143


def main() -> None:
    try:
        paths = TrainingPaths.from_env(os.environ)
    except ConfigurationError as error:
        print(f"byom train: failed: {error.message}", file=sys.stderr, flush=True)
        sys.exit(EXIT_BAD_INPUT)
    stop = StopFlag()
    signal.signal(signal.SIGTERM, stop.handle)
    try:
        saved = run(paths, stop)
    except distributed.NoShare as reason:
        _say(str(reason))
        return
    except TrainingError as error:
        _fail(paths, error.message, EXIT_BAD_INPUT)
    except Exception as error:
        traceback.print_exc()
        _fail(paths, f"internal error ({type(error).__name__}): {error}", EXIT_OUR_BUG)
    if stop.requested:
        where = f"saved as {saved.artifact}" if saved else "saved by the first host"
        _fail(paths, f"stopped by SIGTERM; the model trained so far was {where}", EXIT_STOPPED)


def run(paths: TrainingPaths, stop: StopFlag) -> manifest.Manifest | None:
    """The job; the manifest written, or None on a host that leaves the writing to the first."""
    raw = _hyperparameters(paths.config / "hyperparameters.json")
    hp = parse(raw)
    data_config = _read_json(paths.config / "inputdataconfig.json")
    cluster = distributed.Cluster.from_config(_read_json(paths.config / "resourceconfig.json"), data_config)
    distributed.check_algorithm(cluster, hp.algorithm)
    tracker = TrackerSettings.from_env(os.environ)
    loading = distributed.Loading(paths.data, data_config, hp.task, paths.memory_mb)
    with distributed.training_team(cluster, tracker, loading) as (team, channels):
        _say(f"{hp.algorithm} ({hp.task}) on {_shape(channels)}{_where(team)}")
        targets = targets_for(hp, channels, distributed.every_label(team, channels, hp.task != "regression"))
        checkpoints = distributed.shared_checkpoints(team, checkpoints_for(paths, hp, channels))
        trained = fit(hp, channels, targets, stop, checkpoints)
        scores = distributed.combined_scores(
            team, channels, lambda local: evaluate(trained, local, targets), hp.task == "regression"
        )
        if not team.writes:  # and waits in the group until the first host has written
            _say(f"trained; {team.hosts[0]} writes the model")
            return None
        return _write(paths, trained, channels, hp, raw, scores, stop.requested)


def _write(
    paths: TrainingPaths, trained: TrainedModel, channels: Channels, hp: Hyperparameters,
    raw: dict[str, str], scores: dict[str, float], interrupted: bool,
) -> manifest.Manifest:  # fmt: skip
    for name, value in scores.items():
        print(f"{name}: {value:.6f}", flush=True)
    saved = _save(paths, trained, channels, hp, raw, scores, interrupted)
    (paths.output / "data").mkdir(parents=True, exist_ok=True)
    (paths.output / "data" / "metrics.json").write_text(json.dumps(scores, indent=2) + "\n")
    written = sorted(path.name for path in paths.model.iterdir() if path.name != MANIFEST_NAME)
    _say(f"wrote {', '.join(written)} and {MANIFEST_NAME} in {paths.model}")
    return saved


def _save(
    paths: TrainingPaths, trained: TrainedModel, channels: Channels, hp: Hyperparameters,
    raw: dict[str, str], scores: dict[str, float], interrupted: bool,
) -> manifest.Manifest:  # fmt: skip
    paths.model.mkdir(parents=True, exist_ok=True)
    _clear_previous_model(paths.model)
    artifact = paths.model / trained.artifact_name
    trained.save(artifact)
    rows, outputs = manifest.golden_record(
        trained.predictor, sample_rows(channels.train, manifest.GOLDEN_ROWS)
    )
    record = manifest.Manifest(
        artifact=artifact.name, sha256=manifest.file_sha256(artifact), algorithm=hp.algorithm, task=hp.task,
        n_features=channels.train.shape[1], classes=trained.classes, objective=trained.objective,
        feature_names=None, hyperparameters=raw, metrics=scores, golden_rows=rows, golden_outputs=outputs,
        library_versions=manifest.library_versions(), interrupted=interrupted,
    )  # fmt: skip
    manifest.write(record, paths.model)
    return record


def checkpoints_for(paths: TrainingPaths, hp: Hyperparameters, channels: Channels) -> Checkpoints | None:
    """XGBoost's checkpoints when SageMaker mounted /opt/ml/checkpoints (checkpoint_s3_uri)."""
    if hp.algorithm != "xgboost" or not paths.checkpoints.is_dir():
        return None
    fingerprint = {
        **{name: json.loads(json.dumps(value)) for name, value in hp.params.items()},
        "early_stopping_rounds": hp.early_stopping_rounds, "rows": channels.train.shape[0],
        "features": channels.train.shape[1],
    }  # fmt: skip
    return Checkpoints(paths.checkpoints, hp.checkpoint_frequency, fingerprint)


def _clear_previous_model(model_dir: Path) -> None:
    """A model directory holds one model: remove what an earlier run left, so serving finds one."""
    for path in model_dir.iterdir():
        if path.name == MANIFEST_NAME or flavour_of(path) is not None or path.name.endswith(EXPORT_SUFFIX):
            path.unlink()


def _hyperparameters(path: Path) -> dict[str, str]:
    raw = _read_json(path)
    if not isinstance(raw, dict):
        raise TrainingError(f"{path.name} must hold a JSON object of name: value")
    return {str(name): value if isinstance(value, str) else json.dumps(value) for name, value in raw.items()}


def _read_json(path: Path) -> Any:
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except ValueError as error:
        raise TrainingError(f"{path.name} is not valid JSON: {error}") from None


def _shape(channels: Channels) -> str:
    return f"{channels.train.shape[0]} rows x {channels.train.shape[1]} features"


def _where(team: distributed.Team) -> str:
    return f" ({team.describe()})" if len(team.hosts) > 1 else ""


def _fail(paths: TrainingPaths, reason: str, code: int) -> None:
    paths.output.mkdir(parents=True, exist_ok=True)
    paths.failure.write_text(reason + "\n")
    print(f"byom train: failed: {reason}", file=sys.stderr, flush=True)
    sys.exit(code)


def _say(message: str) -> None:
    print(f"byom train: {message}", flush=True)


if __name__ == "__main__":
    main()
