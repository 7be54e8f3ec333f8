"""`byom push`: a local image -> ECR, tagged with the version and the git revision.

Owns the sequence: check the image exists locally, create the ECR repository if missing (scan on
push), log the local Docker engine in with an authorization token (`aws ecr get-login` is gone;
the token is `AWS:<password>` in base64 and goes to `docker login --password-stdin`, never onto
a command line), tag, push. The tags are VERSION (pyproject.toml's, or --tag) and
VERSION-<12 hex of HEAD>[-dirty]; stdout carries only the image URI with the second, the one to
deploy, and nothing under --dry-run (stderr says what the URI will be; a dry run still checks the
local image). Docker is reached through `Docker`, so tests can watch the commands.
"""

from __future__ import annotations

import argparse
import base64
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

from byom.errors import CommandError
from byom.shared import config, validate
from byom.shared.aws import Aws, connect


class Docker:
    """The local Docker CLI; under dry-run it prints the commands instead (`image inspect` is run)."""

    def __init__(self, dry_run: bool = False) -> None:
        self.dry_run = dry_run

    def __call__(self, *args: str, stdin: str | None = None) -> str:
        if self.dry_run and args[0] != "image":
            print("(dry run) will run docker " + " ".join(args), file=sys.stderr)
            return ""
        executable = shutil.which("docker")
        if executable is None:
            raise CommandError("docker is not installed (or not on PATH)")
        done = subprocess.run([executable, *args], input=stdin, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            reason = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise CommandError(f"docker {args[0]} failed: {reason}")
        return done.stdout


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "push", help="push a local image to ECR, tagged with version and git revision"
    )
    parser.add_argument(
        "local_image",
        metavar="IMAGE",
        nargs="?",
        default="byom:latest",
        help="local image (default byom:latest)",
    )
    config.add_flags(parser, "repository")
    parser.add_argument("--tag", help="version tag (default: pyproject.toml's project.version)")
    config.add_dry_run(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = config.load(args)
    tags = image_tags(args.tag or project_version(Path.cwd()), git_revision(Path.cwd()))
    aws = connect(settings, dry_run=args.dry_run, out=sys.stderr)
    uri = push(aws, Docker(args.dry_run), args.local_image, settings.repository, tags)
    if aws.dry_run:
        aws.say(f"the image URI will be {uri}")
    else:
        print(uri)
    return 0


def push(aws: Aws, docker: Docker, image: str, repository: str, tags: list[str]) -> str:
    """Push `image` as every tag; returns the URI of the last tag."""
    check_local_image(docker, image)
    known = ensure_repository(aws, repository)
    registry, username, password = login_details(aws)
    uri = known or f"{registry}/{repository}"  # a repository's URI is REGISTRY/NAME
    docker("login", "--username", username, "--password-stdin", registry, stdin=password)
    for tag in tags:
        docker("tag", image, f"{uri}:{tag}")
        docker("push", f"{uri}:{tag}")
        aws.done(f"image {uri}:{tag}", "pushed")
    return f"{uri}:{tags[-1]}"


def check_local_image(docker: Docker, image: str) -> None:
    try:
        docker("image", "inspect", "--format", "{{.Id}}", image)
    except CommandError as error:
        if "no such image" in str(error).lower():
            raise CommandError(
                f"no local image {image}; build it first: docker build -t {image} ."
            ) from error
        raise


def ensure_repository(aws: Aws, repository: str) -> str | None:
    """The repository's URI, creating it if missing; None when a dry run would create it."""
    found = aws.find("ecr", "describe_repositories", repositoryNames=[repository])
    if found:
        return str(found["repositories"][0]["repositoryUri"])
    created = aws.change(
        "ecr", "create_repository", repositoryName=repository, imageScanningConfiguration={"scanOnPush": True}
    )
    aws.done(f"ECR repository {repository}", "created")
    uri = created.get("repository", {}).get("repositoryUri")
    return None if uri is None else str(uri)


def login_details(aws: Aws) -> tuple[str, str, str]:
    """(registry, username, password) from GetAuthorizationToken."""
    data = aws.read("ecr", "get_authorization_token")["authorizationData"][0]
    username, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    registry = str(data["proxyEndpoint"]).removeprefix("https://")
    return registry, username, password


def image_tags(version: str, revision: str | None) -> list[str]:
    tags = [version] if revision is None else [version, f"{version}-{revision}"]
    return [validate.tag(tag) for tag in tags]


def project_version(directory: Path) -> str:
    path = directory / "pyproject.toml"
    try:
        return str(tomllib.loads(path.read_text(encoding="utf-8"))["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError) as error:
        raise CommandError(f"no project.version in {path}; pass --tag VERSION") from error


def git_revision(directory: Path) -> str | None:
    """HEAD's 12-hex abbreviation, with -dirty for uncommitted changes; None outside git."""
    git = shutil.which("git")
    if git is None:
        return None
    head = subprocess.run(
        [git, "rev-parse", "--short=12", "HEAD"], cwd=directory, capture_output=True, text=True, check=False
    )
    if head.returncode != 0:
        return None
    dirty = subprocess.run(
        [git, "status", "--porcelain"], cwd=directory, capture_output=True, text=True, check=False
    )
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
