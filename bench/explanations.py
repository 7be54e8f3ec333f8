"""What the `contributions` output costs, against plain prediction, as the server's flavours run it.

Owns: the explanation benchmark: the 200-tree XGBoost model of the main benchmark (XGBoost's own
TreeSHAP, one model thread) and a 100-tree scikit-learn random forest (this project's TreeSHAP,
container/tree_shap.py), each timed for 1 row and for 1,000 rows, contributions and plain
prediction in the same process, median of repeated runs. Not a timed test: it writes
bench/results/explanations.md (`.venv/bin/python bench/explanations.py`).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import skops.io
from load import CHECKOUT
from models import N_FEATURES, feature_rows, served_model, xgboost_model
from sklearn.ensemble import RandomForestClassifier

RESULTS = Path(__file__).resolve().parent / "results" / "explanations.md"
COMMAND = ".venv/bin/python bench/explanations.py"


def median_seconds(work: Callable[[], Any], budget: float) -> float:
    """The median time of `work`, run until `budget` seconds are spent (at least 5 times)."""
    times: list[float] = []
    spent_until = time.perf_counter() + budget
    while len(times) < 5 or time.perf_counter() < spent_until:
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def forest_model(work: Path) -> Any:
    """100 trees of depth up to 10 on the XGBoost model's 30 synthetic features, served from skops."""
    if str(CHECKOUT) not in sys.path:
        sys.path.insert(0, str(CHECKOUT))
    from container.flavours.estimator import load_skops

    rng = np.random.default_rng(0)
    features = rng.normal(size=(10_000, N_FEATURES))
    labels = (features[:, 0] + 0.5 * features[:, 1] * features[:, 2] > 0).astype(int)
    forest = RandomForestClassifier(n_estimators=100, max_depth=10, random_state=0).fit(features, labels)
    path = work / "forest.skops"
    skops.io.dump(forest, path)
    leaves = sum(tree.tree_.n_leaves for tree in forest.estimators_)
    return load_skops(path, ()), leaves


def measure(model: Any, plain: Callable[[np.ndarray], Any], budget: float) -> list[tuple[int, float, float]]:
    found = []
    for n_rows in (1, 1000):
        rows = feature_rows(n_rows, seed=1)
        model.contributions(rows)  # the first call builds the explainer
        explained = median_seconds(lambda: model.contributions(rows), budget)  # noqa: B023
        predicted = median_seconds(lambda: plain(rows), budget)  # noqa: B023
        found.append((n_rows, explained, predicted))
    return found


def report(results: dict[str, list[tuple[int, float, float]]], notes: dict[str, str]) -> str:
    lines = [
        "# Explanations: what `contributions` costs",
        "",
        f"Produced by `{COMMAND}` (in one process, one model thread; median of repeated runs).",
        "Time per request in the model, without HTTP; the ratio is contributions / plain prediction.",
        "",
        "| Model | Rows | Contributions | Plain prediction | Ratio | Per row-tree |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, rows in results.items():
        trees = 200 if name.startswith("XGBoost") else 100
        for n_rows, explained, predicted in rows:
            lines.append(
                f"| {name} | {n_rows:,} | {explained * 1e3:.3f} ms | {predicted * 1e3:.3f} ms | "
                f"{explained / predicted:.1f}x | {explained / (n_rows * trees) * 1e6:.2f} us |"
            )
    lines += ["", *(f"- {name}: {note}" for name, note in notes.items()), ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--budget", type=float, default=2.0, help="seconds spent per measurement")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        booster = served_model(xgboost_model(work).path)
        forest, leaves = forest_model(work)
        results = {
            "XGBoost, 200 trees (bench/models.py xgboost_model)": measure(
                booster, booster.native, args.budget
            ),
            "random forest, 100 trees": measure(forest, forest.probabilities, args.budget),
        }
    notes = {
        "XGBoost": "`Booster.predict(DMatrix, pred_contribs=True)`; plain prediction is the server's "
        "own path (the C tree walk for dense rows)",
        "random forest": f"RandomForestClassifier(n_estimators=100, max_depth=10) on 10,000 rows of "
        f"{N_FEATURES} features ({leaves:,} leaves); contributions are container/tree_shap.py (its C kernel, tree_shap.c), "
        "plain prediction is predict_proba",
    }
    text = report(results, notes)
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
