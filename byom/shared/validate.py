"""Checks AWS would make, made before any call: emulators accept what SageMaker rejects.

Owns: the rules for names (SageMaker's pattern, 63 characters), IAM role and SNS topic ARNs, S3 URLs, image
references, the table of ml.* hosting instance types, and numeric ranges. Each check returns the
value it accepted or raises `CommandError` with a one-line reason naming the setting.
"""

from __future__ import annotations

import re

from byom.errors import CommandError

# SageMaker's pattern for endpoint, endpoint-config, model and variant names.
NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}")
# SNS topic names: 1-256 letters, digits, hyphens and underscores (no FIFO topics for SageMaker).
SNS_TOPIC_ARN = re.compile(r"arn:aws[a-z-]*:sns:[a-z]{2}(-[a-z]+)+-\d:\d{12}:[A-Za-z0-9_-]{1,256}")
S3_URL = re.compile(r"s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(?P<key>.+)")
BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
IMAGE = re.compile(r"[\w.-]+(:\d+)?(/[\w.-]+)+(:[\w.-]{1,128}|@sha256:[0-9a-f]{64})")
TAG = re.compile(r"[\w][\w.-]{0,127}")
REPOSITORY = re.compile(r"[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*")

# Real-time hosting instance families and their sizes (SageMaker pricing page, CPU families
# first; the accelerated ones are listed so a GPU endpoint is not refused by mistake).
_SIZES_M = ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge")
INSTANCE_FAMILIES: dict[str, tuple[str, ...]] = {
    "t2": ("medium", "large", "xlarge", "2xlarge"),
    "m4": ("xlarge", "2xlarge", "4xlarge", "10xlarge", "16xlarge"),
    "m5": _SIZES_M,
    "m5d": _SIZES_M,
    "m6i": (*_SIZES_M, "32xlarge"),
    "m7i": (*_SIZES_M, "48xlarge"),
    "c4": ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge"),
    "c5": ("large", "xlarge", "2xlarge", "4xlarge", "9xlarge", "18xlarge"),
    "c5d": ("large", "xlarge", "2xlarge", "4xlarge", "9xlarge", "18xlarge"),
    "c6i": (*_SIZES_M, "32xlarge"),
    "c7i": (*_SIZES_M, "48xlarge"),
    "r5": _SIZES_M,
    "r5d": _SIZES_M,
    "r6i": (*_SIZES_M, "32xlarge"),
    "g4dn": ("xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge"),
    "g5": ("xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "48xlarge"),
    "p3": ("2xlarge", "8xlarge", "16xlarge"),
    "inf1": ("xlarge", "2xlarge", "6xlarge", "24xlarge"),
}
INSTANCE_TYPES = frozenset(
    f"ml.{family}.{size}" for family, sizes in INSTANCE_FAMILIES.items() for size in sizes
)


def name(value: str, setting: str) -> str:
    if not NAME.fullmatch(value):
        raise CommandError(
            f"{setting} {value!r} is not a valid SageMaker name: 1-63 letters, digits and hyphens, "
            "starting and ending with a letter or digit"
        )
    return value


def role_arn(value: str) -> str:
    if not ROLE_ARN.fullmatch(value):
        raise CommandError(
            f"role {value!r} is not an IAM role ARN (arn:aws:iam::123456789012:role/NAME); "
            "SageMaker assumes it to pull the image and read the model data"
        )
    return value


def sns_topic(value: str, setting: str) -> str:
    if not SNS_TOPIC_ARN.fullmatch(value):
        raise CommandError(
            f"{setting} {value!r} is not an SNS topic ARN (arn:aws:sns:REGION:123456789012:TOPIC)"
        )
    return value


def s3_url(value: str, setting: str) -> str:
    if not S3_URL.fullmatch(value):
        raise CommandError(f"{setting} {value!r} is not an s3://bucket/key URL")
    return value


def bucket(value: str) -> str:
    if not BUCKET.fullmatch(value) or ".." in value:
        raise CommandError(
            f"bucket {value!r} is not a valid S3 bucket name (3-63 lower-case letters, digits, '.', '-')"
        )
    return value


def image(value: str) -> str:
    if not IMAGE.fullmatch(value):
        raise CommandError(
            f"image {value!r} is not a registry image reference with a tag or digest "
            "(123456789012.dkr.ecr.REGION.amazonaws.com/byom:TAG; `byom push` prints it)"
        )
    return value


def tag(value: str) -> str:
    if not TAG.fullmatch(value):
        raise CommandError(f"tag {value!r} is not a valid image tag (letters, digits, _ . -; at most 128)")
    return value


def repository(value: str) -> str:
    if not REPOSITORY.fullmatch(value) or len(value) > 256:
        raise CommandError(
            f"repository {value!r} is not a valid ECR repository name (lower-case, digits, . _ - /)"
        )
    return value


def instance_type(value: str) -> str:
    if value not in INSTANCE_TYPES:
        hint = "; hosting types start with 'ml.'" if not value.startswith("ml.") else ""
        raise CommandError(
            f"instance type {value!r} is not a SageMaker hosting instance type (e.g. ml.m5.xlarge){hint}"
        )
    return value


def at_least(value: int, minimum: int, setting: str) -> int:
    if value < minimum:
        raise CommandError(f"{setting} must be at least {minimum}, got {value}")
    return value


def within(value: float, low: float, high: float, setting: str) -> float:
    if not low <= value <= high:
        raise CommandError(f"{setting} must be between {low:g} and {high:g}, got {value:g}")
    return value


def capacity_range(minimum: int, maximum: int) -> None:
    at_least(minimum, 1, "min capacity")
    if minimum > maximum:
        raise CommandError(f"min capacity {minimum} is greater than max capacity {maximum}")


def serverless_memory(value: int) -> int:
    if value not in range(1024, 6145, 1024):
        raise CommandError(f"serverless memory must be 1024, 2048, 3072, 4096, 5120 or 6144 MB, got {value}")
    return value
