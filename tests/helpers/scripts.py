"""Model directories with an inference script (script mode) in their code/ folder."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

from tests.helpers.harness import DEMO_MODEL


def model_with_script(directory: Path, source: str, files: dict[str, str] | None = None) -> Path:
    """The demo model with code/inference.py (and other files under code/) beside it."""
    model_dir = shutil.copytree(DEMO_MODEL, directory / "model")
    write_code(model_dir, source, files)
    return model_dir


def write_code(model_dir: Path, source: str, files: dict[str, str] | None = None) -> None:
    for name, text in {"inference.py": source, **(files or {})}.items():
        path = model_dir / "code" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
