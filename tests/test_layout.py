"""The rules the folders carry (each folder's __init__ docstring states its own)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers.harness import REPO

SERVER = REPO / "container" / "server"
FROM_THE_APPLICATION = {"container.settings", "container.errors"}
WHERE_SERVER_MEETS_APPLICATION = {"serve.py", "gunicorn_hooks.py", "wsgi.py"}
MEETING_IMPORTS = {
    "container.app",
    "container.access_log",
    "container.flavours",
    "container.accelerations",
    "container.script.locate",  # whether an inference script loads its own model: nothing to preload
    "container.multimodel.registry",  # the master makes the workers' shared registry, each joins it
    "container.metrics.exposition",  # the master keeps the metrics' directory and serves scrapes
    "container.metrics.instruments",  # each worker records its requests
}


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


METRICS = REPO / "container" / "metrics"


@pytest.mark.parametrize("path", sorted(METRICS.glob("*.py")), ids=lambda path: path.name)
def test_the_metrics_know_the_environ_keys_not_the_app_or_the_server(path: Path) -> None:
    foreign = {name for name in container_imports(path) if not name.startswith("container.metrics")}
    assert foreign <= {"container.access_log"}, f"{path.name} imports {sorted(foreign)}"


CODECS = REPO / "container" / "codecs"
WHAT_CODECS_READ = {"container.errors", "container.tables", "container.outputs"}


@pytest.mark.parametrize("path", sorted(CODECS.glob("*.py")), ids=lambda path: path.name)
def test_the_codecs_know_bytes_and_tables_not_models_or_settings(path: Path) -> None:
    foreign = {name for name in container_imports(path) if not name.startswith("container.codecs")}
    assert foreign <= WHAT_CODECS_READ, f"{path.name} imports {sorted(foreign - WHAT_CODECS_READ)}"


SCRIPT = REPO / "container" / "script"


@pytest.mark.parametrize("path", sorted(SCRIPT.glob("*.py")), ids=lambda path: path.name)
def test_the_script_layer_knows_neither_wsgi_nor_gunicorn(path: Path) -> None:
    tree = ast.parse(path.read_text())
    modules = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    modules |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {
        name for name in modules if name.startswith(("container.server", "container.app", "gunicorn"))
    }


MULTIMODEL = REPO / "container" / "multimodel"
# Only api.py knows the routes' payloads, and none of the package knows WSGI or the server.
WITHOUT_HTTP = ("registry.py", "models.py", "memory.py", "location.py")


@pytest.mark.parametrize("path", sorted(MULTIMODEL.glob("*.py")), ids=lambda path: path.name)
def test_the_multi_model_layer_knows_neither_wsgi_nor_the_server(path: Path) -> None:
    imported = container_imports(path)
    assert not {name for name in imported if name.startswith(("container.server", "container.app"))}
    if path.name in WITHOUT_HTTP:
        assert "container.multimodel.api" not in imported


def test_each_content_type_has_one_codec_module() -> None:
    from container.codecs import DECODERS, ENCODERS

    modules = {codec.__module__ for codec in [*DECODERS.values(), *ENCODERS.values()]}
    assert modules == {f"container.codecs.{name}" for name in ("csv", "json", "jsonlines", "libsvm", "npy")}


BYOM = REPO / "byom"
# What each job of the `byom` command may import (beyond itself): shared helpers and the one error
# for all; a plan is measured by byom.measure and its policy built by the ship's request builders.
BYOM_RULES = {
    "shared": set(),
    "measure": set(),
    "archive": set(),
    "ship": set(),
    "plan": {"byom.measure", "byom.ship.resources", "byom.ship.scaling_plan"},
}


def runtime_byom_imports(path: Path) -> set[str]:
    """The byom modules `path` imports when it runs (not those imported for type checking only)."""
    tree = ast.parse(path.read_text())
    checking_only = {
        id(child)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
        for child in ast.walk(node)
    }
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and id(node) not in checking_only:
            found |= (
                {f"{node.module}.{alias.name}" for alias in node.names}
                if node.module in {f"byom.{job}" for job in BYOM_RULES}
                else {node.module}
            )
    return {name for name in found if name.startswith("byom.")}


@pytest.mark.parametrize(
    "path",
    sorted(path for job in BYOM_RULES for path in (BYOM / job).glob("*.py")),
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_each_job_of_the_command_imports_only_what_its_folder_allows(path: Path) -> None:
    job = path.parent.name
    allowed = ("byom.errors", "byom.shared", f"byom.{job}", *BYOM_RULES[job])
    foreign = {name for name in runtime_byom_imports(path) if not name.startswith(allowed)}
    assert not foreign, f"byom/{job}/{path.name} imports {sorted(foreign)}"


def test_every_command_module_is_in_a_folder_of_its_job() -> None:
    from byom.cli import COMMANDS

    assert {module.split(".")[1] for module in COMMANDS.values()} <= set(BYOM_RULES) - {"shared"}
    assert sorted(path.name for path in BYOM.glob("*.py")) == [
        "__init__.py",
        "__main__.py",
        "cli.py",
        "errors.py",
    ]


TESTS = REPO / "tests"


@pytest.mark.parametrize("path", sorted(TESTS.rglob("*.py")), ids=lambda p: str(p.relative_to(TESTS)))
def test_tests_import_helpers_never_other_test_files(path: Path) -> None:
    tree = ast.parse(path.read_text())
    modules = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    modules |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    test_modules = {
        name for name in modules if name.startswith("tests.") and not name.startswith("tests.helpers")
    }
    assert not test_modules, (
        f"{path.relative_to(TESTS)} imports {sorted(test_modules)}: move it to tests/helpers/"
    )


def test_helpers_hold_no_tests() -> None:
    for path in (TESTS / "helpers").glob("*.py"):
        tree = ast.parse(path.read_text())
        tests = [
            node.name
            for node in tree.body
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
        ]
        assert not path.name.startswith("test_") and not tests, f"tests/helpers/{path.name} holds tests"
