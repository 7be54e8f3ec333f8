"""`byom package`: model directory -> model.tar.gz -> S3, printing the s3:// URL for deploy.

Owns what goes into the archive and where it lands. The directory must hold exactly one model
file that the container would serve (the container's own discovery rules), its manifest.json
with a matching checksum, and nothing but regular files and folders: a symlink (which could
point outside) or a device file is refused. Dotfiles (macOS `._` entries) are left out. The
archive is reproducible (sorted names, zero times and owners), so the same model gives the same
bytes, the same key (`PREFIX/<12 hex of its sha256>/model.tar.gz`) and no second upload.
Progress goes to stderr; stdout carries only the URL, and nothing under --dry-run (stderr says
what the URL will be).
"""

from __future__ import annotations

import argparse
import gzip
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from byom.errors import CommandError
from byom.shared import config
from byom.shared.aws import Aws, connect
from container import manifest
from container.errors import ModelLoadError
from container.flavours import MANIFEST_NAME, find_artifact


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("package", help="tar a model directory and upload it to S3")
    parser.add_argument("model_dir", help="directory with the model file and its manifest.json")
    config.add_flags(parser, "bucket", "prefix")
    config.add_dry_run(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = config.load(args)
    model_dir = Path(args.model_dir)
    members = checked_members(model_dir)
    aws = connect(settings, dry_run=args.dry_run, out=sys.stderr)
    bucket = settings.bucket or default_bucket(aws)
    with tempfile.TemporaryDirectory(prefix="byom-package-") as scratch:
        archive = Path(scratch) / "model.tar.gz"
        write_archive(model_dir, members, archive)
        key = f"{settings.prefix.strip('/')}/{manifest.file_sha256(archive)[:12]}/model.tar.gz"
        ensure_bucket(aws, bucket)
        upload(aws, archive, bucket, key)
    if aws.dry_run:
        aws.say(f"the model URL will be s3://{bucket}/{key}")
    else:
        print(f"s3://{bucket}/{key}")
    return 0


def checked_members(model_dir: Path) -> list[Path]:
    """The files and folders to archive, relative to model_dir, after every check."""
    if not model_dir.is_dir():
        raise CommandError(f"{model_dir} is not a directory")
    members = []
    for path in sorted(model_dir.rglob("*")):
        relative = path.relative_to(model_dir)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            raise CommandError(
                f"{path} is a symlink or a special file; a model directory holds regular files only"
            )
        members.append(relative)
    check_model(model_dir)
    return members


def check_model(model_dir: Path) -> None:
    try:
        artifact = find_artifact(model_dir)
        recorded = manifest.read(model_dir)
        if recorded is None:
            raise CommandError(f"{model_dir} has no {MANIFEST_NAME}; `train` writes it beside the model")
        manifest.verify_artifact(recorded, artifact.path)
    except ModelLoadError as error:
        raise CommandError(str(error)) from error


def write_archive(model_dir: Path, members: list[Path], archive: Path) -> None:
    with (
        archive.open("wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for relative in members:
            tar.add(model_dir / relative, arcname=relative.as_posix(), recursive=False, filter=_normalised)


def _normalised(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
    info.mode = 0o755 if info.isdir() else 0o644
    return info


def default_bucket(aws: Aws) -> str:
    """SageMaker's conventional bucket, sagemaker-REGION-ACCOUNT (what its Python SDK uses)."""
    account = aws.read("sts", "get_caller_identity")["Account"]
    return f"sagemaker-{aws.region}-{account}"


def ensure_bucket(aws: Aws, bucket: str) -> None:
    if aws.find("s3", "head_bucket", Bucket=bucket) is not None:
        return
    location = (
        {} if aws.region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": aws.region}}
    )
    aws.change("s3", "create_bucket", Bucket=bucket, **location)
    aws.done(f"bucket {bucket}", "created")


def upload(aws: Aws, archive: Path, bucket: str, key: str) -> None:
    if aws.find("s3", "head_object", Bucket=bucket, Key=key) is not None:
        aws.say(f"s3://{bucket}/{key}: already uploaded (same content)")
        return
    aws.change("s3", "upload_file", Filename=str(archive), Bucket=bucket, Key=key)
    aws.done(f"s3://{bucket}/{key}", "uploaded", f"{archive.stat().st_size} bytes")
