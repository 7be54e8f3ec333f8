"""`export-tree`: a decision tree saved outside `train` gets its export; anything else a reason."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import skops.io
from sklearn.ensemble import RandomForestClassifier
from sklearn.tree import DecisionTreeClassifier

from container.flavours import load_model
from container.flavours.exported_tree import ExportedTree
from container.settings import Settings
from tests.helpers.harness import REPO
from tests.helpers.models import CASES, iris


def export_tree(model_dir: Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "SM_MODEL_DIR": str(model_dir)}
    return subprocess.run(
        [str(REPO / "export-tree")], env=environment, capture_output=True, text=True, timeout=120
    )


def test_a_tree_saved_with_skops_is_exported_and_then_served_from_its_export(tmp_path: Path) -> None:
    features, labels = iris()
    tree = DecisionTreeClassifier(max_depth=3, random_state=0).fit(features, labels)
    skops.io.dump(tree, tmp_path / "tree.skops")
    done = export_tree(tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"byom: wrote {tmp_path / 'tree.skops.tree.npz'}\n"
    model = load_model(Settings(model_dir=tmp_path))
    assert isinstance(model, ExportedTree)
    assert model.labels(features).tolist() == tree.predict(features).tolist()


def test_what_is_not_a_skops_tree_is_refused_with_the_reason(tmp_path: Path) -> None:
    features, labels = iris()
    forest_dir, booster_dir, empty_dir = tmp_path / "forest", tmp_path / "booster", tmp_path / "empty"
    for directory in (forest_dir, booster_dir, empty_dir):
        directory.mkdir()
    skops.io.dump(RandomForestClassifier(n_estimators=2).fit(features, labels), forest_dir / "forest.skops")
    CASES["xgboost-binary-json"](booster_dir)
    expected = {
        forest_dir: "forest.skops holds a RandomForestClassifier; only single-output scikit-learn decision trees",
        booster_dir: "model.json is not a skops file; only single-output scikit-learn decision trees",
        empty_dir: "no model file in",
    }
    for directory, reason in expected.items():
        done = export_tree(directory)
        assert done.returncode == 1 and done.stderr.startswith("byom: cannot export: ")
        assert reason in done.stderr
        assert not list(directory.glob("*.tree.npz"))
