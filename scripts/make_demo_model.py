"""Write the bundled demo model: the AWS sample's iris decision tree, saved with skops.

    python scripts/make_demo_model.py [MODEL_DIR]      (default: model/)

Deterministic: the same library versions write the same tree. Iris ships with scikit-learn, so
nothing is downloaded.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import skops.io
from sklearn.datasets import load_iris
from sklearn.tree import DecisionTreeClassifier

ARTIFACT_NAME = "decision-tree-model.skops"


def main(model_dir: Path) -> Path:
    iris = load_iris()
    labels = np.asarray(iris.target_names)[iris.target]
    tree = DecisionTreeClassifier(random_state=0).fit(iris.data, labels)
    model_dir.mkdir(parents=True, exist_ok=True)
    path = model_dir / ARTIFACT_NAME
    skops.io.dump(tree, path)
    return path


if __name__ == "__main__":
    print(main(Path(sys.argv[1] if len(sys.argv) > 1 else "model")))
