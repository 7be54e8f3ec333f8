"""The hostile-model corpus: model directories whose files lie about their trees, each written on
the fly from a real model (XGBoost JSON and UBJSON, an exported scikit-learn tree, a manifest).

Each entry of HOSTILE writes one directory and returns the words its one-line refusal must hold.
tests/test_hostile_models.py loads every one as `serve` does; scripts/sanitize runs that test
against the C modules built with AddressSanitizer, so a read outside the arrays is caught even
where it would not crash. Adding a case is one function plus one entry.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import xgboost

from container.flavours import export_path
from container.flavours.booster import load_booster
from container.manifest import MANIFEST_NAME, Manifest, file_sha256, golden_record, library_versions
from tests.helpers.models import exported_tree, synthetic

Tree = dict[str, Any]


def _booster_json() -> dict[str, Any]:
    features, labels = synthetic(n_classes=2)
    params = {"objective": "binary:logistic", "max_depth": 4, "seed": 0}
    booster = xgboost.train(params, xgboost.DMatrix(features, label=labels), 4)
    return json.loads(booster.save_raw("json"))  # type: ignore[no-any-return]


def _biggest_tree(model: dict[str, Any]) -> Tree:
    trees: list[Tree] = model["learner"]["gradient_booster"]["model"]["trees"]
    return max(trees, key=lambda tree: len(tree["left_children"]))


def _inner(tree: Tree) -> list[int]:
    return [node for node, child in enumerate(tree["left_children"]) if child != -1]


def _xgboost(mutate: Callable[[Tree], None], ubjson: bool = False) -> Callable[[Path], None]:
    """A writer of an XGBoost model whose biggest tree `mutate` has changed, as JSON or UBJSON
    (XGBoost converts the JSON: it writes UBJSON of what it loaded)."""

    def write(directory: Path) -> None:
        model = _booster_json()
        mutate(_biggest_tree(model))
        text = json.dumps(model, allow_nan=True)
        if not ubjson:
            (directory / "model.json").write_text(text)
            return
        booster = xgboost.Booster()
        booster.load_model(bytearray(text.encode()))
        booster.save_model(str(directory / "model.ubj"))

    return write


def _child_out_of_range(tree: Tree) -> None:
    tree["left_children"][_inner(tree)[-1]] = 10**6


def _negative_child(tree: Tree) -> None:
    tree["right_children"][_inner(tree)[0]] = -7


def _cycle(tree: Tree) -> None:  # a deep node's child is its own ancestor
    inner = _inner(tree)
    tree["left_children"][inner[-1]] = inner[1]


def _shared_child(tree: Tree) -> None:  # two parents, one child: its subtree is walked twice
    tree["right_children"][0] = tree["left_children"][0]


def _feature_beyond_row(tree: Tree) -> None:
    tree["split_indices"][_inner(tree)[-1]] = 4096


def _nan_threshold(tree: Tree) -> None:
    tree["split_conditions"][_inner(tree)[0]] = float("nan")


def _truncated(tree: Tree) -> None:
    del tree["split_indices"][2:]


def _absurd_size(tree: Tree) -> None:
    tree["tree_param"]["num_nodes"] = str(2**40)


def _export(mutate: Callable[[dict[str, np.ndarray]], None]) -> Callable[[Path], None]:
    """A writer of a scikit-learn tree and its export, whose arrays `mutate` has changed."""

    def write(directory: Path) -> None:
        exported_tree(directory)
        path = export_path(directory / "model.skops")
        with np.load(path, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
        mutate(arrays)
        with path.open("wb") as file:
            np.savez(file, allow_pickle=False, **arrays)

    return write


def _inner_nodes(arrays: dict[str, np.ndarray]) -> np.ndarray:
    return np.flatnonzero(arrays["left"] != np.arange(len(arrays["left"])))


def _export_cycle(arrays: dict[str, np.ndarray]) -> None:
    arrays["left"][_inner_nodes(arrays)[-1]] = 0


def _export_child_out_of_range(arrays: dict[str, np.ndarray]) -> None:
    arrays["right"][_inner_nodes(arrays)[0]] = len(arrays["right"]) + 3


def _export_feature_beyond_row(arrays: dict[str, np.ndarray]) -> None:
    arrays["feature"][_inner_nodes(arrays)[1]] = 99


def _export_nan_threshold(arrays: dict[str, np.ndarray]) -> None:
    arrays["threshold"][_inner_nodes(arrays)[0]] = np.nan


def _export_truncated(arrays: dict[str, np.ndarray]) -> None:
    arrays["threshold"] = arrays["threshold"][:3]


def _export_absurd_depth(arrays: dict[str, np.ndarray]) -> None:
    arrays["depth"] = np.asarray(2**62)


def _manifest(mutate: Callable[[dict[str, Any]], Any]) -> Callable[[Path], None]:
    """A writer of an XGBoost model and its training manifest, whose fields `mutate` has changed."""

    def write(directory: Path) -> None:
        _xgboost(lambda tree: None)(directory)
        artifact = directory / "model.json"
        model = load_booster(artifact, 1)
        rows, outputs = golden_record(model, synthetic(n_classes=2)[0])
        fields = asdict(
            Manifest(
                artifact.name, file_sha256(artifact), "xgboost", "classification", len(rows[0]), [0, 1],
                "binary:logistic", None, {}, {}, rows, outputs, library_versions(),
            )
        )  # fmt: skip
        replacement = mutate(fields)  # a mutation may also return something to write instead
        (directory / MANIFEST_NAME).write_text(json.dumps(fields if replacement is None else replacement))

    return write


def _set(field: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda fields: fields.__setitem__(field, copy.deepcopy(value))


HOSTILE: dict[str, tuple[Callable[[Path], None], str]] = {
    "xgboost json: child out of range": (_xgboost(_child_out_of_range), "child index outside its tree"),
    "xgboost json: negative child": (_xgboost(_negative_child), "child index outside its tree"),
    "xgboost json: cycle": (_xgboost(_cycle), "not each reached once"),
    "xgboost json: shared child": (_xgboost(_shared_child), "not each reached once"),
    "xgboost json: feature beyond the row": (_xgboost(_feature_beyond_row), "split on feature 4096"),
    "xgboost json: NaN threshold": (_xgboost(_nan_threshold), "not a number"),
    "xgboost json: truncated array": (_xgboost(_truncated), "not an XGBoost model XGBoost can read"),
    "xgboost json: absurd node count": (_xgboost(_absurd_size), "not an XGBoost model XGBoost can read"),
    "xgboost ubjson: cycle": (_xgboost(_cycle, ubjson=True), "not each reached once"),
    "xgboost ubjson: child out of range": (_xgboost(_child_out_of_range, ubjson=True), "outside its tree"),
    "xgboost ubjson: feature beyond the row": (_xgboost(_feature_beyond_row, ubjson=True), "split on feature"),
    "export: cycle": (_export(_export_cycle), "not each reached once"),
    "export: child out of range": (_export(_export_child_out_of_range), "entries outside"),
    "export: feature beyond the row": (_export(_export_feature_beyond_row), "entries outside"),
    "export: NaN threshold": (_export(_export_nan_threshold), "not a number"),
    "export: truncated array": (_export(_export_truncated), "do not fit the nodes"),
    "export: absurd depth": (_export(_export_absurd_depth), "depth"),
    "manifest: a list": (_manifest(lambda fields: [fields]), "JSON list"),
    "manifest: golden rows of strings": (_manifest(_set("golden_rows", "abc")), "golden_rows"),
    "manifest: ragged golden rows": (_manifest(_set("golden_rows", [[1.0], [1.0, 2.0]])), "golden_rows"),
    "manifest: absurd n_features": (_manifest(_set("n_features", 10**12)), "n_features"),
    "manifest: n_features a string": (_manifest(_set("n_features", "4")), "n_features is a str"),
    "manifest: unknown golden output": (_manifest(_set("golden_outputs", {"nonsense": [1] * 5})), "nonsense"),
    "manifest: golden outputs too short": (_manifest(_set("golden_outputs", {"predicted_label": [1]})), "one value per golden row"),
}  # fmt: skip
