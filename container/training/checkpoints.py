"""Spot training: XGBoost checkpoints in `/opt/ml/checkpoints`, and resuming from them.

Owns: a checkpoint's files, and whether a job may resume from what it finds there (training
saves one every `checkpoint_frequency` rounds, and at the round where SIGTERM stopped it).
SageMaker mounts the directory when the job sets `checkpoint_s3_uri`, copies what is written to
S3, and puts it back before a restarted (spot) job starts; without the directory nothing is
written. A checkpoint is the booster after its last round (`xgboost-checkpoint-<rounds>.ubj`)
and `checkpoint.json`, which names it and records the rounds and what the model depends on (the
XGBoost parameters, early stopping and the data's shape). `checkpoint.json` is replaced last and
atomically, so a job stopped while writing leaves the previous checkpoint whole. A checkpoint
written for other parameters or data fails the job rather than training a mixture. Resuming
with early stopping restores its count of rounds without improvement from the booster's
recorded best round, so the resumed job stops where the uninterrupted one would. Must not know
the data files, or anything of scikit-learn (which has no rounds to checkpoint).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import xgboost

from container.errors import TrainingError

STATE_FILE = "checkpoint.json"
PREFIX = "xgboost-checkpoint-"


@dataclass(frozen=True)
class Checkpoints:
    directory: Path
    every: int
    fingerprint: dict[str, Any]

    def resume(self) -> xgboost.Booster | None:
        """The booster to continue from, or None to start afresh."""
        state_path = self.directory / STATE_FILE
        if not state_path.is_file():
            return None
        try:
            state = json.loads(state_path.read_text())
            booster = xgboost.Booster(model_file=str(self.directory / state["model"]))
        except (ValueError, KeyError, TypeError, xgboost.core.XGBoostError) as error:
            raise TrainingError(
                f"{state_path} cannot be resumed from: {error}; empty the checkpoint location"
            ) from None
        self._check_matches(state.get("fingerprint", {}))
        return booster

    def _check_matches(self, recorded: dict[str, Any]) -> None:
        for name in sorted(set(recorded) | set(self.fingerprint)):
            if recorded.get(name) != self.fingerprint.get(name):
                raise TrainingError(
                    f"the checkpoint in {self.directory} was written with {name}={recorded.get(name)!r}, "
                    f"this job has {self.fingerprint.get(name)!r}: use the job's own checkpoint location, "
                    "or empty it to start afresh"
                )

    def save(self, booster: xgboost.Booster) -> None:
        rounds = booster.num_boosted_rounds()
        name = f"{PREFIX}{rounds:06d}.ubj"
        _replace(self.directory / name, lambda path: booster.save_model(str(path)))
        state = {"model": name, "rounds": rounds, "fingerprint": self.fingerprint}
        _replace(
            self.directory / STATE_FILE, lambda path: path.write_text(json.dumps(state, indent=2) + "\n")
        )
        for old in self.directory.glob(f"{PREFIX}*.ubj"):
            if old.name != name:
                old.unlink(missing_ok=True)


def _replace(target: Path, write: Any) -> None:
    partial = target.with_name(f".{target.name}.partial")
    write(partial)
    os.replace(partial, target)


class ResumedEarlyStopping(xgboost.callback.EarlyStopping):
    """XGBoost's early stopping, but on a resumed booster it starts from the best score and round
    the booster recorded, instead of taking the first resumed round as the best."""

    def __init__(self, rounds: int) -> None:
        super().__init__(rounds=rounds)
        self._seed: tuple[float, int] | None = None

    def before_training(self, model: Any) -> Any:
        attributes = model.attributes()
        if model.num_boosted_rounds() and "best_score" in attributes:
            self._seed = float(attributes["best_score"]), int(attributes["best_iteration"])
        return super().before_training(model)

    def _update_rounds(self, *, score: Any, name: str, metric: str, model: Any, epoch: int) -> bool:
        if not self.stopping_history and self._seed is not None:
            best_score, best_iteration = self._seed
            self.stopping_history = {name: {metric: [best_score]}}
            self.best_scores = {name: {metric: [best_score]}}
            self.current_rounds = epoch - 1 - best_iteration
        return bool(super()._update_rounds(score=score, name=name, metric=metric, model=model, epoch=epoch))
