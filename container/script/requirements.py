"""The script's requirements.txt: checked, never installed.

Owns the decision: the image has no pip and a SageMaker endpoint may have no route to PyPI, so
nothing is installed at start (AWS's images pip-install it there, and a failed install leaves
/ping failing with nothing said). A requirements.txt whose every line is already satisfied, by the
image or by the vendored `code/lib/`, is fine; otherwise the server stops at boot with one line
naming what is missing and the two ways to provide it. Versions are read from the installed
distributions' metadata (importlib.metadata) on the import path the script will have.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from container.errors import ConfigurationError


def unmet(path: Path) -> list[str]:
    """The lines of requirements.txt that the import path does not satisfy (empty: all are)."""
    missing = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = line.split(" #")[0].strip()
        if not text or text.startswith("#"):
            continue
        requirement = _parse(text, path, number)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        try:
            version = importlib.metadata.version(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(f"{text} (not installed)")
            continue
        if not requirement.specifier.contains(version, prereleases=True):
            missing.append(f"{text} ({version} is installed)")
    return missing


def check(path: Path, lib: Path) -> None:
    """ConfigurationError naming every unmet line, when requirements.txt exists and has any."""
    if not path.is_file():
        return
    missing = unmet(path)
    if missing:
        raise ConfigurationError(
            f"{path} needs {'; '.join(missing)}, and this image installs nothing at start: vendor them "
            f"into {lib} (pip install --target {lib} -r {path.name}) or build an image FROM this one "
            "that installs them"
        )


def _parse(text: str, path: Path, number: int) -> Requirement:
    if text.startswith("-"):
        raise ConfigurationError(
            f"{path}:{number}: {text.split()[0]} is a pip option; this image installs nothing, so list "
            "only requirements it can check (name and version)"
        )
    try:
        return Requirement(text)
    except InvalidRequirement as error:
        raise ConfigurationError(f"{path}:{number}: {text!r} is not a requirement ({error})") from None
