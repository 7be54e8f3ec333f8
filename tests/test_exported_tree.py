"""Decision trees exported at training time: bit for bit scikit-learn's answers, refused when the
export does not belong to its artifact or does not reproduce its probes, and served without
importing scikit-learn."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor, ExtraTreeClassifier

from container.flavours import export_path, find_artifact, load_model
from container.flavours.estimator import EstimatorModel
from container.flavours.exported_tree import (
    SMALL_BATCH,
    ExportedTree,
    ExportRejected,
    load_export,
    write_export,
)
from container.settings import Settings
from tests.helpers.harness import DEMO_MODEL

REPO = Path(__file__).resolve().parents[1]


def training_data(seed: int, missing: bool) -> tuple[np.ndarray, np.ndarray]:
    """Rounded values (so many rows tie on a threshold's neighbours), some missing."""
    rng = np.random.default_rng(seed)
    features = np.round(rng.normal(size=(400, 5)), 1)
    if missing:
        features[rng.random(features.shape) < 0.1] = np.nan
    score = (
        np.nan_to_num(features[:, 0]) + 0.5 * np.nan_to_num(features[:, 1]) - np.nan_to_num(features[:, 2])
    )
    return features, score


ESTIMATORS = {
    "classifier, string classes": lambda f, s: DecisionTreeClassifier(random_state=0).fit(
        f, np.asarray(["low", "mid", "high"])[np.digitize(s, [-0.5, 0.5])]
    ),
    "classifier, integer classes, random splits": lambda f, s: DecisionTreeClassifier(
        splitter="random", random_state=1
    ).fit(f, np.digitize(s, [-1, 0, 1])),
    "classifier, weighted, three deep": lambda f, s: DecisionTreeClassifier(max_depth=3, random_state=2).fit(
        f, s > 0, sample_weight=np.linspace(0.1, 3, len(s))
    ),
    "extra tree classifier": lambda f, s: ExtraTreeClassifier(random_state=3).fit(f, s > 0.3),
    "regressor": lambda f, s: DecisionTreeRegressor(random_state=0).fit(f, s * 1e3 + 1 / 3),
    "regressor, one leaf": lambda f, s: DecisionTreeRegressor().fit(f, np.full(len(s), 2.5)),
}


def saved(directory: Path, estimator: Any) -> tuple[Path, ExportedTree]:
    artifact = directory / "model.skops"
    skops.io.dump(estimator, artifact)
    export = write_export(estimator, EstimatorModel(estimator).schema, artifact)
    assert export == export_path(artifact)
    return artifact, load_export(export, artifact)


def hostile_rows(estimator: Any, features: np.ndarray, accepts_missing: bool) -> np.ndarray:
    """Training rows, and rows whose values sit on each float64 threshold (which float32 rounds
    to either side), one float32 step above it, 1e-12 above it, huge (inf once float32), -0.0 and
    missing."""
    rng = np.random.default_rng(7)
    cuts = estimator.tree_.threshold[estimator.tree_.feature >= 0]
    near = np.concatenate([cuts, np.nextafter(cuts.astype(np.float32), np.float32(np.inf)), cuts + 1e-12])
    extremes = np.array([1e300, -1e300, 3.5e38, -0.0, 0.0, np.nan if accepts_missing else 1.0])
    drawn = rng.choice(np.concatenate([near, extremes]), size=(600, features.shape[1]))
    rows = np.vstack([features, drawn])
    return rows if accepts_missing else np.nan_to_num(rows, nan=0.0)


def same_bits(got: np.ndarray, want: np.ndarray) -> bool:
    return got.dtype == want.dtype and got.shape == want.shape and got.tobytes() == want.tobytes()


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
@pytest.mark.parametrize("missing", [True, False], ids=["trained with missing values", "without"])
def test_every_batch_size_answers_bit_for_bit_what_scikit_learn_answers(
    name: str, missing: bool, tmp_path: Path
) -> None:
    features, score = training_data(seed=len(name), missing=missing)
    estimator = ESTIMATORS[name](features, score)
    _, tree = saved(tmp_path, estimator)
    rows = hostile_rows(estimator, features, tree.schema.accepts_missing)
    with np.errstate(over="ignore"):
        sklearn_rows = rows.astype(np.float32)  # as its input check would, which refuses inf
        want_labels = estimator.predict(sklearn_rows, check_input=False)
        want_probabilities = (
            estimator.predict_proba(sklearn_rows, check_input=False) if tree.schema.classes else None
        )
        for size in (1, 2, SMALL_BATCH, SMALL_BATCH + 1, len(rows)):
            batches = [rows[start : start + size] for start in range(0, len(rows), size)]
            labels = np.concatenate([tree.labels(batch) for batch in batches])
            assert labels.tolist() == want_labels.tolist(), f"labels differ in batches of {size}"
            if want_probabilities is not None:
                probabilities = np.concatenate([tree.probabilities(batch) for batch in batches])
                assert same_bits(probabilities, want_probabilities), (
                    f"probabilities differ in batches of {size}"
                )
            else:
                assert same_bits(labels, want_labels), f"values differ in batches of {size}"


def test_sparse_rows_are_read_as_scikit_learn_reads_them(tmp_path: Path) -> None:
    from scipy.sparse import csr_matrix

    features, score = training_data(seed=4, missing=False)
    estimator = DecisionTreeRegressor(random_state=0).fit(features, score)
    _, tree = saved(tmp_path, estimator)
    rows = csr_matrix(np.where(features > 0.5, features, 0.0))
    assert same_bits(tree.labels(rows), estimator.predict(rows))


def test_what_is_not_a_single_output_tree_is_not_exported(tmp_path: Path) -> None:
    from sklearn.ensemble import RandomForestClassifier

    features, score = training_data(seed=5, missing=False)
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(features, score > 0)
    two_outputs = DecisionTreeRegressor(random_state=0).fit(features, np.column_stack([score, -score]))
    for estimator in (forest, two_outputs):
        skops.io.dump(estimator, tmp_path / "model.skops")
        assert write_export(estimator, EstimatorModel(estimator).schema, tmp_path / "model.skops") is None
    assert not export_path(tmp_path / "model.skops").exists()


@pytest.fixture
def exported_iris(tmp_path: Path) -> tuple[Path, Path]:
    features, score = training_data(seed=6, missing=True)
    estimator = DecisionTreeClassifier(random_state=0).fit(features, score > 0)
    artifact, _ = saved(tmp_path, estimator)
    return artifact, export_path(artifact)


def rewrite(export: Path, **changes: Any) -> None:
    with np.load(export, allow_pickle=False) as stored:
        arrays = {name: stored[name] for name in stored.files}
    arrays.update(changes)
    with export.open("wb") as file:
        np.savez(file, **arrays)


def test_an_export_of_another_artifact_is_refused(exported_iris: tuple[Path, Path]) -> None:
    artifact, export = exported_iris
    artifact.write_bytes(artifact.read_bytes() + b"\0")
    with pytest.raises(ExportRejected, match=r"exported from another model\.skops"):
        load_export(export, artifact)


def test_an_export_whose_walk_differs_on_one_probe_is_refused(exported_iris: tuple[Path, Path]) -> None:
    artifact, export = exported_iris
    with np.load(export) as stored:
        threshold, feature, left, probes = (
            stored["threshold"],
            stored["feature"],
            stored["left"],
            stored["probes"],
        )
    inner = np.flatnonzero(left != np.arange(len(left)))
    node = next(
        n for n in inner if np.isin(np.float32(threshold[n]), probes[:, feature[n]].astype(np.float32))
    )
    nudged = threshold.copy()
    nudged[node] = np.nextafter(np.float32(threshold[node]), np.float32(-np.inf))  # one float32 step lower
    rewrite(export, threshold=nudged)
    with pytest.raises(ExportRejected, match="differs from scikit-learn on its probe rows"):
        load_export(export, artifact)


@pytest.mark.parametrize(
    "damage",
    [
        lambda export: export.write_bytes(export.read_bytes()[:200]),
        lambda export: rewrite(export, values=np.zeros(3)),
        lambda export: rewrite(export, meta=np.frombuffer(b'{"format_version": 1}', dtype=np.uint8)),
        lambda export: rewrite(
            export, left=np.full_like(np.load(export)["left"], len(np.load(export)["left"]))
        ),
        lambda export: rewrite(export, depth=np.asarray(10**12)),
    ],
    ids=[
        "truncated",
        "values of the wrong shape",
        "meta without a checksum",
        "a child beyond the nodes",
        "deeper than its nodes",
    ],
)
def test_a_damaged_export_is_refused(exported_iris: tuple[Path, Path], damage: Any) -> None:
    artifact, export = exported_iris
    damage(export)
    with pytest.raises(ExportRejected, match="cannot be read"):
        load_export(export, artifact)


def test_another_format_version_is_refused(exported_iris: tuple[Path, Path]) -> None:
    artifact, export = exported_iris
    with np.load(export) as stored:
        meta = json.loads(stored["meta"].tobytes())
    rewrite(export, meta=np.frombuffer(json.dumps({**meta, "format_version": 2}).encode(), dtype=np.uint8))
    with pytest.raises(ExportRejected, match="format version 2"):
        load_export(export, artifact)


def test_a_refused_export_falls_back_to_scikit_learn_and_says_why(
    exported_iris: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    artifact, export = exported_iris
    assert find_artifact(artifact.parent).module == "container.flavours.exported_tree"
    assert isinstance(load_model(Settings(model_dir=artifact.parent)), ExportedTree)
    rewrite(export, values=np.zeros(3))
    with caplog.at_level(logging.WARNING, logger="byom"):
        model = load_model(Settings(model_dir=artifact.parent))
    assert isinstance(model, EstimatorModel)
    assert "model.skops.tree.npz is not used, it cannot be read" in caplog.text
    export.unlink()
    assert find_artifact(artifact.parent).module == "container.flavours.estimator"


def test_the_demo_model_is_loaded_without_importing_scikit_learn_scipy_pandas_or_skops() -> None:
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from container.settings import Settings\n"
        "from container.flavours import load_model\n"
        f"model = load_model(Settings(model_dir=Path({str(DEMO_MODEL)!r})))\n"
        "print(type(model).__name__, model.labels([[5.1, 3.5, 1.4, 0.2]]).tolist())\n"
        "print(sorted({'sklearn', 'scipy', 'skops', 'pandas', 'simdjson'} & set(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert done.stdout.splitlines() == ["ExportedTree ['setosa']", "[]"]


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_the_probes_reach_every_leaf_by_its_two_edges(name: str, tmp_path: Path) -> None:
    features, score = training_data(seed=len(name), missing=True)
    estimator = ESTIMATORS[name](features, score)
    artifact, _ = saved(tmp_path, estimator)
    with np.load(export_path(artifact)) as stored:
        probes = stored["probes"]
    leaves = np.flatnonzero(estimator.tree_.children_left == -1)
    reached = estimator.apply(probes[: 2 * len(leaves)].astype(np.float32), check_input=False)
    assert reached[0::2].tolist() == reached[1::2].tolist()  # each pair lands on one leaf
    assert sorted(reached[0::2].tolist()) == leaves.tolist()  # and every leaf has its pair
