"""Which model names and urls `POST /models` accepts.

Owns the rules: a name is a plain identifier (letters, digits, `_`, `-`, `.`; not starting with a
dot; at most 128 characters), because it names files in the registry and a path segment of the
API; a url is a readable directory that resolves (symlinks followed) strictly inside the model root
(BYOM_MODEL_ROOT, `/opt/ml/models` where SageMaker puts them), and never under `/proc`, `/dev` or
`/sys` whatever the root. Anything else is a 400 before anything is read or loaded.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from container.errors import MalformedRequest

NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}")
FORBIDDEN_ROOTS = (Path("/proc"), Path("/dev"), Path("/sys"))


def check_name(name: object) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise MalformedRequest(
            f"model_name {str(name)[:140]!r} is not a plain name: use letters, digits, '_', '-' and '.' "
            "(not first), at most 128 characters"
        )
    return name


def check_url(url: object, root: Path) -> Path:
    """The model directory `url` names, resolved; 400 when it is not a readable directory inside
    the root."""
    if not isinstance(url, str) or not url or "\x00" in url:
        raise MalformedRequest("url must be the path of the model's directory")
    path = Path(url.removeprefix("file://"))
    if not path.is_absolute():
        raise MalformedRequest(f"url {url[:200]!r} is not an absolute path")
    resolved = Path(os.path.realpath(path))
    allowed = Path(os.path.realpath(root))
    forbidden = any(resolved == root or root in resolved.parents for root in FORBIDDEN_ROOTS)
    if forbidden or allowed not in resolved.parents:
        raise MalformedRequest(f"url {url[:200]!r} is outside the model root {root} (BYOM_MODEL_ROOT)")
    if not resolved.is_dir():
        raise MalformedRequest(f"url {url[:200]!r} is not a directory")
    if not os.access(resolved, os.R_OK | os.X_OK):
        raise MalformedRequest(f"url {url[:200]!r} is not readable by this server")
    return resolved
