"""Write the bundled demo model with `./train`: the AWS sample's iris decision tree.

    python scripts/make_demo_model.py [MODEL_DIR]      (default: model/)

It lays out an /opt/ml tree in a temporary directory (iris with its species names as labels, which
ships with scikit-learn, so nothing is downloaded), runs the real training job on it, and copies
the artifact and its manifest into MODEL_DIR. The same library versions train the same tree.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from sklearn.datasets import load_iris

REPO = Path(__file__).resolve().parents[1]
HYPERPARAMETERS = {"algorithm": "decision_tree", "seed": "0"}


def write_job(base: Path) -> None:
    iris = load_iris()
    species = np.asarray(iris.target_names)[iris.target]
    (base / "input" / "data" / "train").mkdir(parents=True)
    (base / "input" / "config").mkdir(parents=True)
    rows = (f"{label}," + ",".join(map(str, row)) for label, row in zip(species, iris.data, strict=True))
    (base / "input" / "data" / "train" / "iris.csv").write_text("\n".join(rows) + "\n")
    (base / "input" / "config" / "hyperparameters.json").write_text(json.dumps(HYPERPARAMETERS))


def main(model_dir: Path) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch)
        write_job(base)
        env = {**os.environ, "SAGEMAKER_BASE_DIR": str(base)}
        env.pop("SM_MODEL_DIR", None)
        subprocess.run([str(REPO / "train")], env=env, check=True)
        model_dir.mkdir(parents=True, exist_ok=True)
        for stale in model_dir.iterdir():
            stale.unlink()
        for produced in (base / "model").iterdir():
            shutil.copy2(produced, model_dir / produced.name)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else REPO / "model"))
