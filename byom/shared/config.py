"""Configuration of the ship commands: flags, then the project file, then the environment.

Owns: every setting (FIELDS: flag, type, default, help), the project file (`byom.toml` in the
current directory, or `--config FILE`; top-level keys named like the settings, e.g.
`instance_type = "ml.m5.xlarge"`), the one read of the environment (AWS_REGION, then
AWS_DEFAULT_REGION; boto3 itself reads AWS_PROFILE, credentials and AWS_ENDPOINT_URL), and
validating each value once, when the configuration is built. A flag wins over the project file,
which wins over the environment. Unknown keys in the project file are errors (typos must not
pass silently).

Two kinds of setting are not plain scalars. `variants` is the `[[variants]]` table array
(byom/shared/variant_table.py owns its shape); it has no flag. The rollout settings (`strategy`,
`canary_size`, `wait_interval`, ...) arrive as text from their flags; in the project file a
number is taken as its text (`wait_interval = 600`, `canary_size = "10%"`), and
byom/ship/rollout.py checks them together, since their bounds depend on one another.
"""

from __future__ import annotations

import argparse
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from byom.errors import CommandError
from byom.shared import validate, variant_table

PROJECT_FILE = "byom.toml"
DEFAULT_INSTANCE_TYPE = "ml.m5.xlarge"
T = TypeVar("T")


# The rollout settings (checked together by byom/ship/rollout.py) and their help.
ROLLOUT_HELP = {
    "strategy": "update an existing endpoint with a rollout: blue-green or rolling",
    "traffic": "blue-green traffic shifting: all-at-once (default), canary or linear",
    "canary_size": "canary: first step, N%% (1-50) or N instances (default 10%%)",
    "linear_step": "linear: each step, N%% (10-50) or N instances (default 20%%)",
    "batch_size": "rolling: each batch, N%% (5-50) or N instances (default 25%%)",
    "rollback_batch_size": "rolling: each rollback batch (default: all at once)",
    "wait_interval": "seconds to bake between steps, 0-3600 (default 300)",
    "termination_wait": "blue-green: seconds before the old fleet goes, 0-3600",
    "max_execution_time": "seconds the whole rollout may take, 600-28800",
}


@dataclass(frozen=True)
class Field:
    kind: type
    help: str
    check: Callable[[Any], Any] | None = None
    flag: bool = True  # False: the project file only (a table array has no flag)
    number_as_text: bool = False  # the project file may give a number for this text setting


FIELDS: dict[str, Field] = {
    "endpoint": Field(str, "endpoint name", lambda v: validate.name(v, "endpoint")),
    "image": Field(str, "image URI with tag (what `byom push` printed)", validate.image),
    "model_data": Field(
        str,
        "s3:// URL of model.tar.gz (what `byom package` printed)",
        lambda v: validate.s3_url(v, "model data"),
    ),
    "role": Field(str, "IAM execution role ARN SageMaker assumes", validate.role_arn),
    "instance_type": Field(
        str, f"hosting instance type (default {DEFAULT_INSTANCE_TYPE})", validate.instance_type
    ),
    "instance_count": Field(
        int,
        "instances when the endpoint is created (default 2)",
        lambda v: validate.at_least(v, 1, "instance count"),
    ),
    "variant": Field(
        str, "production variant name (default AllTraffic)", lambda v: validate.name(v, "variant")
    ),
    "workers": Field(
        int,
        "SAGEMAKER_MODEL_SERVER_WORKERS (default: the image's, 2 x cores + 1)",
        lambda v: validate.at_least(v, 1, "workers"),
    ),
    "timeout": Field(
        int,
        "SAGEMAKER_MODEL_SERVER_TIMEOUT in seconds (default: the image's, 60)",
        lambda v: validate.within(v, 1, 3600, "timeout"),
    ),
    "data_capture": Field(
        str, "s3:// prefix for data capture (default: off)", lambda v: validate.s3_url(v, "data capture")
    ),
    "capture_percent": Field(
        int,
        "percentage of requests captured (default 100)",
        lambda v: validate.within(v, 0, 100, "capture percent"),
    ),
    "plan": Field(str, "scaling plan JSON file (written by `byom plan`)"),
    "variants": Field(
        list, "several variants: the [[variants]] tables of byom.toml", variant_table.parse, flag=False
    ),
    "serverless_memory": Field(
        int,
        "serverless inference instead of instances: memory in MB, 1024-6144 in steps of 1024",
        validate.serverless_memory,
    ),
    "max_concurrency": Field(
        int,
        "serverless: concurrent invocations, 1-200 (default 20)",
        lambda v: validate.within(v, 1, 200, "max concurrency"),
    ),
    "provisioned_concurrency": Field(
        int,
        "serverless: invocations kept warm, 1-200, at most max concurrency (default: none)",
        lambda v: validate.within(v, 1, 200, "provisioned concurrency"),
    ),
    "async_output": Field(
        str,
        "asynchronous inference: s3:// prefix SageMaker writes the answers to",
        lambda v: validate.s3_url(v, "async output"),
    ),
    "async_success_topic": Field(
        str,
        "asynchronous: SNS topic ARN told of each answer",
        lambda v: validate.sns_topic(v, "success topic"),
    ),
    "async_error_topic": Field(
        str,
        "asynchronous: SNS topic ARN told of each failure",
        lambda v: validate.sns_topic(v, "error topic"),
    ),
    "async_max_concurrency": Field(
        int,
        "asynchronous: concurrent invocations per instance, 1-1000 (default: SageMaker's)",
        lambda v: validate.within(v, 1, 1000, "async max concurrency"),
    ),
    **{name: Field(str, text, number_as_text=True) for name, text in ROLLOUT_HELP.items()},
    "repository": Field(str, "ECR repository name (default byom)", validate.repository),
    "bucket": Field(str, "S3 bucket (default sagemaker-REGION-ACCOUNT)", validate.bucket),
    "prefix": Field(str, "S3 key prefix (default byom/models)"),
    "region": Field(str, "AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, the profile's)"),
    "profile": Field(str, "AWS profile (default: AWS_PROFILE)"),
    "wait": Field(
        int, "seconds to wait for InService (default 1800)", lambda v: validate.at_least(v, 1, "wait")
    ),
}


@dataclass(frozen=True)
class Config:
    endpoint: str | None = None
    image: str | None = None
    model_data: str | None = None
    role: str | None = None
    instance_type: str = DEFAULT_INSTANCE_TYPE
    instance_count: int = 2
    variant: str = "AllTraffic"
    workers: int | None = None
    timeout: int | None = None
    data_capture: str | None = None
    capture_percent: int = 100
    plan: str | None = None
    variants: tuple[variant_table.Declared, ...] = ()
    serverless_memory: int | None = None
    max_concurrency: int = 20
    provisioned_concurrency: int | None = None
    async_output: str | None = None
    async_success_topic: str | None = None
    async_error_topic: str | None = None
    async_max_concurrency: int | None = None
    strategy: str | None = None
    traffic: str | None = None
    canary_size: str | None = None
    linear_step: str | None = None
    batch_size: str | None = None
    rollback_batch_size: str | None = None
    wait_interval: str | None = None
    termination_wait: str | None = None
    max_execution_time: str | None = None
    repository: str = "byom"
    bucket: str | None = None
    prefix: str = "byom/models"
    region: str | None = None
    profile: str | None = None
    wait: int = 1800


def add_flags(parser: argparse.ArgumentParser, *names: str) -> None:
    """Add the flags for these settings plus the ones every AWS command takes."""
    parser.add_argument(
        "--config", metavar="FILE", help=f"project file (default ./{PROJECT_FILE} if present)"
    )
    add_setting_flags(parser, *names, "region", "profile")


def add_setting_flags(parser: argparse.ArgumentParser | argparse._ArgumentGroup, *names: str) -> None:
    """One flag per named setting (`instance_type` is --instance-type), to a parser or a group."""
    for name in names:
        field = FIELDS[name]
        if not field.flag:
            raise ValueError(f"setting {name} has no flag")  # a programming error, not the user's
        parser.add_argument(flag_of(name), dest=name, type=field.kind, default=None, help=field.help)


def flag_of(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_dry_run(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the AWS calls it will make and make no change (without AWS credentials: read nothing)",
    )


def load(
    args: argparse.Namespace, environ: Mapping[str, str] | None = None, cwd: Path | None = None
) -> Config:
    """The configuration for one command run: flags over byom.toml over the environment."""
    environ = os.environ if environ is None else environ
    project = read_project(getattr(args, "config", None), cwd or Path.cwd())
    values: dict[str, Any] = {}
    for name in FIELDS:
        flag = getattr(args, name, None)
        value = flag if flag is not None else project.get(name)
        if value is not None:
            values[name] = _checked(name, value)
    values.setdefault("region", environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or None)
    return Config(**values)


def read_project(explicit: str | None, cwd: Path) -> dict[str, Any]:
    path = Path(explicit) if explicit else cwd / PROJECT_FILE
    if not path.is_file():
        if explicit:
            raise CommandError(f"project file {path} does not exist")
        return {}
    try:
        project = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise CommandError(f"{path} is not valid TOML: {error}") from error
    unknown = sorted(set(project) - set(FIELDS))
    if unknown:
        raise CommandError(f"{path}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(FIELDS)}")
    return project


def required(value: T | None, name: str) -> T:
    """The setting's value, or a CommandError naming the flag and the project-file key."""
    if value is None:
        raise CommandError(f"missing --{name.replace('_', '-')} (or `{name}` in {PROJECT_FILE})")
    return value


def _checked(name: str, value: Any) -> Any:
    field = FIELDS[name]
    if field.number_as_text and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, field.kind) or isinstance(value, bool):
        kind = {int: "an integer", list: "an array of tables"}.get(field.kind, "a string")
        raise CommandError(f"setting {name} must be {kind}, got {value!r}")
    return field.check(value) if field.check else value
