"""Every artifact format loads and answers exactly what its framework answers; discovery rules."""

from __future__ import annotations

import operator
from pathlib import Path

import numpy as np
import pytest

from container.errors import ModelLoadError
from container.flavours import find_artifact, load_model
from container.flavours.estimator import load_skops
from container.outputs import predict
from container.settings import Settings
from tests.helpers.models import CASES, ModelCase, plant_pickle_canary


@pytest.fixture(params=sorted(CASES), scope="module")
def case(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> ModelCase:
    return CASES[request.param](tmp_path_factory.mktemp(request.param))


def load(case: ModelCase):  # type: ignore[no-untyped-def]
    return load_model(Settings(model_dir=case.directory, allow_pickle=case.needs_pickle))


def test_native_output_equals_the_framework(case: ModelCase) -> None:
    got = load(case).native(case.rows)
    if got.dtype.kind == "f":
        np.testing.assert_array_equal(got.astype(np.float32), np.asarray(case.native).astype(np.float32))
    else:
        np.testing.assert_array_equal(got, case.native)


def test_probabilities_equal_the_framework(case: ModelCase) -> None:
    model = load(case)
    if case.probabilities is None:
        assert "probabilities" not in model.outputs
        return
    np.testing.assert_allclose(model.probabilities(case.rows), case.probabilities, rtol=1e-6, atol=1e-7)


def test_predicted_label_is_an_original_class(case: ModelCase) -> None:
    model = load(case)
    if model.schema.task == "regression":
        assert model.outputs - {"contributions"} == frozenset({"predicted_score"})
        return
    labels = model.labels(case.rows)
    assert set(labels.tolist()) <= set(model.schema.classes)
    if case.probabilities is not None:
        classes = np.asarray(model.schema.classes)
        np.testing.assert_array_equal(labels, classes[case.probabilities.argmax(axis=1)])


def test_every_offered_output_has_one_value_per_row(case: ModelCase) -> None:
    model = load(case)
    prediction = predict(model, case.rows[:7], tuple(sorted(model.outputs)))
    for key, values in prediction.columns:
        assert values.shape[0] == 7, key


def test_feature_count_is_known(case: ModelCase) -> None:
    assert load(case).schema.n_features == case.rows.shape[1]


def test_models_are_limited_to_one_thread(tmp_path: Path) -> None:
    case = CASES["sklearn-random-forest"](tmp_path)
    assert load(case).estimator.n_jobs == 1  # type: ignore[attr-defined]


def test_string_labels_survive_the_round_trip(tmp_path: Path) -> None:
    model = load(CASES["sklearn-decision-tree"](tmp_path))
    assert model.schema.classes == ("setosa", "versicolor", "virginica")


def test_pickle_refused_without_opt_in_and_names_the_variable(tmp_path: Path) -> None:
    CASES["pickle-decision-tree"](tmp_path)
    with pytest.raises(ModelLoadError, match="BYOM_ALLOW_PICKLE=true"):
        load_model(Settings(model_dir=tmp_path))


def test_pickle_canary_does_not_run_by_default(tmp_path: Path) -> None:
    model_dir, marker = tmp_path / "model", tmp_path / "ran"
    plant_pickle_canary(model_dir, marker)
    with pytest.raises(ModelLoadError):
        load_model(Settings(model_dir=model_dir))
    assert not marker.exists()


def test_pickle_canary_runs_with_the_opt_in(tmp_path: Path) -> None:
    """The canary is live: with BYOM_ALLOW_PICKLE=true loading runs it (then finds no model)."""
    model_dir, marker = tmp_path / "model", tmp_path / "ran"
    plant_pickle_canary(model_dir, marker)
    with pytest.raises(ModelLoadError, match="holds a int, which has no predict"):
        load_model(Settings(model_dir=model_dir, allow_pickle=True))
    assert marker.read_text() == "code from the pickle ran"


class SetstateCanary:
    """Rebuilding this object from a skops file writes a file: proof that its code ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __setstate__(self, state: dict[str, str]) -> None:
        Path(state["marker"]).write_text("code from the skops file ran")
        self.__dict__.update(state)


def test_skops_canary_of_an_untrusted_type_does_not_run(tmp_path: Path) -> None:
    import skops.io

    model_dir, marker = tmp_path / "model", tmp_path / "ran"
    model_dir.mkdir()
    skops.io.dump(SetstateCanary(str(marker)), model_dir / "model.skops")
    with pytest.raises(ModelLoadError, match=r"not trusted: tests\.test_flavours\.SetstateCanary"):
        load_model(Settings(model_dir=model_dir))
    assert not marker.exists()
    trusting = Settings(model_dir=model_dir, skops_trusted_types=("tests.test_flavours.SetstateCanary",))
    with pytest.raises(ModelLoadError, match="has no predict"):
        load_model(trusting)
    assert marker.exists()  # the canary is live: trusting its type runs it


def test_no_model_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ModelLoadError, match=r"no model file in .*expected one of: xgboost-model, \*\.json"):
        find_artifact(tmp_path)


def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        find_artifact(tmp_path / "absent")


def test_several_candidates_are_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text("{}")
    (tmp_path / "b.skops").write_text("")
    with pytest.raises(ModelLoadError, match=r"several model files .*a\.json, b\.skops"):
        find_artifact(tmp_path)


def test_dotfiles_manifest_and_folders_are_ignored(tmp_path: Path) -> None:
    CASES["sklearn-decision-tree"](tmp_path)
    (tmp_path / "._model.skops").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    (tmp_path / "manifest.json").write_text("{}")
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "inference.json").write_text("{}")
    assert find_artifact(tmp_path).path.name == "model.skops"


@pytest.mark.parametrize(
    ("filename", "content", "reason"),
    [
        ("model.json", b'{"not": "a model"}', "not an XGBoost model"),
        ("xgboost-model", b"\x00garbage", "not an XGBoost model"),
        ("model.skops", b"not a zip", "not a skops file"),
    ],
)
def test_unreadable_artifacts_are_load_errors(
    tmp_path: Path, filename: str, content: bytes, reason: str
) -> None:
    (tmp_path / filename).write_bytes(content)
    with pytest.raises(ModelLoadError, match=reason) as raised:
        load_model(Settings(model_dir=tmp_path))
    assert "\n" not in raised.value.message and "[bt]" not in raised.value.message  # no native trace


def test_skops_with_an_untrusted_type_is_refused(tmp_path: Path) -> None:
    import skops.io
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer
    from sklearn.tree import DecisionTreeRegressor

    model = make_pipeline(FunctionTransformer(func=operator.neg), DecisionTreeRegressor())
    skops.io.dump(model.fit(np.ones((3, 2)), [1, 2, 3]), tmp_path / "model.skops")
    with pytest.raises(
        ModelLoadError, match=r"not trusted: _operator\.neg; list them in BYOM_SKOPS_TRUSTED_TYPES"
    ):
        load_model(Settings(model_dir=tmp_path))
    trusting = Settings(model_dir=tmp_path, skops_trusted_types=("_operator.neg",))
    assert load_model(trusting).native(np.ones((1, 2))).shape == (1,)


SKOPS_IMPORTED_OUR_WAY = """
import json, sys
import sklearn.utils
from pathlib import Path
from container.errors import ModelLoadError
from container.flavours.estimator import import_skops_io, load_skops

skops_io = import_skops_io()
outcomes = {}
for path in sys.argv[1:]:
    try:
        outcomes[path] = load_skops(Path(path), ()).native(json.loads(Path(path + ".rows").read_text())).tolist()
    except ModelLoadError as error:
        outcomes[path] = str(error)
print(json.dumps({
    "default_estimators": len(sys.modules["skops.io._trusted_types"].SKLEARN_ESTIMATOR_TYPE_NAMES),
    "all_estimators_restored": sklearn.utils.all_estimators.__module__ == "sklearn.utils.discovery",
    "outcomes": outcomes,
}))
"""


def test_skops_imported_without_its_estimator_list_trusts_and_refuses_the_same(tmp_path: Path) -> None:
    """The server imports skops without its default list of scikit-learn estimators (cold start):
    in a fresh interpreter, every file loads or is refused exactly as with skops' own list here."""
    import json
    import subprocess
    import sys

    import skops.io
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer
    from sklearn.tree import DecisionTreeRegressor

    files = {}
    for name in ("sklearn-decision-tree", "sklearn-pipeline", "sklearn-gradient-boosting"):
        (tmp_path / name).mkdir()
        case = CASES[name](tmp_path / name)
        files[case.directory / "model.skops"] = case.rows[:5]
    untrusted = make_pipeline(FunctionTransformer(func=operator.neg), DecisionTreeRegressor())
    skops.io.dump(untrusted.fit(np.ones((3, 2)), [1, 2, 3]), tmp_path / "untrusted.skops")
    files[tmp_path / "untrusted.skops"] = np.ones((2, 2))
    here: dict[str, object] = {}
    for path, rows in files.items():
        Path(f"{path}.rows").write_text(json.dumps(rows.tolist()))
        try:
            here[str(path)] = load_skops(path, ()).native(rows).tolist()
        except ModelLoadError as error:
            here[str(path)] = str(error)
    fresh = subprocess.run(
        [sys.executable, "-c", SKOPS_IMPORTED_OUR_WAY, *map(str, files)],
        capture_output=True, text=True, check=True, cwd=Path(__file__).parents[1],
    )  # fmt: skip
    report = json.loads(fresh.stdout)
    assert report["default_estimators"] == 0, "skops imported its estimator list: cold start regressed"
    assert report["all_estimators_restored"]
    assert report["outcomes"] == here
    assert "not trusted: _operator.neg" in str(here[str(tmp_path / "untrusted.skops")])


def test_a_model_without_missing_value_support_refuses_nan_with_422(tmp_path: Path) -> None:
    from werkzeug.test import Client

    from container.app import create_app

    CASES["sklearn-pipeline"](tmp_path)
    client = Client(create_app(Settings(model_dir=tmp_path)))
    reply = client.post("/invocations", data=b"5.1,3.5,,0.2", content_type="text/csv")
    assert reply.status_code == 422
    assert reply.json == {
        "error": "invalid_data",
        "message": "this model does not accept missing values (empty field or null)",
    }


def test_the_tree_fast_path_matches_scikit_learn_on_missing_values_and_thresholds(tmp_path: Path) -> None:
    """Single trees skip scikit-learn's input check; the answers must stay exactly its own."""
    import skops.io
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(3)
    features = rng.normal(size=(300, 4))
    features[rng.random(features.shape) < 0.1] = np.nan
    labels = (np.nan_to_num(features[:, 0]) + np.nan_to_num(features[:, 1]) > 0).astype(int)
    tree = DecisionTreeClassifier(random_state=0).fit(features, labels)
    skops.io.dump(tree, tmp_path / "model.skops")
    thresholds = tree.tree_.threshold[tree.tree_.feature >= 0].astype(np.float64)
    on_thresholds = np.tile(thresholds[:, None], (1, 4))  # every value sits exactly on a split
    rows = np.vstack([features, on_thresholds, np.nextafter(on_thresholds, np.inf)])
    model = load_model(Settings(model_dir=tmp_path))
    np.testing.assert_array_equal(model.native(rows), tree.predict(rows))
    np.testing.assert_array_equal(model.probabilities(rows), tree.predict_proba(rows))
