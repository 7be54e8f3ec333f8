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
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from container.errors import ConfigurationError

DEFAULT_BASE_DIR = "/opt/ml"
DEFAULT_PORT = 8080
DEFAULT_TIMEOUT_SECONDS = 60
DEFAULT_PAYLOAD_MB = 6
MAX_PAYLOAD_MB = 100
DEFAULT_WORKER_THREADS = 4
MEBIBYTE = 1024 * 1024
BATCH_STRATEGIES = ("MULTI_RECORD", "SINGLE_RECORD")
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})


@dataclass(frozen=True)
class Settings:
    """The server's whole configuration; build it with `Settings.from_env(os.environ)`."""

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

    @property
    def max_body_bytes(self) -> int:
        return self.max_payload_mb * MEBIBYTE

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        env = _Env(environ)
        cores = usable_cpu_count()
        workers = env.integer(
            ("SAGEMAKER_MODEL_SERVER_WORKERS", "MODEL_SERVER_WORKERS"), 2 * cores + 1, low=1
        )
        return cls(
            model_dir=_model_dir(environ),
            host=env.text(("BYOM_HOST",), "0.0.0.0"),
            port=env.integer(("SAGEMAKER_BIND_TO_PORT",), DEFAULT_PORT, low=1, high=65535),
            workers=workers,
            worker_threads=env.integer(("BYOM_WORKER_THREADS",), DEFAULT_WORKER_THREADS, low=1),
            model_threads=max(1, cores // workers),
            timeout_seconds=env.integer(
                ("SAGEMAKER_MODEL_SERVER_TIMEOUT", "MODEL_SERVER_TIMEOUT"),
                DEFAULT_TIMEOUT_SECONDS,
                low=1,
            ),
            default_accept=env.text(("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT",), "text/csv"),
            inference_output=env.text(("SAGEMAKER_INFERENCE_OUTPUT",), "") or None,
            batch=env.flag(("SAGEMAKER_BATCH",), False),
            batch_strategy=env.choice(("SAGEMAKER_BATCH_STRATEGY",), BATCH_STRATEGIES),
            max_payload_mb=env.integer(
                ("SAGEMAKER_MAX_PAYLOAD_IN_MB",), DEFAULT_PAYLOAD_MB, low=1, high=MAX_PAYLOAD_MB
            ),
            max_concurrent_transforms=env.integer(("SAGEMAKER_MAX_CONCURRENT_TRANSFORMS",), workers, low=1),
            allow_pickle=env.flag(("BYOM_ALLOW_PICKLE",), False),
            skops_trusted_types=env.words(("BYOM_SKOPS_TRUSTED_TYPES",)),
            log_level=env.text(("BYOM_LOG_LEVEL",), "info").lower(),
        )


@dataclass(frozen=True)
class TrainingPaths:
    """The training contract's `/opt/ml` tree; build it with `TrainingPaths.from_env(os.environ)`."""

    base: Path
    model: Path

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

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> TrainingPaths:
        return cls(
            base=Path(environ.get("SAGEMAKER_BASE_DIR") or DEFAULT_BASE_DIR), model=_model_dir(environ)
        )


def _model_dir(environ: Mapping[str, str]) -> Path:
    if environ.get("SM_MODEL_DIR"):
        return Path(environ["SM_MODEL_DIR"])
    return Path(environ.get("SAGEMAKER_BASE_DIR") or DEFAULT_BASE_DIR) / "model"


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
        if value.upper() not in choices:
            raise ConfigurationError(f"{name}={value!r}: expected one of {', '.join(choices)}")
        return value.upper()


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
