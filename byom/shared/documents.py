"""Reading the JSON files byom writes (loadtest results, plans), each checked by its `kind`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from byom.cli import CommandError


def read_document(path: Path, kind: str, what: str) -> dict[str, Any]:
    """The JSON object in `path` whose `kind` is `kind`; `what` names it in errors."""
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise CommandError(f"cannot read the {what} {path}: {error}") from None
    if not isinstance(document, dict) or document.get("kind") != kind:
        raise CommandError(f"{path} is not a byom {what} (its `kind` is not {kind!r})")
    return document
