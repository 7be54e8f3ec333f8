"""Fitting: one trainer per algorithm in TRAINERS, each returning a TrainedModel.

Owns: turning labels into what each library trains on, XGBoost's rounds, early stopping and
per-iteration metric lines, stopping at the next round on SIGTERM, and the metrics printed at the
end. A TrainedModel wraps its in-memory model in the serving flavour (BoosterModel or
EstimatorModel), so metrics and the manifest's golden outputs come from the code that serves it
from its artifact; a decision tree is also exported (exported_tree), to be served without
scikit-learn when the export reproduces it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import skops.io
import xgboost
from sklearn import ensemble, metrics, tree

from container.errors import TrainingError
from container.flavours.booster import BoosterModel
from container.flavours.estimator import EstimatorModel
from container.flavours.exported_tree import ExportRejected, write_export
from container.outputs import Predictor
from container.settings import usable_cpu_count
from container.tables import Matrix
from container.training.checkpoints import Checkpoints, ResumedEarlyStopping
from container.training.data import Channels, Dataset, class_labels, numeric_targets
from container.training.hyperparameters import Hyperparameters
from container.training.matrices import cache_directory, xgboost_matrix

XGBOOST_ARTIFACT = "xgboost-model.ubj"
SCORED_ROWS = 65_536  # rows scored at a time: 15 MiB of float64 at 30 features
ESTIMATORS: dict[tuple[str, str], Any] = {
    ("decision_tree", "classification"): tree.DecisionTreeClassifier,
    ("decision_tree", "regression"): tree.DecisionTreeRegressor,
    ("random_forest", "classification"): ensemble.RandomForestClassifier,
    ("random_forest", "regression"): ensemble.RandomForestRegressor,
    ("gradient_boosting", "classification"): ensemble.GradientBoostingClassifier,
    ("gradient_boosting", "regression"): ensemble.GradientBoostingRegressor,
}


class StopFlag:
    """Set by the SIGTERM handler; trainers stop at the next point where they can."""

    def __init__(self) -> None:
        self.requested = False

    def handle(self, signum: int, frame: object) -> None:
        self.requested = True


@dataclass(frozen=True)
class TrainedModel:
    artifact_name: str
    save: Callable[[Path], None]
    predictor: Predictor
    classes: list[Any] | None
    objective: str | None
    rounds: int | None = None


@dataclass(frozen=True)
class Targets:
    """Labels as the library trains on them, plus the class list for classification."""

    train: np.ndarray
    validation: np.ndarray | None
    classes: list[Any] | None


def fit(
    hp: Hyperparameters,
    channels: Channels,
    targets: Targets,
    stop: StopFlag,
    checkpoints: Checkpoints | None = None,
) -> TrainedModel:
    """The trained model; XGBoost writes and resumes from `checkpoints` when given."""
    if hp.algorithm == "xgboost":
        return _train_xgboost(hp, channels, targets, stop, checkpoints)
    return _train_estimator(hp, channels, targets, stop)


def evaluate(trained: TrainedModel, channels: Channels, targets: Targets) -> dict[str, float]:
    results = {
        f"train-{name}": value for name, value in _scores(trained, channels.train, targets.train).items()
    }
    if channels.validation is not None and targets.validation is not None:
        scores = _scores(trained, channels.validation, targets.validation)
        results.update({f"validation-{name}": value for name, value in scores.items()})
    return results


def targets_for(hp: Hyperparameters, channels: Channels, every_label: np.ndarray | None = None) -> Targets:
    """`every_label`: the distinct train labels of every host of a multi-host job, so that the
    hosts number the classes alike even when a host's share lacks one."""
    validation = channels.validation
    if hp.task == "regression":
        return Targets(
            numeric_targets(channels.train), numeric_targets(validation) if validation else None, None
        )
    known = every_label if every_label is not None else channels.train.labels[:0]
    classes, train, checked = class_labels(
        np.concatenate([known, channels.train.labels]), validation.labels if validation else None
    )
    train = train[len(known) :]
    if len(classes) < 2:
        raise TrainingError(f"classification needs at least 2 classes; the train channel has {classes}")
    return Targets(train, checked, classes)


def _train_xgboost(
    hp: Hyperparameters, channels: Channels, targets: Targets, stop: StopFlag, checkpoints: Checkpoints | None
) -> TrainedModel:
    params = {**hp.params, "nthread": usable_cpu_count(), **_class_params(hp, targets)}
    if channels.validation is None and hp.early_stopping_rounds:
        raise TrainingError("early_stopping_rounds needs a validation channel")
    resumed = checkpoints.resume() if checkpoints is not None else None
    done = resumed.num_boosted_rounds() if resumed is not None else 0
    if resumed is not None:
        print(f"byom train: resuming from the checkpoint after round {done} of {hp.num_round}", flush=True)
    early = ResumedEarlyStopping(hp.early_stopping_rounds) if hp.early_stopping_rounds else None
    callbacks = [_RoundEnd(stop, checkpoints, early)]
    with cache_directory() as cache:
        evals = _xgboost_matrices(channels, targets, params, Path(cache))
        try:
            booster = xgboost.train(
                params, evals[0][0], num_boost_round=max(hp.num_round - done, 0), evals=evals,
                verbose_eval=False, callbacks=callbacks, xgb_model=resumed,
            )  # fmt: skip
        except xgboost.core.XGBoostError as error:
            raise TrainingError(f"XGBoost refused to train: {str(error).strip().splitlines()[-1]}") from None
    booster = _kept_rounds(booster, hp)
    classes = tuple(targets.classes) if targets.classes is not None else None
    predictor = BoosterModel(booster, usable_cpu_count(), classes)
    return TrainedModel(
        XGBOOST_ARTIFACT, lambda path: booster.save_model(str(path)), predictor, targets.classes,
        params["objective"], booster.num_boosted_rounds(),
    )  # fmt: skip


def _xgboost_matrices(
    channels: Channels, targets: Targets, params: dict[str, Any], cache: Path
) -> list[tuple[xgboost.DMatrix, str]]:
    try:
        train = xgboost_matrix(channels.train, targets.train, params, cache)
        evals = [(train, "train")]
        if channels.validation is not None and targets.validation is not None:
            validation = xgboost_matrix(channels.validation, targets.validation, params, cache, ref=train)
            evals.append((validation, "validation"))
    except xgboost.core.XGBoostError as error:
        raise TrainingError(f"XGBoost refused the data: {str(error).strip().splitlines()[-1]}") from None
    return evals


def _kept_rounds(booster: xgboost.Booster, hp: Hyperparameters) -> xgboost.Booster:
    """The best rounds under early stopping; at most num_round (a checkpoint may hold more)."""
    if hp.early_stopping_rounds and booster.best_iteration + 1 < booster.num_boosted_rounds():
        return booster[: booster.best_iteration + 1]
    if booster.num_boosted_rounds() > hp.num_round:
        return booster[: hp.num_round]
    return booster


def _class_params(hp: Hyperparameters, targets: Targets) -> dict[str, Any]:
    objective = hp.params["objective"]
    if targets.classes is None:
        return {}
    count = len(targets.classes)
    if objective.startswith("binary:") and count != 2:
        raise TrainingError(
            f"{objective} needs exactly 2 classes; the train channel has {count}: use multi:softprob"
        )
    if not objective.startswith("multi:"):
        return {}
    if hp.params.get("num_class", count) != count:
        raise TrainingError(
            f"num_class is {hp.params['num_class']}, but the train channel has {count} classes"
        )
    return {"num_class": count}


def _train_estimator(
    hp: Hyperparameters, channels: Channels, targets: Targets, stop: StopFlag
) -> TrainedModel:
    estimator = ESTIMATORS[(hp.algorithm, hp.task)](**hp.params)
    if "n_jobs" in estimator.get_params():
        estimator.set_params(n_jobs=usable_cpu_count())
    labels = targets.train if targets.classes is None else np.asarray(targets.classes)[targets.train]
    try:
        estimator.fit(channels.train.features, labels)
    except ValueError as error:
        raise TrainingError(f"{hp.algorithm} could not fit the train channel: {error}") from None
    name = f"{hp.algorithm.replace('_', '-')}-model.skops"
    predictor = EstimatorModel(estimator)  # serving's own wrapper: one thread, as it will serve
    return TrainedModel(
        name, lambda path: _save_estimator(estimator, predictor, path), predictor, targets.classes, None
    )


def _save_estimator(estimator: Any, predictor: EstimatorModel, path: Path) -> None:
    """The skops file, and beside it a tree's export, which serves it without scikit-learn."""
    skops.io.dump(estimator, path)
    try:
        write_export(estimator, predictor.schema, path)
    except ExportRejected as reason:
        print(f"byom: the tree is not exported, {reason}; it will be served with scikit-learn", flush=True)


def _scores(trained: TrainedModel, dataset: Dataset, truth: np.ndarray) -> dict[str, float]:
    """Regression: truth is the target values; classification: each row's class index."""
    model = trained.predictor
    if trained.classes is None:
        predicted = _by_block(model.native, dataset)
        error = predicted - truth
        return {"rmse": float(np.sqrt(np.mean(error**2))), "mae": float(np.mean(np.abs(error))),
                "r2": float(metrics.r2_score(truth, predicted))}  # fmt: skip
    names = np.asarray(trained.classes)
    scores = {"accuracy": float(np.mean(_by_block(model.labels, dataset) == names[truth]))}
    if "probabilities" in model.outputs:
        probabilities = _by_block(model.probabilities, dataset)
        scores["logloss"] = float(metrics.log_loss(truth, probabilities, labels=range(len(names))))
        if len(names) == 2 and len(set(truth.tolist())) == 2:
            scores["auc"] = float(metrics.roc_auc_score(truth, probabilities[:, 1]))
    return scores


def _by_block(predict: Callable[[Matrix], np.ndarray], dataset: Dataset) -> np.ndarray:
    """Serving's answers for the dataset, SCORED_ROWS at a time, on float64 rows as serving decodes
    them: a kept slab (128 MiB of float32) is not copied whole as float64."""
    return np.concatenate(
        [
            predict(block[start : start + SCORED_ROWS].astype(np.float64))
            for block in dataset.blocks()
            for start in range(0, block.shape[0], SCORED_ROWS)
        ]
    )


class _RoundEnd(xgboost.callback.TrainingCallback):
    """Everything after a round, in this order: its metrics line, early stopping's verdict, the
    stop flag, the checkpoint. One callback because XGBoost keeps its callbacks in a set and stops
    calling them at the first that says stop: their order differs between processes, and with
    several hosts a collective called by one host's callback and skipped by another's left the
    hosts out of step (a host waiting in the next round until the timeout, or reading another's
    verdict as a SIGTERM). Both verdicts are agreed by every host in one allreduce."""

    def __init__(
        self, stop: StopFlag, checkpoints: Checkpoints | None, early: ResumedEarlyStopping | None
    ) -> None:
        super().__init__()
        self.stop, self.checkpoints, self.early = stop, checkpoints, early

    def before_training(self, model: Any) -> Any:
        return self.early.before_training(model) if self.early is not None else model

    def after_iteration(
        self, model: Any, epoch: int, evals_log: xgboost.callback.TrainingCallback.EvalsLog
    ) -> bool:
        _print_metrics(model, evals_log)
        converged = self.early is not None and bool(self.early.after_iteration(model, epoch, evals_log))
        asked, converged = _any_host(self.stop.requested, converged)  # one read of the flag
        self.stop.requested = asked
        if self.checkpoints is not None and (
            asked or model.num_boosted_rounds() % self.checkpoints.every == 0
        ):
            self.checkpoints.save(model)  # a SIGTERM's round is saved before training stops
        return asked or converged

    def after_training(self, model: Any) -> Any:
        return self.early.after_training(model) if self.early is not None else model


def _print_metrics(model: Any, evals_log: xgboost.callback.TrainingCallback.EvalsLog) -> None:
    """One line per round, `[round] train-rmse: 0.41 validation-rmse: 0.47`: a SageMaker metric
    definition such as `validation-rmse: ([0-9.]+)` scrapes it. Several hosts: the first prints,
    as XGBoost's own monitor does."""
    if xgboost.collective.get_rank() != 0:
        return
    parts = [
        f"{data}-{name}: {_latest(history):.6f}"
        for data, log in evals_log.items()
        for name, history in log.items()
    ]
    print(f"[{model.num_boosted_rounds() - 1}] " + "  ".join(parts), flush=True)  # resumed: past rounds count


def _latest(history: list[float] | list[tuple[float, float]]) -> float:
    """The newest value; cross-validation logs (mean, std) pairs, training logs plain floats."""
    value = history[-1]
    return value[0] if isinstance(value, tuple) else value


def _any_host(*verdicts: bool) -> tuple[bool, ...]:
    """The verdicts, or with several hosts whether any host's is true, each (every host must ask)."""
    if not xgboost.collective.is_distributed():
        return verdicts
    mine = np.array(verdicts, dtype=np.int32)
    return tuple(bool(any_host) for any_host in xgboost.collective.allreduce(mine, xgboost.collective.Op.MAX))
