"""Which file in the model directory is the model, and which flavour loads it.

Owns: the registry of artifact names (ARTIFACTS, keyed by exact file name or suffix) and the
rules of discovery: top-level files only, dotfiles ignored (macOS `._` entries in tarballs),
`manifest.json` reserved for the training manifest, exactly one candidate or a clear error.
`find_artifact` only looks at names, so `serve` can check a directory before starting gunicorn;
`preload` loads a scikit-learn model in the gunicorn master, and `load_model` completes it in
each worker after fork (loading anything not preloaded). When training left a manifest, the
artifact's checksum is verified before loading and its golden rows are replayed after, so every
worker proves it computes what training computed before /ping says ready. A scikit-learn tree
with an export beside it (`<artifact>.tree.npz`, see exported_tree) is served from the export,
without importing scikit-learn, unless the export fails its proof.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from container.errors import ModelLoadError
from container.settings import Settings

if TYPE_CHECKING:  # not at run time: `serve` imports this module and must stay light (no numpy)
    from container.manifest import Manifest
    from container.outputs import Predictor

MANIFEST_NAME = "manifest.json"
PICKLE_OPT_IN = "BYOM_ALLOW_PICKLE"
EXPORT_SUFFIX = ".tree.npz"
EXPORT_MODULE = "container.flavours.exported_tree"
log = logging.getLogger("byom")

# flavour name by exact file name, then by suffix
ARTIFACT_NAMES = {"xgboost-model": "xgboost"}
ARTIFACT_SUFFIXES = {
    ".json": "xgboost",
    ".ubj": "xgboost",
    ".bst": "xgboost",
    ".skops": "sklearn",
    ".pkl": "pickle",
    ".pickle": "pickle",
    ".joblib": "pickle",
}


# Flavours the master may load before fork: deserialising them starts no threads. XGBoost is not
# one (its OpenMP pool must not exist in the master: forked workers would hang on it).
PRELOADABLE = frozenset({"sklearn"})
_preloaded: dict[Path, Predictor] = {}  # filled by preload() in the gunicorn master only

# The module that serves each flavour (and imports its library).
FLAVOUR_MODULES = {
    "xgboost": "container.flavours.booster",
    "sklearn": "container.flavours.estimator",
    "pickle": "container.flavours.pickled",
}


@dataclass(frozen=True)
class Artifact:
    path: Path
    flavour: str

    @property
    def module(self) -> str:
        """The module that serves it, to import before fork: the export's when one is beside it
        (should the export be refused, the estimator flavour is imported when it loads instead)."""
        if self.flavour == "sklearn" and export_path(self.path).is_file():
            return EXPORT_MODULE
        return FLAVOUR_MODULES[self.flavour]


def export_path(artifact: Path) -> Path:
    """Where training writes a scikit-learn tree's export: beside the artifact (exported_tree)."""
    return artifact.with_name(artifact.name + EXPORT_SUFFIX)


def find_artifact(model_dir: Path) -> Artifact:
    if not model_dir.is_dir():
        raise ModelLoadError(f"model directory {model_dir} does not exist (set SM_MODEL_DIR to change it)")
    candidates = [
        Artifact(path, flavour) for path in sorted(model_dir.iterdir()) if (flavour := flavour_of(path))
    ]
    if not candidates:
        known = ", ".join([*ARTIFACT_NAMES, *(f"*{suffix}" for suffix in ARTIFACT_SUFFIXES)])
        raise ModelLoadError(f"no model file in {model_dir}; expected one of: {known}")
    if len(candidates) > 1:
        names = ", ".join(artifact.path.name for artifact in candidates)
        raise ModelLoadError(f"several model files in {model_dir} ({names}); keep exactly one")
    return candidates[0]


def check_artifact(settings: Settings) -> Artifact:
    """Everything that can be known without loading: used by `serve` before gunicorn starts."""
    artifact = find_artifact(settings.model_dir)
    if artifact.flavour == "pickle" and not settings.allow_pickle:
        raise ModelLoadError(
            f"{artifact.path.name} is a pickle, and loading a pickle runs code stored in it; "
            f"set {PICKLE_OPT_IN}=true only if you trust where it came from, "
            "or save the model with skops or XGBoost's save_model instead"
        )
    return artifact


def preload(settings: Settings) -> None:
    """In the gunicorn master, before fork: load a model whose loading starts no threads, so the
    workers inherit it (its memory shared copy-on-write) instead of each loading its own copy."""
    from container import manifest

    artifact = check_artifact(settings)
    if artifact.flavour in PRELOADABLE:
        _preloaded[artifact.path] = _load_checked(artifact, settings, manifest.read(settings.model_dir))


def load_model(settings: Settings) -> Predictor:
    """The model, ready to serve: loaded (or inherited from the master) and, when training left a
    manifest, proven to reproduce its golden rows in this process."""
    from container import manifest

    artifact = check_artifact(settings)
    recorded = manifest.read(settings.model_dir)
    model = _preloaded.get(artifact.path) or _load_checked(artifact, settings, recorded)
    if recorded is not None:
        manifest.verify_model(recorded, model)
    return model


def _load_checked(artifact: Artifact, settings: Settings, recorded: Manifest | None) -> Predictor:
    """The artifact loaded by its flavour, after its checksum is verified against the manifest."""
    from container import manifest

    if recorded is not None:
        manifest.verify_artifact(recorded, artifact.path)
    return LOADERS[artifact.flavour](artifact.path, settings, recorded)


def flavour_of(path: Path) -> str | None:
    """The flavour that serves this file, or None when it is not a model file."""
    if path.name.startswith(".") or path.name == MANIFEST_NAME or not path.is_file():
        return None
    return ARTIFACT_NAMES.get(path.name) or ARTIFACT_SUFFIXES.get(path.suffix.lower())


def _load_xgboost(path: Path, settings: Settings, recorded: Manifest | None) -> Predictor:
    from container.flavours.booster import load_booster

    classes = tuple(recorded.classes) if recorded is not None and recorded.classes is not None else None
    return load_booster(path, settings.model_threads, classes)


def _load_sklearn(path: Path, settings: Settings, recorded: Manifest | None) -> Predictor:
    export = export_path(path)
    if export.is_file():
        from container.flavours.exported_tree import ExportRejected, load_export

        try:
            tree = load_export(export, path)
        except ExportRejected as reason:
            log.warning("%s is not used, %s; scikit-learn loads %s", export.name, reason, path.name)
        else:
            log.info("%s is served from its export %s, without scikit-learn", path.name, export.name)
            return tree
    from container.flavours.estimator import load_skops

    return load_skops(path, settings.skops_trusted_types)


def _load_pickle(path: Path, settings: Settings, recorded: Manifest | None) -> Predictor:
    from container.flavours.pickled import load_pickle

    return load_pickle(path, settings.model_threads)


# Loaders import their libraries lazily: the gunicorn master must not import xgboost before fork.
LOADERS: dict[str, Callable[[Path, Settings, Manifest | None], Predictor]] = {
    "xgboost": _load_xgboost,
    "sklearn": _load_sklearn,
    "pickle": _load_pickle,
}
