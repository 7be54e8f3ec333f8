"""Training hyperparameters: SageMaker's all-string JSON object, cast and validated in one place.

Owns: the names each algorithm accepts (one declarative table per algorithm and task), their kinds,
ranges, choices and aliases, the defaults the trainer relies on, and every refusal message. Values
arrive plain (`0.1`) or JSON-encoded by the SageMaker Python SDK (`"0.1"`); both are accepted. Must
not import xgboost or scikit-learn: the tables name the libraries' parameters, the trainer uses them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from container.errors import TrainingError

ALGORITHMS: tuple[str, ...] = ("xgboost", "decision_tree", "random_forest", "gradient_boosting")
MAX_HYPERPARAMETERS = 100  # SageMaker's own limit
OBJECTIVES = (
    *("reg:squarederror", "reg:squaredlogerror", "reg:logistic", "reg:pseudohubererror"),
    *("reg:absoluteerror", "reg:quantileerror", "reg:gamma", "reg:tweedie", "count:poisson"),
    *("binary:logistic", "binary:logitraw", "binary:hinge", "multi:softmax", "multi:softprob"),
)
_THREADS = "the container sets the thread count from the CPUs the job may use"
_REFUSED = {"n_jobs": _THREADS, "nthread": _THREADS, "random_state": "use seed instead"}
_CONTROL = frozenset(
    {"algorithm", "seed", "task", "num_round", "early_stopping_rounds", "checkpoint_frequency"}
)
# Rounds between checkpoints when /opt/ml/checkpoints exists: writing one takes about as long as
# a round of a small model, and its cost grows with the trees already trained.
DEFAULT_CHECKPOINT_FREQUENCY = 10
_WHOLE = re.compile(r"[+-]?[0-9]{1,19}")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_METRIC = re.compile(r"[A-Za-z0-9_@.:+-]+")
_NULLS = frozenset({"none", "null"})
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}

_Kind = Literal["integer", "number", "choice", "boolean", "text", "either"]
_Task = Literal["classification", "regression"]
_Real = TypeVar("_Real", int, float)


@dataclass(frozen=True)
class _Spec:
    """How one hyperparameter is read: its kind, its range or choices, None-ability and default."""

    kind: _Kind
    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False
    choices: tuple[str, ...] = ()
    nullable: bool = False  # "None" / "null" give None
    listed: bool = False  # text: a comma-separated list of metric names becomes a list of strings
    options: tuple[_Spec, ...] = ()  # either: the first option that accepts the value wins
    default: Any = None  # applied when the name is absent, unless None
    note: str = ""  # appended to the expected-value message


@dataclass(frozen=True)
class Hyperparameters:
    """One training job's validated hyperparameters; build it with `parse(raw)`."""

    algorithm: str
    task: _Task
    seed: int
    params: dict[str, Any]
    num_round: int
    early_stopping_rounds: int | None
    checkpoint_frequency: int = DEFAULT_CHECKPOINT_FREQUENCY


def _integer(
    low: int, high: int | None = None, *, nullable: bool = False, default: int | None = None
) -> _Spec:
    return _Spec("integer", low=low, high=high, nullable=nullable, default=default)


def _number(low: float | None = None, high: float | None = None, *, ends: str = "[]") -> _Spec:
    """A real number; `ends` is "[]", "(]", "[)" or "()", as in interval notation."""
    return _Spec("number", low=low, high=high, open_low=ends[0] == "(", open_high=ends[1] == ")")


def _choice(*choices: str, nullable: bool = False, default: str | None = None, note: str = "") -> _Spec:
    return _Spec("choice", choices=choices, nullable=nullable, default=default, note=note)


_FRACTION = _number(0, 1, ends="(]")
_OPEN_UNIT = _number(0, 1, ends="()")
_POSITIVE = _number(0, ends="(]")
_NON_NEGATIVE = _number(0)
_BOOLEAN = _Spec("boolean")
_TEXT = _Spec("text")
_TASK = _choice("classification", "regression", default="classification")
_COMMON = {"algorithm": _choice(*ALGORITHMS, default="xgboost"), "seed": _integer(0, 2**32 - 1, default=0)}

_XGBOOST = {
    **_COMMON,
    "objective": _choice(*OBJECTIVES, default="reg:squarederror"),
    "num_round": _integer(1, default=100),
    "early_stopping_rounds": _integer(1),
    "checkpoint_frequency": _integer(1, default=DEFAULT_CHECKPOINT_FREQUENCY),
    "booster": _choice("gbtree", "dart", "gblinear"),
    **dict.fromkeys(
        ("eta", "subsample", "colsample_bytree", "colsample_bylevel", "colsample_bynode"), _FRACTION
    ),
    **dict.fromkeys(("gamma", "lambda", "alpha", "min_child_weight", "max_delta_step"), _NON_NEGATIVE),
    "scale_pos_weight": _NON_NEGATIVE,
    "max_depth": _integer(0),
    "max_leaves": _integer(0),
    "max_bin": _integer(2),
    "num_parallel_tree": _integer(1),
    "max_cat_to_onehot": _integer(1),
    "num_class": _integer(2),
    "verbosity": _integer(0, 3),
    "tree_method": _choice("auto", "exact", "approx", "hist"),
    "grow_policy": _choice("depthwise", "lossguide"),
    "sampling_method": _choice("uniform", note="gradient_based needs a GPU; this is xgboost-cpu"),
    "base_score": _number(),
    "tweedie_variance_power": _number(1, 2, ends="()"),
    "huber_slope": _POSITIVE,
    "quantile_alpha": _OPEN_UNIT,
    "eval_metric": _Spec("text", listed=True),
    "monotone_constraints": _TEXT,
    "interaction_constraints": _TEXT,
}
_XGBOOST_ALIASES = {
    "learning_rate": "eta",
    "min_split_loss": "gamma",
    "reg_lambda": "lambda",
    "reg_alpha": "alpha",
}

_TREE = {
    **_COMMON,
    "task": _TASK,
    "max_depth": _integer(1, nullable=True),
    "min_samples_split": _integer(2),
    "min_samples_leaf": _integer(1),
    "min_weight_fraction_leaf": _number(0, 0.5),
    "max_features": _Spec("either", options=(_choice("sqrt", "log2"), _integer(1), _FRACTION), nullable=True),
    "max_leaf_nodes": _integer(2, nullable=True),
    "min_impurity_decrease": _NON_NEGATIVE,
    "ccp_alpha": _NON_NEGATIVE,
}
_FOREST = {
    **_TREE,
    "n_estimators": _integer(1),
    "bootstrap": _BOOLEAN,
    "oob_score": _BOOLEAN,
    "max_samples": _Spec("either", options=(_integer(1), _FRACTION), nullable=True),
}
_BOOSTING = {  # no criterion: scikit-learn 1.9 deprecates it for gradient boosting, where it has no effect
    **_TREE,
    "n_estimators": _integer(1),
    "learning_rate": _POSITIVE,
    "subsample": _FRACTION,
    "n_iter_no_change": _integer(1, nullable=True),
    "validation_fraction": _OPEN_UNIT,
}
_CLASSIFY = {
    "criterion": _choice("gini", "entropy", "log_loss", note="for task=classification"),
    "class_weight": _choice("balanced", nullable=True),
}
_REGRESS = {  # scikit-learn 1.9 deprecates criterion="friedman_mse" for trees: the same as squared_error
    "criterion": _choice("squared_error", "absolute_error", "poisson", note="for task=regression"),
}
_SKLEARN: dict[tuple[str, str], dict[str, _Spec]] = {
    ("decision_tree", "classification"): {**_TREE, **_CLASSIFY, "splitter": _choice("best", "random")},
    ("decision_tree", "regression"): {**_TREE, **_REGRESS, "splitter": _choice("best", "random")},
    ("random_forest", "classification"): {**_FOREST, **_CLASSIFY},
    ("random_forest", "regression"): {**_FOREST, **_REGRESS},
    ("gradient_boosting", "classification"): {
        **_BOOSTING,
        "loss": _choice("log_loss", "exponential", note="for task=classification"),
    },
    ("gradient_boosting", "regression"): {
        **_BOOSTING,
        "loss": _choice("squared_error", "absolute_error", "huber", "quantile", note="for task=regression"),
        "alpha": _OPEN_UNIT,  # the quantile of the huber and quantile losses
    },
}


def parse(raw: Mapping[str, str]) -> Hyperparameters:
    """Cast and validate SageMaker's hyperparameters; any unknown name or bad value is a TrainingError."""
    if len(raw) > MAX_HYPERPARAMETERS:
        raise TrainingError(
            f"{len(raw)} hyperparameters given; SageMaker allows at most {MAX_HYPERPARAMETERS}"
        )
    texts = {name: _unquote(name, value) for name, value in raw.items() if not _reserved(name)}
    algorithm = _read(texts, "algorithm", _COMMON["algorithm"])
    if algorithm == "xgboost":
        return _xgboost(_cast_all(texts, algorithm, _XGBOOST, _XGBOOST_ALIASES))
    task = _read(texts, "task", _TASK)
    values = _cast_all(texts, algorithm, _SKLEARN[algorithm, task], {})
    params = {**_without_control(values), "random_state": values["seed"]}
    return Hyperparameters(algorithm, task, values["seed"], params, 0, None)


def _reserved(name: str) -> bool:
    """Names SageMaker itself adds (tuning jobs add `_tuning_objective_metric`, the SDK `sagemaker_*`)."""
    return name == "_tuning_objective_metric" or name.startswith("sagemaker_")


def _xgboost(values: dict[str, Any]) -> Hyperparameters:
    objective: str = values["objective"]
    if "num_class" in values and not objective.startswith("multi:"):
        raise TrainingError(
            f"hyperparameter num_class is only allowed with multi:* objectives, not {objective}"
        )
    if objective == "reg:quantileerror" and "quantile_alpha" not in values:
        raise TrainingError("objective reg:quantileerror needs the hyperparameter quantile_alpha")
    task: _Task = "classification" if objective.startswith(("binary:", "multi:")) else "regression"
    params = {**_without_control(values), "seed": values["seed"]}
    num_round, early_stopping_rounds = values["num_round"], values.get("early_stopping_rounds")
    return Hyperparameters(
        "xgboost",
        task,
        values["seed"],
        params,
        num_round,
        early_stopping_rounds,
        values["checkpoint_frequency"],
    )


def _without_control(values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in values.items() if name not in _CONTROL}


def _cast_all(
    texts: Mapping[str, str], algorithm: str, table: Mapping[str, _Spec], aliases: Mapping[str, str]
) -> dict[str, Any]:
    """Every given name cast under its canonical name, then the defaults of the absent ones."""
    values: dict[str, Any] = {}
    for name, text in texts.items():
        canonical = aliases.get(name, name)
        if canonical not in table:
            raise TrainingError(_unknown(name, algorithm, [*table, *aliases]))
        if canonical in values:
            raise TrainingError(f"hyperparameter {name} is another name for {canonical}; give only one")
        values[canonical] = _cast(name, text, table[canonical])
    return {**{name: spec.default for name, spec in table.items() if spec.default is not None}, **values}


def _unknown(name: str, algorithm: str, accepted: list[str]) -> str:
    if name in _REFUSED:
        return f"hyperparameter {name} is not accepted: {_REFUSED[name]}"
    return f"unknown hyperparameter {name!r} for {algorithm}; accepted: {', '.join(sorted(accepted))}"


def _unquote(name: str, value: str) -> str:
    """The plain text of a value, unwrapping one level of JSON string encoding."""
    if not isinstance(value, str):
        raise TrainingError(f"hyperparameter {name}={value!r}: expected a string")
    text = value.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        try:
            decoded = json.loads(text)
        except ValueError:
            return text
        return decoded.strip() if isinstance(decoded, str) else text
    return text


def _read(texts: Mapping[str, str], name: str, spec: _Spec) -> Any:
    return _cast(name, texts[name], spec) if name in texts else spec.default


def _cast(name: str, text: str, spec: _Spec) -> Any:
    if spec.nullable and text.lower() in _NULLS:
        return None
    try:
        return _CASTERS[spec.kind](text, spec)
    except ValueError:
        raise TrainingError(f"hyperparameter {name}={text!r}: expected {_describe(spec)}") from None


def _cast_integer(text: str, spec: _Spec) -> int:
    if not _WHOLE.fullmatch(text):
        raise ValueError(text)
    return _within(int(text), spec)


def _cast_number(text: str, spec: _Spec) -> float:
    if not _DECIMAL.fullmatch(text) or not math.isfinite(float(text)):
        raise ValueError(text)
    return _within(float(text), spec)


def _within(value: _Real, spec: _Spec) -> _Real:
    too_low = spec.low is not None and (value < spec.low or (spec.open_low and value == spec.low))
    too_high = spec.high is not None and (value > spec.high or (spec.open_high and value == spec.high))
    if too_low or too_high:
        raise ValueError(value)
    return value


def _cast_choice(text: str, spec: _Spec) -> str:
    if text not in spec.choices:
        raise ValueError(text)
    return text


def _cast_boolean(text: str, spec: _Spec) -> bool:
    if text.lower() not in _BOOLEANS:
        raise ValueError(text)
    return _BOOLEANS[text.lower()]


def _cast_text(text: str, spec: _Spec) -> str | list[str]:
    items = [item.strip() for item in text.split(",")] if spec.listed else [text]
    if not all(items) or (spec.listed and not all(_METRIC.fullmatch(item) for item in items)):
        raise ValueError(text)
    return items if len(items) > 1 else items[0]


def _cast_either(text: str, spec: _Spec) -> Any:
    for option in spec.options:
        try:
            return _CASTERS[option.kind](text, option)
        except ValueError:
            continue
    raise ValueError(text)


_CASTERS: dict[_Kind, Callable[[str, _Spec], Any]] = {
    "integer": _cast_integer,
    "number": _cast_number,
    "choice": _cast_choice,
    "boolean": _cast_boolean,
    "text": _cast_text,
    "either": _cast_either,
}


def _describe(spec: _Spec) -> str:
    """What a spec accepts, in words: "a whole number of at least 0", "a number in (0, 1]"."""
    nullable = ", or None" if spec.nullable else ""
    note = f" ({spec.note})" if spec.note else ""
    return f"{_DESCRIBERS[spec.kind](spec)}{nullable}{note}"


_DESCRIBERS: dict[_Kind, Callable[[_Spec], str]] = {
    "integer": lambda spec: f"a whole number{_bounds(spec)}",
    "number": lambda spec: f"a number{_bounds(spec)}",
    "choice": lambda spec: f"one of {', '.join(spec.choices)}",
    "boolean": lambda spec: "true, false, 1 or 0",
    "text": lambda spec: (
        "a metric name or a comma-separated list of them" if spec.listed else "non-empty text"
    ),
    "either": lambda spec: ", or ".join(_describe(option) for option in spec.options),
}


def _bounds(spec: _Spec) -> str:
    low, high = spec.low, spec.high
    if high is None:
        return "" if low is None else f" greater than {low}" if spec.open_low else f" of at least {low}"
    if spec.kind == "integer":
        return f" from {low} to {high}"
    return f" in {'(' if spec.open_low else '['}{low}, {high}{')' if spec.open_high else ']'}"
