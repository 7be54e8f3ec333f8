"""Every environment variable the container honours, read once into frozen, typed objects.

Owns: names, defaults and valid ranges of the configuration, the `/opt/ml` paths (Settings for
serving, TrainingPaths for training), and the count of CPUs this process may really use
(affinity and cgroup quota). Nothing else in the package reads
`os.environ`; tests build Settings from a dict. Must not import numpy or any model library: the
gunicorn master imports this module and must stay free of OpenMP state before it forks.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from container.errors import ConfigurationError

DEFAULT_BASE_DIR = "/opt/ml"
DEFAULT_PORT = 8080
DEFAULT_TIMEOUT_SECONDS = 60
DEFAULT_PAYLOAD_MB = 6
MAX_PAYLOAD_MB = 100
DEFAULT_WORKER_THREADS = 4
DEFAULT_MODEL_ROOT = "/opt/ml/models"  # where SageMaker puts a multi-model endpoint's models
DEFAULT_MEMORY_RESERVE_MB = 256
DEFAULT_CONTRIBUTION_ROW_TREES = 200_000  # 1,000 rows of a 200-tree model: see docs/explanations.md
# /metrics: beside 8080 (SageMaker's), clear of 8081 (the compose load balancer), 9090 (Prometheus)
# and 9100 (node_exporter), which run on the hosts that scrape it.
DEFAULT_METRICS_PORT = 8082
# A multi-host training job: XGBoost's tracker on the first host (AWS's container uses 9099 too;
# the training group takes the next port), and how long each wait of its start-up may take.
DEFAULT_TRACKER_PORT = 9099
DEFAULT_TRACKER_TIMEOUT_SECONDS = 900
DEFAULT_STREAM_CHUNK_KIB = 1024  # see container/streaming.py and bench/results/batch.md
MEBIBYTE = 1024 * 1024
BATCH_STRATEGIES = ("MULTI_RECORD", "SINGLE_RECORD")
# How requests are parsed: this project's parser for plain requests (container/server/plain_http.py),
# then gunicorn's Python parser for the rest; or gunicorn's own for all, in Python or in C.
HTTP_PARSERS = ("byom", "python", "fast")
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})


@dataclass(frozen=True)
class Settings:
    """The server's whole configuration; build it with `Settings.from_env(os.environ)`. Each
    field but `model_dir`, `base_dir`, `system_root` and `model_threads` is set by one entry of VARIABLES."""

    model_dir: Path
    host: str = "0.0.0.0"
    port: int = DEFAULT_PORT
    workers: int = 1
    worker_threads: int = DEFAULT_WORKER_THREADS
    model_threads: int = 1
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS
    default_accept: str = "text/csv"
    inference_output: str | None = None
    batch: bool = False
    batch_strategy: str = "MULTI_RECORD"
    max_payload_mb: int = DEFAULT_PAYLOAD_MB
    max_concurrent_transforms: int = 1
    allow_pickle: bool = False
    skops_trusted_types: tuple[str, ...] = ()
    log_level: str = "info"
    http_parser: str = HTTP_PARSERS[0]
    program: str | None = None
    submit_directory: str | None = None
    multi_model: bool = False
    model_root: Path = Path(DEFAULT_MODEL_ROOT)
    memory_reserve_mb: int = DEFAULT_MEMORY_RESERVE_MB
    max_contribution_row_trees: int = DEFAULT_CONTRIBUTION_ROW_TREES
    metrics_port: int = DEFAULT_METRICS_PORT
    stream_chunk_kib: int = DEFAULT_STREAM_CHUNK_KIB
    base_dir: Path = Path(DEFAULT_BASE_DIR)
    system_root: Path = Path("/")  # where /proc and /sys are read (container.batch_limits); tests move it

    @property
    def max_body_bytes(self) -> int:
        return self.max_payload_mb * MEBIBYTE

    @property
    def stream_chunk_bytes(self) -> int:
        return self.stream_chunk_kib * 1024

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        env = _Env(environ)
        values: dict[str, Any] = {"cores": usable_cpu_count()}
        for variable in VARIABLES:
            if variable.field:
                values[variable.field] = variable.read(env, values)
        values["model_threads"] = max(1, values.pop("cores") // values["workers"])
        return cls(model_dir=_model_dir(environ), base_dir=_base_dir(environ), **values)


Kind = Literal[
    "text", "optional-text", "lowercase-text", "integer", "flag", "true-flag", "choice", "words", "path"
]
Derived = Callable[[dict[str, Any]], Any]  # a default computed from the values read before it


@dataclass(frozen=True)
class Variable:
    """One environment variable: the Settings field it sets, its names (the current one first,
    then older ones; the first present wins), how it is read and checked, and its documentation.
    docs/configuration.md is generated from these entries (`python -m container.settings`)."""

    names: tuple[str, ...]
    field: str | None  # None: read elsewhere (the /opt/ml paths)
    kind: Kind
    default: Any  # a value, or a Derived function
    shown_default: str  # the default as the docs show it
    meaning: str
    low: int = 0
    high: int | None = None
    choices: tuple[str, ...] = ()

    def read(self, env: _Env, values: dict[str, Any]) -> Any:
        default = self.default(values) if callable(self.default) else self.default
        return READERS[self.kind](env, self, default)


READERS: dict[Kind, Callable[[_Env, Variable, Any], Any]] = {
    "text": lambda env, variable, default: env.text(variable.names, default),
    "optional-text": lambda env, variable, _: env.text(variable.names, "") or None,
    "lowercase-text": lambda env, variable, default: env.text(variable.names, default).lower(),
    "integer": lambda env, variable, default: env.integer(
        variable.names, default, variable.low, variable.high
    ),
    "flag": lambda env, variable, default: env.flag(variable.names, default),
    "true-flag": lambda env, variable, _: env.text(variable.names, "").lower() == "true",
    "path": lambda env, variable, default: Path(env.text(variable.names, default)),
    "choice": lambda env, variable, _: env.choice(variable.names, variable.choices),
    "words": lambda env, variable, _: env.words(variable.names),
}


VARIABLES = [
    Variable(("SM_MODEL_DIR",), None, "path", None, "`$SAGEMAKER_BASE_DIR/model`", "the model directory"),
    Variable(("BYOM_TRAINING_MEMORY_MB",), None, "integer", 0, "half the memory free at start",
             "train: MiB of parsed data kept in memory; beyond it XGBoost trains from external memory "
             "(docs/training.md)", low=0),
    Variable(("SAGEMAKER_BASE_DIR",), None, "path", DEFAULT_BASE_DIR, f"`{DEFAULT_BASE_DIR}`",
             "root of the `/opt/ml` tree, for running outside a container"),
    Variable(("SAGEMAKER_BIND_TO_PORT",), "port", "integer", DEFAULT_PORT, f"`{DEFAULT_PORT}`",
             "the port (inference pipelines, multi-container endpoints)", low=1, high=65535),
    Variable(("SAGEMAKER_MODEL_SERVER_WORKERS", "MODEL_SERVER_WORKERS"), "workers", "integer",
             lambda values: 2 * values["cores"] + 1, "2 x usable cores + 1",
             "worker processes; cores are those this process may use (CPU affinity and cgroup "
             "quota), not the host's", low=1),
    Variable(("SAGEMAKER_MODEL_SERVER_TIMEOUT", "MODEL_SERVER_TIMEOUT"), "timeout_seconds", "integer",
             DEFAULT_TIMEOUT_SECONDS, f"`{DEFAULT_TIMEOUT_SECONDS}`",
             "seconds one request may run; past it its worker is replaced. Also how long a request "
             "may take to arrive (408) and a client may take none of its answer before it is "
             "disconnected", low=1),
    Variable(("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT",), "default_accept", "text", "text/csv", "`text/csv`",
             "response type when Accept is missing or `*/*`"),
    Variable(("SAGEMAKER_INFERENCE_OUTPUT",), "inference_output", "optional-text", None, "the framework's output",
             "outputs to return, e.g. `predicted_label,probability`"),
    Variable(("SAGEMAKER_BATCH",), "batch", "flag", False, "`false`",
             "batch transform: one output line per input record; JSON answers as JSON Lines"),
    Variable(("SAGEMAKER_MAX_PAYLOAD_IN_MB",), "max_payload_mb", "integer", DEFAULT_PAYLOAD_MB,
             f"`{DEFAULT_PAYLOAD_MB}`", f"request body limit in MiB (1 to {MAX_PAYLOAD_MB})",
             low=1, high=MAX_PAYLOAD_MB),
    Variable(("SAGEMAKER_BATCH_STRATEGY",), "batch_strategy", "choice", BATCH_STRATEGIES[0],
             f"`{BATCH_STRATEGIES[0]}`", "reported by `/execution-parameters`", choices=BATCH_STRATEGIES),
    Variable(("SAGEMAKER_MAX_CONCURRENT_TRANSFORMS",), "max_concurrent_transforms", "integer",
             lambda values: values["workers"], "the worker count", "reported by `/execution-parameters`",
             low=1),
    Variable(("BYOM_ALLOW_PICKLE",), "allow_pickle", "flag", False, "`false`",
             "allow pickle/joblib model files (they run code when loaded)"),
    Variable(("BYOM_SKOPS_TRUSTED_TYPES",), "skops_trusted_types", "words", (), "",
             "extra types a skops file may contain, comma- or space-separated"),
    Variable(("BYOM_WORKER_THREADS",), "worker_threads", "integer", DEFAULT_WORKER_THREADS,
             f"`{DEFAULT_WORKER_THREADS}`",
             "threads per worker (spare threads keep `/ping` answering while others predict)", low=1),
    Variable(("BYOM_HOST",), "host", "text", "0.0.0.0", "`0.0.0.0`", "the address to bind (tests use 127.0.0.1)"),
    Variable(("BYOM_LOG_LEVEL",), "log_level", "lowercase-text", "info", "`info`", "gunicorn's log level"),
    Variable(("BYOM_HTTP_PARSER",), "http_parser", "choice", HTTP_PARSERS[0], f"`{HTTP_PARSERS[0]}`",
             "`byom`: plain requests take this project's own parser and response writer, others "
             "gunicorn's Python parser; `python`: gunicorn's Python parser for all; `fast`: gunicorn's "
             "C parser for all (needs the `gunicorn_h1c` package; see docs/performance.md)",
             choices=HTTP_PARSERS),
    Variable(("SAGEMAKER_PROGRAM",), "program", "optional-text", None, "none",
             "the inference script's file name (e.g. `inference.py`): its hooks (`model_fn`, "
             "`input_fn`, `predict_fn`, `output_fn` or `transform_fn`) run only when this is set; "
             "see docs/inference-code.md"),
    Variable(("SAGEMAKER_SUBMIT_DIRECTORY",), "submit_directory", "optional-text", None,
             "`$SM_MODEL_DIR/code`, else `$SAGEMAKER_BASE_DIR/code`",
             "the directory holding the script (its `lib/` is importable too)"),
    Variable(("SAGEMAKER_MULTI_MODEL",), "multi_model", "true-flag", False, "`false`",
             "`true`: a multi-model endpoint, models loaded and unloaded through `/models` "
             "(SageMaker sets it; any other value is false, as SageMaker compares it with `true`); "
             "see docs/multi-model.md"),
    Variable(("BYOM_MODEL_ROOT",), "model_root", "path", DEFAULT_MODEL_ROOT, f"`{DEFAULT_MODEL_ROOT}`",
             "multi-model: the only directory under which `POST /models` loads a `url`"),
    Variable(("BYOM_MEMORY_RESERVE_MB",), "memory_reserve_mb", "integer", DEFAULT_MEMORY_RESERVE_MB,
             f"`{DEFAULT_MEMORY_RESERVE_MB}`",
             "multi-model: MiB kept free; a load whose estimate would eat into it answers 507", low=0),
    Variable(("BYOM_MAX_CONTRIBUTION_ROW_TREES",), "max_contribution_row_trees", "integer",
             DEFAULT_CONTRIBUTION_ROW_TREES, f"`{DEFAULT_CONTRIBUTION_ROW_TREES:,}`",
             "the most work one request may ask of the `contributions` output, in rows x trees; "
             "past it the request is refused with 413 (see docs/explanations.md)", low=1),
    Variable(("BYOM_METRICS_PORT",), "metrics_port", "integer", DEFAULT_METRICS_PORT, f"`{DEFAULT_METRICS_PORT}`",
             "the port of `GET /metrics` (Prometheus text, every worker's counts; never on the serving "
             "port); `0` turns metrics off. It listens on `BYOM_HOST`; see docs/metrics.md",
             low=0, high=65535),
    Variable(("BYOM_TRACKER_PORT",), None, "integer", DEFAULT_TRACKER_PORT, f"`{DEFAULT_TRACKER_PORT}`",
             "training on several hosts: the port of XGBoost's tracker on the first host, where the "
             "hosts agree who has data; they train together on the next port (see docs/training.md)",
             low=1, high=65534),
    Variable(("BYOM_TRACKER_TIMEOUT",), None, "integer", DEFAULT_TRACKER_TIMEOUT_SECONDS,
             f"`{DEFAULT_TRACKER_TIMEOUT_SECONDS}`",
             "training on several hosts: seconds each wait of the start may take (host names to "
             "resolve, the tracker to accept, every host to load its data and join)", low=1),
    Variable(("BYOM_STREAM_CHUNK_KIB",), "stream_chunk_kib", "integer", DEFAULT_STREAM_CHUNK_KIB,
             f"`{DEFAULT_STREAM_CHUNK_KIB}`",
             "CSV, JSON Lines and libsvm bodies larger than this many KiB are decoded, predicted and "
             "encoded this much at a time, the same answer at memory bounded by the chunk (see "
             "docs/batch-transform.md)", low=16),
]  # fmt: skip


def configuration_reference() -> str:
    """docs/configuration.md: the table of VARIABLES, as `python -m container.settings` prints it."""
    lines = [
        "# Configuration",
        "",
        "Everything is an environment variable, read once at start (`container/settings.py`); a bad",
        "value stops the server with a message naming the variable. This page is generated from the",
        "settings' table by `python -m container.settings > docs/configuration.md`; a test checks it.",
        "",
        "| Variable | Default | Meaning |",
        "|---|---|---|",
    ]
    for variable in VARIABLES:
        name, *older = variable.names
        aliases = f" (older: {', '.join(f'`{alias}`' for alias in older)})" if older else ""
        lines.append(f"| `{name}`{aliases} | {variable.shown_default} | {variable.meaning} |")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class TrainingPaths:
    """The training contract's `/opt/ml` tree; build it with `TrainingPaths.from_env(os.environ)`."""

    base: Path
    model: Path
    memory_mb: int | None = None  # BYOM_TRAINING_MEMORY_MB: parsed data kept in memory, at most

    @property
    def config(self) -> Path:
        return self.base / "input" / "config"

    @property
    def data(self) -> Path:
        return self.base / "input" / "data"

    @property
    def output(self) -> Path:
        return self.base / "output"

    @property
    def failure(self) -> Path:
        return self.output / "failure"

    @property
    def checkpoints(self) -> Path:
        """Where SageMaker syncs `checkpoint_s3_uri`; present only when the job sets it."""
        return self.base / "checkpoints"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> TrainingPaths:
        memory = _Env(environ).integer(("BYOM_TRAINING_MEMORY_MB",), 0, 0)
        return cls(base=_base_dir(environ), model=_model_dir(environ), memory_mb=memory or None)


@dataclass(frozen=True)
class TrackerSettings:
    """Where and how long the hosts of a multi-host training job meet; `from_env(os.environ)`."""

    port: int = DEFAULT_TRACKER_PORT
    timeout_seconds: int = DEFAULT_TRACKER_TIMEOUT_SECONDS

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> TrackerSettings:
        port, timeout = (
            _variable(name).read(_Env(environ), {}) for name in ("BYOM_TRACKER_PORT", "BYOM_TRACKER_TIMEOUT")
        )
        return cls(port=port, timeout_seconds=timeout)


def _variable(name: str) -> Variable:
    return next(variable for variable in VARIABLES if variable.names[0] == name)


def _model_dir(environ: Mapping[str, str]) -> Path:
    if environ.get("SM_MODEL_DIR"):
        return Path(environ["SM_MODEL_DIR"])
    return _base_dir(environ) / "model"


def _base_dir(environ: Mapping[str, str]) -> Path:
    return Path(environ.get("SAGEMAKER_BASE_DIR") or DEFAULT_BASE_DIR)


class _Env:
    """Typed reads of one environment mapping; the first name present wins (new before old)."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def _raw(self, names: tuple[str, ...]) -> tuple[str, str] | None:
        for name in names:
            value = self._environ.get(name)
            if value is not None and value.strip() != "":
                return name, value.strip()
        return None

    def text(self, names: tuple[str, ...], default: str) -> str:
        found = self._raw(names)
        return default if found is None else found[1]

    def words(self, names: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(word for word in self.text(names, "").replace(",", " ").split() if word)

    def integer(self, names: tuple[str, ...], default: int, low: int, high: int | None = None) -> int:
        found = self._raw(names)
        if found is None:
            return default
        name, value = found
        bounds = f"from {low} to {high}" if high is not None else f"of at least {low}"
        if not (value.isascii() and value.isdigit()):
            raise ConfigurationError(f"{name}={value!r}: expected a whole number {bounds}")
        number = int(value)
        if number < low or (high is not None and number > high):
            raise ConfigurationError(f"{name}={value!r}: expected a whole number {bounds}")
        return number

    def flag(self, names: tuple[str, ...], default: bool) -> bool:
        found = self._raw(names)
        if found is None:
            return default
        name, value = found
        if value.lower() in TRUE_WORDS:
            return True
        if value.lower() in FALSE_WORDS:
            return False
        raise ConfigurationError(f"{name}={value!r}: expected true or false")

    def choice(self, names: tuple[str, ...], choices: tuple[str, ...]) -> str:
        found = self._raw(names)
        if found is None:
            return choices[0]
        name, value = found
        spelled = {choice.upper(): choice for choice in choices}  # any case; the choice's own spelling
        if value.upper() not in spelled:
            raise ConfigurationError(f"{name}={value!r}: expected one of {', '.join(choices)}")
        return spelled[value.upper()]


def usable_cpu_count() -> int:
    """CPUs this process may run on: the affinity mask, capped by a cgroup CPU quota."""
    cores = len(os.sched_getaffinity(0))
    quota = _cgroup_cpu_quota()
    if quota is not None:
        cores = min(cores, max(1, math.ceil(quota)))
    return cores


def _cgroup_cpu_quota(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """CPUs allowed by the cgroup (v2 `cpu.max`, else v1 CFS quota), or None when unlimited."""
    try:
        quota, period = (root / "cpu.max").read_text().split()
        return None if quota == "max" or int(period) <= 0 else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return None if quota_us <= 0 or period_us <= 0 else quota_us / period_us


if __name__ == "__main__":
    print(configuration_reference(), end="")
