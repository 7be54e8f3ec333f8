"""Reading the JSON files byom writes (loadtest results, plans), each checked by its `kind`.

Owns: the kinds and the one reader of each. A plan file (PLAN_KIND, PLAN_VERSION) is the one plan
format: `byom plan` writes it (byom/plan/plan_file.py), `byom simulate` reads it whole, and
`byom deploy --plan` and `byom cfn --plan` apply its "autoscaling" member; a plan written by hand
is a plan file too, `{"kind": "byom.plan", "version": 1, "autoscaling": {...}}`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from byom.errors import CommandError

PLAN_KIND = "byom.plan"
PLAN_VERSION = 1
BARE_POLICY_HINT = (
    'a bare scaling policy: put it in a plan file, {"kind": "byom.plan", "version": 1, "autoscaling": {...}}'
)


def read_document(path: Path, kind: str, what: str) -> dict[str, Any]:
    """The JSON object in `path` whose `kind` is `kind`; `what` names it in errors."""
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise CommandError(f"cannot read the {what} {path}: {error}") from None
    if not isinstance(document, dict) or document.get("kind") != kind:
        hint = (
            f": it looks like {BARE_POLICY_HINT}" if kind == PLAN_KIND and _is_bare_policy(document) else ""
        )
        raise CommandError(f"{path} is not a byom {what} (its `kind` is not {kind!r}){hint}")
    return document


def read_plan(path: Path) -> dict[str, Any]:
    """A plan file, whose version this byom reads."""
    document = read_document(path, PLAN_KIND, "plan")
    if document.get("version") != PLAN_VERSION:
        raise CommandError(
            f"{path}: plan version {document.get('version')!r} is not supported (expected {PLAN_VERSION})"
        )
    return document


def _is_bare_policy(document: Any) -> bool:
    return isinstance(document, dict) and "kind" not in document and "min_capacity" in document
