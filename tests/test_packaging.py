"""`pip install .` ships what the image ships: a wheel built by the build backend holds both C
extension modules, and an installation of it serves through them."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from container import accelerations
from tests.helpers.harness import DEMO_MODEL, REPO

EXTENSIONS = ("container/codecs/_row_reader.", "container/flavours/_tree_walk.", "container/_tree_shap.")
SERVE_ONE_ROW = f"""
import sys
from pathlib import Path
import container
from container import accelerations
from container.codecs import routes
from container.flavours import compiled_walk
from container.app import create_app
from container.settings import Settings
from werkzeug.test import Client
assert not container.__file__.startswith({str(REPO)!r}), container.__file__
assert routes.ROW_READER is not None and compiled_walk.load_module(compiled_walk.LIBRARY)
print(accelerations.summary())
client = Client(create_app(Settings(model_dir=Path({str(DEMO_MODEL)!r}))))
print(client.post("/invocations", data=b"5.1,3.5,1.4,0.2", content_type="text/csv").get_data(as_text=True))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("*.whl")
    return built


def test_the_wheel_holds_both_extension_modules(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    for extension in EXTENSIONS:
        assert any(name.startswith(extension) and name.endswith(".so") for name in names), extension
    assert "container/server/worker.py" in names


def test_an_installed_wheel_serves_through_its_extensions(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    environ = {**os.environ, "PYTHONPATH": str(target)}
    done = subprocess.run(
        [sys.executable, "-c", SERVE_ONE_ROW], cwd=tmp_path, env=environ, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()  # the summary, the access log's line, the answer
    assert "missing" not in lines[0]
    assert lines[-2:] == ["setosa", ""], done.stdout


def test_the_start_up_line_names_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(accelerations.ROUTES, "C tree walk", "container.flavours._never_built")
    assert "missing, so slower: C tree walk" in accelerations.summary()
