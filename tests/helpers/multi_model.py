"""A SageMaker-shaped multi-model root (`/opt/ml/models/<name>/model`), built once per session,
and the calls of the multi-model API, for tests/test_multi_model*.py and the image's test.

The root holds one model of every format tests/helpers/models.py makes (CASES), the demo model
with its manifest, and copies of the exported tree to make MODEL_COUNT models in all.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.helpers.harness import DEMO_MODEL
from tests.helpers.models import CASES, ModelCase, exported_tree

MODEL_COUNT = 20
CSV = {"Content-Type": "text/csv"}


def build_root(root: Path) -> dict[str, ModelCase | None]:
    """The models under root/NAME/model, by name; None for the demo model (its answers are its own)."""
    cases: dict[str, ModelCase | None] = {}
    for name, factory in CASES.items():
        directory = model_dir(root, name)
        directory.mkdir(parents=True)
        cases[name] = factory(directory)
    shutil.copytree(DEMO_MODEL, model_dir(root, "demo"))
    cases["demo"] = None
    for index in range(MODEL_COUNT - len(cases)):
        directory = model_dir(root, f"tree-{index}")
        directory.mkdir(parents=True)
        cases[f"tree-{index}"] = exported_tree(directory)
    return cases


def model_dir(root: Path, name: str) -> Path:
    return root / name / "model"


def load_body(name: str, url: Path | str) -> bytes:
    return json.dumps({"model_name": name, "url": str(url)}).encode()


def csv_rows(case: ModelCase | None, count: int = 3) -> bytes:
    """A few of the case's rows as CSV; the demo model takes iris rows."""
    if case is None:
        return b"5.1,3.5,1.4,0.2\n6.2,2.9,4.3,1.3\n7.7,3.0,6.1,2.3\n"
    return "".join(",".join(repr(float(value)) for value in row) + "\n" for row in case.rows[:count]).encode()
