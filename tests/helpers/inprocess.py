"""The app in this process, behind werkzeug's WSGI test client: the fast transport of the contract
suite (tests/conftest.py's `endpoint`)."""

from __future__ import annotations

from collections.abc import Mapping

from werkzeug.test import Client

from container.app import create_app
from container.settings import Settings
from tests.helpers.harness import Reply


class InProcessEndpoint:
    def __init__(self, settings: Settings) -> None:
        self.client = Client(create_app(settings))

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: Mapping[str, str] | None = None
    ) -> Reply:
        response = self.client.open(path, method=method, data=body, headers=dict(headers or {}))
        return Reply(response.status_code, response.headers, response.get_data())
