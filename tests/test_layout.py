"""The rules the folders carry (each folder's __init__ docstring states its own)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.harness import REPO

SERVER = REPO / "container" / "server"
FROM_THE_APPLICATION = {"container.settings", "container.errors"}
WHERE_SERVER_MEETS_APPLICATION = {"serve.py", "gunicorn_hooks.py", "wsgi.py"}
MEETING_IMPORTS = {"container.app", "container.access_log", "container.flavours", "container.accelerations"}


def container_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names |= (
                {f"{node.module}.{alias.name}" for alias in node.names}
                if node.module == "container"
                else {node.module}
            )
    return {name for name in names if name.startswith("container.")}


@pytest.mark.parametrize("path", sorted(SERVER.glob("*.py")), ids=lambda path: path.name)
def test_the_server_knows_http_and_processes_not_models(path: Path) -> None:
    allowed = FROM_THE_APPLICATION | (
        MEETING_IMPORTS if path.name in WHERE_SERVER_MEETS_APPLICATION else set()
    )
    foreign = {name for name in container_imports(path) if not name.startswith("container.server")}
    assert foreign <= allowed, f"{path.name} imports {sorted(foreign - allowed)}"


CODECS = REPO / "container" / "codecs"
WHAT_CODECS_READ = {"container.errors", "container.tables", "container.outputs"}


@pytest.mark.parametrize("path", sorted(CODECS.glob("*.py")), ids=lambda path: path.name)
def test_the_codecs_know_bytes_and_tables_not_models_or_settings(path: Path) -> None:
    foreign = {name for name in container_imports(path) if not name.startswith("container.codecs")}
    assert foreign <= WHAT_CODECS_READ, f"{path.name} imports {sorted(foreign - WHAT_CODECS_READ)}"


def test_each_content_type_has_one_codec_module() -> None:
    from container.codecs import DECODERS, ENCODERS

    modules = {codec.__module__ for codec in [*DECODERS.values(), *ENCODERS.values()]}
    assert modules == {f"container.codecs.{name}" for name in ("csv", "json", "jsonlines", "libsvm", "npy")}
