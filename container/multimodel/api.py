"""The answers of the multi-model routes, as JSON-able dicts (the WSGI shell, container.app,
turns them into responses; `POST /models/NAME/invoke` is answered by /invocations' own path).

    POST   /models                {"model_name", "url"}  -> {"modelName", "modelUrl"}; 409, 507, 400
    GET    /models[?limit=N&next_page_token=T]   -> {"models": [...], "nextPageToken"?}
    GET    /models/NAME           -> {"modelName", "modelUrl"}; 404
    DELETE /models/NAME           -> {"modelName", "modelUrl"}, once no worker holds it; 404

A page holds `limit` models (default PAGE, at most MAX_PAGE) in name order; its token is the last
name it holds, so loads and unloads between pages neither repeat nor skip the others.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from container.errors import MalformedRequest, NotFound
from container.multimodel.location import check_name
from container.multimodel.models import LoadedModels

PAGE = 100
MAX_PAGE = 1000


def load(models: LoadedModels, body: bytes) -> dict[str, str]:
    try:
        request = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise MalformedRequest('the body must be JSON: {"model_name": NAME, "url": DIRECTORY}') from None
    if not isinstance(request, dict) or "model_name" not in request or "url" not in request:
        raise MalformedRequest('the body must be {"model_name": NAME, "url": DIRECTORY}')
    return models.load(request["model_name"], request["url"]).described()


def listing(models: LoadedModels, query: str) -> dict[str, Any]:
    parameters = parse_qs(query, keep_blank_values=True)
    limit = _limit(parameters.get("limit", [str(PAGE)])[-1])
    after = parameters.get("next_page_token", [""])[-1]
    entries = [entry for entry in models.registry.entries() if entry.name > after]
    page: dict[str, Any] = {"models": [entry.described() for entry in entries[:limit]]}
    if len(entries) > limit:
        page["nextPageToken"] = entries[limit - 1].name
    return page


def describe(models: LoadedModels, name: str) -> dict[str, str]:
    entry = models.registry.entry(check_name(name))
    if entry is None:
        raise NotFound(f"model {name} is not loaded")
    return entry.described()


def unload(models: LoadedModels, name: str) -> dict[str, str]:
    return models.unload(check_name(name)).described()


def _limit(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_PAGE:
        raise MalformedRequest(f"limit={text[:20]!r}: expected a whole number from 1 to {MAX_PAGE}")
    return int(text)
