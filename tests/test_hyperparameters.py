"""hyperparameters.parse: defaults, aliases, both encodings, every refusal, and params the libraries take."""

from __future__ import annotations

import json
import re
import warnings
from typing import Any

import numpy as np
import pytest
import xgboost
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from container.errors import TrainingError
from container.training.hyperparameters import (
    ALGORITHMS,
    MAX_HYPERPARAMETERS,
    OBJECTIVES,
    Hyperparameters,
    parse,
)

ESTIMATORS: dict[tuple[str, str], type[Any]] = {
    ("decision_tree", "classification"): DecisionTreeClassifier,
    ("decision_tree", "regression"): DecisionTreeRegressor,
    ("random_forest", "classification"): RandomForestClassifier,
    ("random_forest", "regression"): RandomForestRegressor,
    ("gradient_boosting", "classification"): GradientBoostingClassifier,
    ("gradient_boosting", "regression"): GradientBoostingRegressor,
}
SKLEARN = ("decision_tree", "random_forest", "gradient_boosting")


def refusal(raw: dict[str, Any]) -> str:
    with pytest.raises(TrainingError) as caught:
        parse(raw)
    return caught.value.message


# --- defaults, seed, aliases, encodings ----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(
            {},
            Hyperparameters(
                "xgboost", "regression", 0, {"objective": "reg:squarederror", "seed": 0}, 100, None
            ),
            id="nothing-is-xgboost",
        ),
        pytest.param(
            {"algorithm": "xgboost"},
            Hyperparameters(
                "xgboost", "regression", 0, {"objective": "reg:squarederror", "seed": 0}, 100, None
            ),
            id="xgboost",
        ),
        *(
            pytest.param(
                {"algorithm": name},
                Hyperparameters(name, "classification", 0, {"random_state": 0}, 0, None),
                id=name,
            )
            for name in SKLEARN
        ),
        pytest.param(
            {"algorithm": "random_forest", "task": "regression"},
            Hyperparameters("random_forest", "regression", 0, {"random_state": 0}, 0, None),
            id="sklearn-regression",
        ),
    ],
)
def test_defaults(raw: dict[str, str], expected: Hyperparameters) -> None:
    assert parse(raw) == expected


def test_algorithms_are_the_public_four() -> None:
    assert ALGORITHMS == ("xgboost", "decision_tree", "random_forest", "gradient_boosting")


@pytest.mark.parametrize(
    ("algorithm", "seed_param"), [("xgboost", "seed")] + [(a, "random_state") for a in SKLEARN]
)
def test_seed_reaches_the_library_params(algorithm: str, seed_param: str) -> None:
    hp = parse({"algorithm": algorithm, "seed": "42"})

    assert hp.seed == 42
    assert hp.params[seed_param] == 42


def test_xgboost_rounds_and_early_stopping_are_not_library_params() -> None:
    hp = parse({"num_round": "7", "early_stopping_rounds": "3", "eta": "0.5"})

    assert (hp.num_round, hp.early_stopping_rounds) == (7, 3)
    assert hp.params == {"objective": "reg:squarederror", "eta": 0.5, "seed": 0}


@pytest.mark.parametrize(
    ("alias", "canonical", "text", "value"),
    [
        ("learning_rate", "eta", "0.05", 0.05),
        ("min_split_loss", "gamma", "1.5", 1.5),
        ("reg_lambda", "lambda", "3", 3.0),
        ("reg_alpha", "alpha", "0", 0.0),
    ],
)
def test_xgboost_aliases_are_canonicalised(alias: str, canonical: str, text: str, value: float) -> None:
    params = parse({alias: text}).params

    assert params[canonical] == value
    assert alias not in params


def test_an_alias_and_its_name_together_fail() -> None:
    assert refusal({"eta": "0.1", "learning_rate": "0.2"}) == (
        "hyperparameter learning_rate is another name for eta; give only one"
    )


@pytest.mark.parametrize(
    "plain",
    [
        pytest.param({"eta": "0.1", "objective": "binary:logistic", "max_depth": "4"}, id="xgboost"),
        pytest.param({"eval_metric": "auc,logloss", "num_round": "10"}, id="xgboost-list"),
        pytest.param(
            {"algorithm": "decision_tree", "max_depth": "None", "class_weight": "balanced"}, id="tree"
        ),
        pytest.param(
            {"algorithm": "random_forest", "bootstrap": "false", "max_features": "0.5"}, id="forest"
        ),
        pytest.param(
            {"algorithm": "gradient_boosting", "task": "regression", "loss": "huber"}, id="boosting"
        ),
    ],
)
def test_json_encoded_strings_mean_the_same_as_plain_ones(plain: dict[str, str]) -> None:
    encoded = {name: json.dumps(value) for name, value in plain.items()}

    assert parse(encoded) == parse(plain)


@pytest.mark.parametrize(
    ("raw", "name", "value"),
    [
        pytest.param({"max_depth": " 3 "}, "max_depth", 3, id="spaces-stripped"),
        pytest.param({"max_depth": "+3"}, "max_depth", 3, id="plus-sign"),
        pytest.param({"eta": "1e-3"}, "eta", 0.001, id="exponent"),
        pytest.param({"eta": ".5"}, "eta", 0.5, id="leading-point"),
        pytest.param({"eta": "1"}, "eta", 1.0, id="number-from-whole"),
        pytest.param({"base_score": "-2.5"}, "base_score", -2.5, id="any-number"),
        pytest.param({"eval_metric": "auc"}, "eval_metric", "auc", id="one-metric"),
        pytest.param({"eval_metric": "auc, logloss"}, "eval_metric", ["auc", "logloss"], id="metric-list"),
        pytest.param(
            {"eval_metric": "ndcg@5-,error@0.7"}, "eval_metric", ["ndcg@5-", "error@0.7"], id="metric-args"
        ),
        pytest.param({"monotone_constraints": "(1,-1)"}, "monotone_constraints", "(1,-1)", id="text"),
        pytest.param(
            {"algorithm": "decision_tree", "max_features": "sqrt"}, "max_features", "sqrt", id="mf-word"
        ),
        pytest.param({"algorithm": "decision_tree", "max_features": "3"}, "max_features", 3, id="mf-count"),
        pytest.param(
            {"algorithm": "decision_tree", "max_features": "0.5"}, "max_features", 0.5, id="mf-fraction"
        ),
        pytest.param({"algorithm": "decision_tree", "max_features": "1.0"}, "max_features", 1.0, id="mf-all"),
        pytest.param(
            {"algorithm": "decision_tree", "max_features": "None"}, "max_features", None, id="mf-none"
        ),
        pytest.param({"algorithm": "decision_tree", "max_depth": "null"}, "max_depth", None, id="null"),
        pytest.param({"algorithm": "random_forest", "max_samples": "10"}, "max_samples", 10, id="ms-count"),
        pytest.param(
            {"algorithm": "random_forest", "max_samples": "0.25"}, "max_samples", 0.25, id="ms-fraction"
        ),
        pytest.param(
            {"algorithm": "random_forest", "bootstrap": "FALSE"}, "bootstrap", False, id="bool-upper"
        ),
        pytest.param({"algorithm": "random_forest", "oob_score": "True"}, "oob_score", True, id="bool-title"),
        pytest.param({"algorithm": "random_forest", "oob_score": "1"}, "oob_score", True, id="bool-one"),
        pytest.param({"algorithm": "random_forest", "bootstrap": "0"}, "bootstrap", False, id="bool-zero"),
    ],
)
def test_values_are_cast_to_their_kind(raw: dict[str, str], name: str, value: object) -> None:
    got = parse(raw).params[name]

    assert got == value
    assert type(got) is type(value)


# --- refusals: bad values ------------------------------------------------------------------------

XGBOOST_OBJECTIVES = ", ".join(OBJECTIVES)
MAX_FEATURES = "one of sqrt, log2, or a whole number of at least 1, or a number in (0, 1], or None"
MAX_SAMPLES = "a whole number of at least 1, or a number in (0, 1], or None"


@pytest.mark.parametrize(
    ("raw", "name", "value", "expected"),
    [
        # xgboost
        ({}, "max_depth", "-1", "a whole number of at least 0"),
        ({}, "max_bin", "1", "a whole number of at least 2"),
        ({}, "verbosity", "4", "a whole number from 0 to 3"),
        ({}, "num_round", "0", "a whole number of at least 1"),
        ({}, "early_stopping_rounds", "0", "a whole number of at least 1"),
        ({"objective": "multi:softmax"}, "num_class", "1", "a whole number of at least 2"),
        ({}, "seed", "-1", "a whole number from 0 to 4294967295"),
        ({}, "seed", "4294967296", "a whole number from 0 to 4294967295"),
        ({}, "eta", "2", "a number in (0, 1]"),
        ({}, "eta", "0", "a number in (0, 1]"),
        ({}, "learning_rate", "0", "a number in (0, 1]"),
        ({}, "subsample", "1.01", "a number in (0, 1]"),
        ({}, "reg_lambda", "-0.1", "a number of at least 0"),
        ({}, "tweedie_variance_power", "2", "a number in (1, 2)"),
        ({}, "tweedie_variance_power", "1", "a number in (1, 2)"),
        ({}, "quantile_alpha", "1", "a number in (0, 1)"),
        ({}, "huber_slope", "0", "a number greater than 0"),
        ({}, "base_score", "abc", "a number"),
        ({}, "objective", "foo", f"one of {XGBOOST_OBJECTIVES}"),
        ({}, "tree_method", "gpu_hist", "one of auto, exact, approx, hist"),
        ({}, "booster", "GBTREE", "one of gbtree, dart, gblinear"),
        (
            {},
            "sampling_method",
            "gradient_based",
            "one of uniform (gradient_based needs a GPU; this is xgboost-cpu)",
        ),
        ({}, "eval_metric", "auc,,logloss", "a metric name or a comma-separated list of them"),
        ({}, "eval_metric", '["auc", "logloss"]', "a metric name or a comma-separated list of them"),
        ({}, "monotone_constraints", "", "non-empty text"),
        ({}, "algorithm", "svm", "one of xgboost, decision_tree, random_forest, gradient_boosting"),
        # decision_tree
        ({"algorithm": "decision_tree"}, "max_depth", "0", "a whole number of at least 1, or None"),
        ({"algorithm": "decision_tree"}, "min_samples_split", "1", "a whole number of at least 2"),
        ({"algorithm": "decision_tree"}, "min_samples_leaf", "0", "a whole number of at least 1"),
        ({"algorithm": "decision_tree"}, "min_weight_fraction_leaf", "0.6", "a number in [0, 0.5]"),
        ({"algorithm": "decision_tree"}, "max_leaf_nodes", "1", "a whole number of at least 2, or None"),
        ({"algorithm": "decision_tree"}, "ccp_alpha", "-1", "a number of at least 0"),
        ({"algorithm": "decision_tree"}, "splitter", "worst", "one of best, random"),
        ({"algorithm": "decision_tree"}, "class_weight", "balanced_subsample", "one of balanced, or None"),
        ({"algorithm": "decision_tree"}, "task", "ranking", "one of classification, regression"),
        *(
            ({"algorithm": "decision_tree"}, "max_features", value, MAX_FEATURES)
            for value in ("0", "1.5", "-1", "auto", "")
        ),
        # random_forest
        ({"algorithm": "random_forest"}, "n_estimators", "0", "a whole number of at least 1"),
        ({"algorithm": "random_forest"}, "bootstrap", "yes", "true, false, 1 or 0"),
        ({"algorithm": "random_forest"}, "oob_score", "2", "true, false, 1 or 0"),
        ({"algorithm": "random_forest"}, "max_samples", "0", MAX_SAMPLES),
        ({"algorithm": "random_forest"}, "max_samples", "1.5", MAX_SAMPLES),
        ({"algorithm": "random_forest"}, "max_features", "2.5", MAX_FEATURES),
        # gradient_boosting
        ({"algorithm": "gradient_boosting"}, "learning_rate", "0", "a number greater than 0"),
        ({"algorithm": "gradient_boosting"}, "subsample", "0", "a number in (0, 1]"),
        ({"algorithm": "gradient_boosting"}, "validation_fraction", "1", "a number in (0, 1)"),
        (
            {"algorithm": "gradient_boosting"},
            "n_iter_no_change",
            "0",
            "a whole number of at least 1, or None",
        ),
        ({"algorithm": "gradient_boosting"}, "max_depth", "2.0", "a whole number of at least 1, or None"),
        ({"algorithm": "gradient_boosting", "task": "regression"}, "alpha", "1", "a number in (0, 1)"),
    ],
)
def test_a_bad_value_names_itself_and_the_accepted_range(
    raw: dict[str, str], name: str, value: str, expected: str
) -> None:
    assert refusal({**raw, name: value}) == f"hyperparameter {name}={value!r}: expected {expected}"


@pytest.mark.parametrize(
    "value",
    ["3.0", "3.5", "1e3", "1_000", "0x10", "nan", "three", "\u0663", "3 4", "", "+", "99999999999999999999"],
)
def test_whole_numbers_are_plain_ascii_digits(value: str) -> None:
    assert (
        refusal({"max_depth": value})
        == f"hyperparameter max_depth={value!r}: expected a whole number of at least 0"
    )


@pytest.mark.parametrize(
    "value",
    [
        "1_000",
        "nan",
        "NaN",
        "inf",
        "-inf",
        "Infinity",
        "0x10",
        "1e999",
        "",
        ".",
        "1.2.3",
        "\u0660.\u0665",
        "1,5",
    ],
)
def test_numbers_are_plain_ascii_decimals(value: str) -> None:
    assert refusal({"gamma": value}) == f"hyperparameter gamma={value!r}: expected a number of at least 0"


def test_a_value_that_is_not_a_string_fails() -> None:
    assert refusal({"eta": 0.1}) == "hyperparameter eta=0.1: expected a string"


def test_a_json_encoded_value_is_still_validated() -> None:
    assert refusal({"eta": '"2"'}) == "hyperparameter eta='2': expected a number in (0, 1]"


# --- refusals: names -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "present", "absent"),
    [
        pytest.param(
            {}, {"eta", "learning_rate", "num_round", "objective", "seed"}, {"task", "n_jobs"}, id="xgb"
        ),
        pytest.param(
            {"algorithm": "decision_tree"}, {"splitter", "class_weight", "task"}, {"n_estimators"}, id="dt"
        ),
        pytest.param({"algorithm": "random_forest"}, {"max_samples", "bootstrap"}, {"splitter"}, id="rf"),
        pytest.param(
            {"algorithm": "random_forest", "task": "regression"}, {"criterion"}, {"class_weight"}, id="rf-reg"
        ),
        pytest.param({"algorithm": "gradient_boosting"}, {"loss", "learning_rate"}, {"alpha"}, id="gb"),
        pytest.param(
            {"algorithm": "gradient_boosting", "task": "regression"}, {"alpha"}, {"bootstrap"}, id="gb-reg"
        ),
    ],
)
def test_an_unknown_name_lists_the_accepted_names(
    raw: dict[str, str], present: set[str], absent: set[str]
) -> None:
    message = refusal({**raw, "max_dept": "3"})

    algorithm = raw.get("algorithm", "xgboost")
    match = re.fullmatch(rf"unknown hyperparameter 'max_dept' for {algorithm}; accepted: (.*)", message)
    assert match is not None, message
    accepted = match.group(1).split(", ")
    assert accepted == sorted(accepted)
    assert present <= set(accepted)
    assert not absent & set(accepted)


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ({"algorithm": "random_forest"}, "splitter"),
        ({"algorithm": "decision_tree", "task": "regression"}, "class_weight"),
        ({"algorithm": "gradient_boosting"}, "alpha"),
        ({"algorithm": "gradient_boosting"}, "criterion"),
        ({"algorithm": "decision_tree"}, "num_round"),
        ({}, "task"),
        ({}, "n_estimators"),
    ],
)
def test_a_name_of_another_algorithm_or_task_is_unknown(raw: dict[str, str], name: str) -> None:
    assert refusal({**raw, name: "1"}).startswith(f"unknown hyperparameter {name!r}")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("name", ["n_jobs", "nthread"])
def test_thread_counts_are_refused(algorithm: str, name: str) -> None:
    assert refusal({"algorithm": algorithm, name: "4"}) == (
        f"hyperparameter {name} is not accepted: the container sets the thread count from the CPUs the job may use"
    )


def test_random_state_points_to_seed() -> None:
    assert refusal({"algorithm": "decision_tree", "random_state": "1"}) == (
        "hyperparameter random_state is not accepted: use seed instead"
    )


@pytest.mark.parametrize("objective", [None, "binary:logistic", "reg:squarederror", "count:poisson"])
def test_num_class_is_only_for_multi_objectives(objective: str | None) -> None:
    raw = {"num_class": "3"} | ({"objective": objective} if objective else {})

    assert refusal(raw) == (
        "hyperparameter num_class is only allowed with multi:* objectives, "
        f"not {objective or 'reg:squarederror'}"
    )


@pytest.mark.parametrize("objective", ["multi:softmax", "multi:softprob"])
def test_multi_objectives_take_num_class_but_do_not_need_it(objective: str) -> None:
    assert parse({"objective": objective, "num_class": "3"}).params["num_class"] == 3
    assert "num_class" not in parse({"objective": objective}).params


@pytest.mark.parametrize(
    ("algorithm", "task", "name", "value", "choices"),
    [
        ("decision_tree", "regression", "criterion", "gini", "squared_error, absolute_error, poisson"),
        (
            "decision_tree",
            "regression",
            "criterion",
            "friedman_mse",
            "squared_error, absolute_error, poisson",
        ),
        ("random_forest", "classification", "criterion", "squared_error", "gini, entropy, log_loss"),
        ("random_forest", "regression", "criterion", "entropy", "squared_error, absolute_error, poisson"),
        ("gradient_boosting", "classification", "loss", "huber", "log_loss, exponential"),
        (
            "gradient_boosting",
            "regression",
            "loss",
            "exponential",
            "squared_error, absolute_error, huber, quantile",
        ),
    ],
)
def test_criterion_and_loss_are_checked_against_the_task(
    algorithm: str, task: str, name: str, value: str, choices: str
) -> None:
    raw = {"algorithm": algorithm, name: value} | ({"task": task} if task == "regression" else {})

    assert refusal(raw) == f"hyperparameter {name}={value!r}: expected one of {choices} (for task={task})"


def test_more_than_the_sagemaker_limit_fails_before_anything_else() -> None:
    raw = {f"unknown_{i}": "1" for i in range(MAX_HYPERPARAMETERS + 1)}

    assert refusal(raw) == "101 hyperparameters given; SageMaker allows at most 100"
    assert refusal(dict(list(raw.items())[:MAX_HYPERPARAMETERS])).startswith("unknown hyperparameter")


EACH_OBJECTIVE = {
    objective: {
        "objective": objective,
        **({"quantile_alpha": "0.5"} if objective == "reg:quantileerror" else {}),
    }
    for objective in OBJECTIVES
}


@pytest.mark.parametrize("raw", EACH_OBJECTIVE.values(), ids=EACH_OBJECTIVE.keys())
def test_the_xgboost_task_follows_the_objective(raw: dict[str, str]) -> None:
    expected = "classification" if raw["objective"].split(":")[0] in ("binary", "multi") else "regression"

    assert parse(raw).task == expected


# --- the libraries take the params ---------------------------------------------------------------

ROWS = np.random.default_rng(0).uniform(size=(40, 3))


def labels(task: str, objective: str = "") -> np.ndarray:
    if objective.startswith("multi:"):
        return np.arange(len(ROWS)) % 3
    if task == "classification":
        return np.arange(len(ROWS)) % 2
    return np.random.default_rng(1).uniform(0.1, 0.9, size=len(ROWS))  # fits every regression objective


def train_xgboost(hp: Hyperparameters) -> tuple[xgboost.Booster, list[str]]:
    """Train as the trainer does; also return XGBoost's warnings about parameters it did not use."""
    params = {**hp.params, "nthread": 1}
    if hp.params["objective"].startswith("multi:"):
        params.setdefault("num_class", 3)  # the trainer derives it from the data
    train = xgboost.DMatrix(ROWS, label=labels(hp.task, hp.params["objective"]))
    # verbosity is also XGBoost's process-wide setting: a booster trained at 3 leaves it at 3, and
    # every booster freed later (some only at exit, after pytest stopped capturing) prints its timings.
    with warnings.catch_warnings(record=True) as caught, xgboost.config_context():
        warnings.simplefilter("always")
        booster = xgboost.train(
            params,
            train,
            num_boost_round=hp.num_round,
            evals=[(train, "train")],
            early_stopping_rounds=hp.early_stopping_rounds,
            verbose_eval=False,
        )
    return booster, [str(w.message) for w in caught if "not used" in str(w.message)]


def fit_sklearn(hp: Hyperparameters) -> Any:
    estimator = ESTIMATORS[hp.algorithm, hp.task](**hp.params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # oob_score on a few rows warns about unscored rows
        warnings.simplefilter("error", FutureWarning)  # a deprecated name or value breaks on upgrade
        warnings.simplefilter("error", DeprecationWarning)
        return estimator.fit(ROWS, labels(hp.task))


XGBOOST_CASES = {
    "binary-everything": {
        "objective": "binary:logistic", "learning_rate": "0.3", "max_depth": "3", "min_split_loss": "0.1",
        "reg_lambda": "2", "reg_alpha": "0.5", "min_child_weight": "0.5", "max_delta_step": "1",
        "subsample": "0.9", "colsample_bytree": "0.9", "colsample_bylevel": "1", "colsample_bynode": "0.8",
        "tree_method": "hist", "max_bin": "16", "scale_pos_weight": "2", "grow_policy": "lossguide",
        "max_leaves": "8", "num_parallel_tree": "2", "base_score": "0.5", "eval_metric": "auc,logloss",
        "max_cat_to_onehot": "4", "sampling_method": "uniform", "monotone_constraints": "(1,0,-1)",
        "interaction_constraints": "[[0, 1], [2]]", "verbosity": "1", "booster": "gbtree",
        "num_round": "5", "early_stopping_rounds": "2", "seed": "7",
    },
    "multi-dart": {"objective": "multi:softprob", "num_class": "3", "booster": "dart", "eta": "1", "num_round": "3"},
    "multi-exact": {"objective": "multi:softmax", "num_class": "3", "tree_method": "exact", "eval_metric": "merror"},
    "tweedie": {"objective": "reg:tweedie", "tweedie_variance_power": "1.5", "tree_method": "approx"},
    "pseudo-huber": {"objective": "reg:pseudohubererror", "huber_slope": "2", "gamma": "0", "lambda": "0"},
    "quantile": {"objective": "reg:quantileerror", "quantile_alpha": "0.3", "alpha": "1", "max_depth": "0"},
    "gblinear": {"objective": "count:poisson", "booster": "gblinear", "lambda": "1", "alpha": "0.1"},
    **{objective: {**raw, "num_round": "2"} for objective, raw in EACH_OBJECTIVE.items()},
}  # fmt: skip


@pytest.mark.parametrize("raw", XGBOOST_CASES.values(), ids=XGBOOST_CASES.keys())
def test_xgboost_trains_with_the_params_and_uses_every_one(raw: dict[str, str]) -> None:
    hp = parse(raw)

    booster, unused = train_xgboost(hp)

    assert unused == []
    assert 1 <= booster.num_boosted_rounds() <= hp.num_round
    assert json.loads(booster.save_config())["learner"]["objective"]["name"] == hp.params["objective"]


def test_the_quantile_objective_needs_its_alpha() -> None:
    assert refusal({"objective": "reg:quantileerror"}) == (
        "objective reg:quantileerror needs the hyperparameter quantile_alpha"
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        *((name, value) for name in ("eta", "subsample", "colsample_bytree", "colsample_bynode") for value in ("1", "1e-6")),
        ("gamma", "0"), ("lambda", "0"), ("alpha", "0"), ("min_child_weight", "0"), ("max_delta_step", "0"),
        ("max_depth", "0"), ("max_leaves", "0"), ("max_bin", "2"), ("num_parallel_tree", "1"),
        ("max_cat_to_onehot", "1"), ("scale_pos_weight", "0"), ("verbosity", "3"), ("base_score", "0.5"),
        *(("tree_method", value) for value in ("auto", "exact", "approx", "hist")),
        *(("grow_policy", value) for value in ("depthwise", "lossguide")),
        *(("booster", value) for value in ("gbtree", "dart")),
        ("sampling_method", "uniform"),
    ],
)  # fmt: skip
def test_xgboost_takes_every_edge_and_choice(name: str, value: str) -> None:
    hp = parse({"objective": "binary:logistic", "num_round": "2", name: value})

    assert train_xgboost(hp)[1] == []


SKLEARN_CASES = {
    "tree-classification": {
        "algorithm": "decision_tree", "criterion": "entropy", "splitter": "random", "max_depth": "4",
        "min_samples_split": "3", "min_samples_leaf": "2", "min_weight_fraction_leaf": "0.1",
        "max_features": "sqrt", "max_leaf_nodes": "10", "min_impurity_decrease": "0.01", "ccp_alpha": "0.001",
        "class_weight": "balanced", "seed": "3",
    },
    "tree-regression": {
        "algorithm": "decision_tree", "task": "regression", "criterion": "poisson", "max_depth": "None",
        "max_features": "0.5", "max_leaf_nodes": "null", "min_weight_fraction_leaf": "0.5",
    },
    "forest-classification": {
        "algorithm": "random_forest", "n_estimators": "12", "criterion": "log_loss", "bootstrap": "true",
        "max_samples": "0.8", "oob_score": "True", "max_features": "2", "class_weight": "None",
    },
    "forest-regression": {
        "algorithm": "random_forest", "task": "regression", "n_estimators": "4", "criterion": "absolute_error",
        "bootstrap": "false", "max_samples": "None", "max_features": "log2", "min_samples_leaf": "2",
    },
    "forest-max-samples-count": {"algorithm": "random_forest", "n_estimators": "3", "max_samples": "10"},
    "boosting-classification": {
        "algorithm": "gradient_boosting", "loss": "log_loss", "learning_rate": "0.2", "n_estimators": "5",
        "subsample": "0.8", "max_depth": "2", "n_iter_no_change": "2",
        "validation_fraction": "0.25", "max_features": "1.0", "max_leaf_nodes": "4",
    },
    "boosting-exponential": {"algorithm": "gradient_boosting", "loss": "exponential", "n_estimators": "3"},
    "boosting-regression": {
        "algorithm": "gradient_boosting", "task": "regression", "loss": "quantile", "alpha": "0.7",
        "max_depth": "None", "max_leaf_nodes": "5", "ccp_alpha": "0", "n_estimators": "4", "seed": "9",
    },
}  # fmt: skip


@pytest.mark.parametrize("raw", SKLEARN_CASES.values(), ids=SKLEARN_CASES.keys())
def test_sklearn_fits_with_the_params(raw: dict[str, str]) -> None:
    hp = parse(raw)

    estimator = fit_sklearn(hp)

    assert {name: estimator.get_params()[name] for name in hp.params} == hp.params
    assert hp.params.keys() == set(raw) - {"algorithm", "task", "seed"} | {"random_state"}


@pytest.mark.parametrize(
    ("algorithm", "task", "name", "value"),
    [
        *(("decision_tree", "classification", "criterion", value) for value in ("gini", "entropy", "log_loss")),
        *(("random_forest", "regression", "criterion", value) for value in ("squared_error", "absolute_error", "poisson")),
        *(("gradient_boosting", "regression", "loss", value) for value in ("squared_error", "absolute_error", "huber")),
        ("decision_tree", "regression", "splitter", "best"),
        ("decision_tree", "classification", "max_depth", "1"),
        ("decision_tree", "classification", "min_samples_split", "2"),
        ("decision_tree", "classification", "min_samples_leaf", "1"),
        ("decision_tree", "classification", "min_weight_fraction_leaf", "0"),
        ("decision_tree", "classification", "max_leaf_nodes", "2"),
        ("decision_tree", "classification", "min_impurity_decrease", "0"),
        ("decision_tree", "classification", "max_features", "1"),
        ("decision_tree", "classification", "max_features", "1e-9"),
        ("decision_tree", "classification", "max_features", "None"),
        ("random_forest", "classification", "n_estimators", "1"),
        ("random_forest", "classification", "max_samples", "1"),
        ("random_forest", "classification", "max_samples", "1.0"),
        ("random_forest", "classification", "oob_score", "false"),
        ("gradient_boosting", "classification", "learning_rate", "1e-9"),
        ("gradient_boosting", "classification", "subsample", "1"),
        ("gradient_boosting", "classification", "n_iter_no_change", "1"),
        ("gradient_boosting", "classification", "n_iter_no_change", "None"),
        ("gradient_boosting", "regression", "alpha", "0.01"),
    ],
)  # fmt: skip
def test_sklearn_takes_every_edge_and_choice(algorithm: str, task: str, name: str, value: str) -> None:
    few_trees = {} if algorithm == "decision_tree" else {"n_estimators": "3"}
    hp = parse({"algorithm": algorithm, "task": task, **few_trees, name: value})

    assert fit_sklearn(hp).get_params()[name] == hp.params[name]


def test_names_sagemaker_adds_itself_are_ignored() -> None:
    raw = {"_tuning_objective_metric": "validation:auc", "sagemaker_job_name": "job-1", "max_depth": "3"}
    assert parse(raw).params["max_depth"] == 3
