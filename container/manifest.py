"""The model manifest: what training knew about a model, written beside the artifact as
`manifest.json`, and the checks serving makes against it before it says ready.

Owns: the manifest's fields and file format, the artifact checksum, and the golden rows: a few
training rows with the outputs the model gave at training time. Serving refuses an artifact whose
checksum differs (it changed since training) and a model that no longer reproduces its golden
outputs (library version skew). A model without a manifest still serves.
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from container.errors import ModelLoadError, UnsupportedOutput
from container.flavours import MANIFEST_NAME
from container.outputs import Predictor, predict

FORMAT_VERSION = 1
GOLDEN_ROWS = 5
LIBRARIES = ("numpy", "scipy", "scikit-learn", "skops", "xgboost-cpu")
# Golden floats must agree this closely; beyond it the libraries compute a different model.
RELATIVE_TOLERANCE, ABSOLUTE_TOLERANCE = 1e-5, 1e-6


@dataclass(frozen=True)
class Manifest:
    artifact: str
    sha256: str
    algorithm: str
    task: str
    n_features: int
    classes: list[Any] | None
    objective: str | None
    feature_names: list[str] | None
    hyperparameters: dict[str, str]
    metrics: dict[str, float]
    golden_rows: list[list[float | None]]
    golden_outputs: dict[str, list[Any]]
    library_versions: dict[str, str] = field(default_factory=dict)
    interrupted: bool = False
    format_version: int = FORMAT_VERSION


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def golden_record(
    model: Predictor, rows: np.ndarray
) -> tuple[list[list[float | None]], dict[str, list[Any]]]:
    """The first rows and what the model answers for them, in JSON-ready form."""
    sample = np.asarray(rows[:GOLDEN_ROWS], dtype=np.float64)
    keys = _golden_keys(model)
    answer = predict(model, sample, keys)
    outputs = {key: np.asarray(values).tolist() for key, values in answer.columns}
    return [[None if math.isnan(v) else v for v in row] for row in sample.tolist()], outputs


def write(manifest: Manifest, directory: Path) -> Path:
    path = directory / MANIFEST_NAME
    path.write_text(json.dumps(asdict(manifest), indent=2, sort_keys=True) + "\n")
    return path


def read(directory: Path) -> Manifest | None:
    path = directory / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        fields = json.loads(path.read_text())
        if not isinstance(fields, dict):
            raise TypeError(f"it holds a JSON {type(fields).__name__}, not an object")
        if fields.get("format_version") != FORMAT_VERSION:
            raise ModelLoadError(f"{MANIFEST_NAME} has format_version {fields.get('format_version')!r}")
        manifest = Manifest(**fields)
        _check_fields(manifest)
    except (ValueError, TypeError) as error:
        raise ModelLoadError(f"{MANIFEST_NAME} is not a manifest this server can read: {error}") from None
    return manifest


# What each field must hold for serving to use it: a file is untrusted input, and a golden row of
# the wrong width or a string where a number goes would otherwise fail deep in a flavour.
FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "artifact": str,
    "sha256": str,
    "algorithm": str,
    "task": str,
    "n_features": int,
    "classes": (list, type(None)),
    "objective": (str, type(None)),
    "feature_names": (list, type(None)),
    "hyperparameters": dict,
    "metrics": dict,
    "golden_rows": list,
    "golden_outputs": dict,
    "library_versions": dict,
    "interrupted": bool,
}
MAX_GOLDEN_VALUES = 1 << 20


def _check_fields(manifest: Manifest) -> None:
    """TypeError or ValueError (one line) for a field that serving could not use as it is."""
    for name, kind in FIELD_TYPES.items():
        value = getattr(manifest, name)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise TypeError(f"{name} is a {type(value).__name__}")
    if not 0 < manifest.n_features <= MAX_GOLDEN_VALUES:
        raise ValueError(f"n_features is {manifest.n_features}")
    rows = manifest.golden_rows
    if len(rows) > GOLDEN_ROWS or not all(_is_row(row, manifest.n_features) for row in rows):
        raise ValueError(
            f"golden_rows must be up to {GOLDEN_ROWS} rows of {manifest.n_features} numbers or nulls"
        )
    for key, values in manifest.golden_outputs.items():
        if not isinstance(values, list) or len(values) != len(rows):
            raise ValueError(f"golden_outputs[{key!r}] is not one value per golden row")


def _is_row(row: Any, width: int) -> bool:
    return (
        isinstance(row, list)
        and len(row) == width
        and all(v is None or (isinstance(v, int | float) and not isinstance(v, bool)) for v in row)
    )


def verify_artifact(manifest: Manifest, artifact: Path) -> None:
    if artifact.name != manifest.artifact:
        raise ModelLoadError(
            f"{MANIFEST_NAME} describes {manifest.artifact}, but the model file is {artifact.name}"
        )
    if file_sha256(artifact) != manifest.sha256:
        raise ModelLoadError(
            f"{artifact.name} does not match the sha256 in {MANIFEST_NAME}: it changed after training"
        )


def verify_model(manifest: Manifest, model: Predictor) -> None:
    if model.schema.n_features not in (None, manifest.n_features):
        raise ModelLoadError(
            f"the model takes {model.schema.n_features} features, its manifest says {manifest.n_features}"
        )
    rows = np.array(
        [[np.nan if v is None else v for v in row] for row in manifest.golden_rows], dtype=np.float64
    )
    try:
        answer = dict(predict(model, rows, tuple(manifest.golden_outputs)).columns)
    except UnsupportedOutput as error:  # a golden output the model has no such key for
        raise ModelLoadError(f"{MANIFEST_NAME}'s golden_outputs: {error.message}") from None
    for key, expected in manifest.golden_outputs.items():
        if not _same(answer[key], expected):
            raise ModelLoadError(
                f"the model no longer reproduces its training-time {key} on the golden rows "
                f"(trained with {_versions(manifest.library_versions)}; serving with {_versions(library_versions())})"
            )


def _golden_keys(model: Predictor) -> tuple[str, ...]:
    if model.schema.task == "regression":
        return ("predicted_score",)
    return ("predicted_label", "probabilities") if "probabilities" in model.outputs else ("predicted_label",)


def _same(got: np.ndarray, expected: list[Any]) -> bool:
    wanted = np.asarray(expected)
    if got.shape != wanted.shape:
        return False
    if got.dtype.kind in "fc" or wanted.dtype.kind in "fc":
        return bool(np.allclose(got, wanted, rtol=RELATIVE_TOLERANCE, atol=ABSOLUTE_TOLERANCE))
    return bool(got.tolist() == wanted.tolist())


def _versions(versions: dict[str, str]) -> str:
    return ", ".join(f"{name} {version}" for name, version in sorted(versions.items()) if name != "python")
