"""Which file in the model directory is the model, and which flavour loads it.

Owns: the registry of flavours (FLAVOURS: one entry each, naming its files, the module that
serves it, whether the master may load it before fork, and its loader) and the rules of
discovery: top-level files only, dotfiles ignored (macOS `._` entries in tarballs),
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

Loader = Callable[[Path, Settings, "Manifest | None"], "Predictor"]
_preloaded: dict[Path, Predictor] = {}  # filled by preload() in the gunicorn master only


@dataclass(frozen=True)
class Flavour:
    """One way of serving a model file. Adding a flavour is its loader plus one entry in FLAVOURS."""

    name: str
    file_names: tuple[str, ...]  # exact names, matched before suffixes
    suffixes: tuple[str, ...]
    module: str  # the module that serves it and imports its library: imported before fork
    preload: bool  # deserialising starts no threads, so the master loads it and workers share it
    load: Loader  # imports its library lazily: the master must not import XGBoost before fork


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
        return FLAVOURS[self.flavour].module


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
        known = ", ".join(
            [name for flavour in FLAVOURS.values() for name in flavour.file_names]
            + [f"*{suffix}" for flavour in FLAVOURS.values() for suffix in flavour.suffixes]
        )
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
    if FLAVOURS[artifact.flavour].preload and artifact.path not in _preloaded:  # `serve` and the hook
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
    return FLAVOURS[artifact.flavour].load(artifact.path, settings, recorded)


def flavour_of(path: Path) -> str | None:
    """The flavour that serves this file, or None when it is not a model file."""
    if path.name.startswith(".") or path.name == MANIFEST_NAME or not path.is_file():
        return None
    by_name = [flavour.name for flavour in FLAVOURS.values() if path.name in flavour.file_names]
    by_suffix = [flavour.name for flavour in FLAVOURS.values() if path.suffix.lower() in flavour.suffixes]
    return (by_name + by_suffix + [None])[0]


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


# XGBoost is not preloaded: its OpenMP pool must not exist in the master (forked workers would
# hang on it).
FLAVOURS = {
    flavour.name: flavour
    for flavour in [
        Flavour("xgboost", ("xgboost-model",), (".json", ".ubj", ".bst"), "container.flavours.booster", False, _load_xgboost),
        Flavour("sklearn", (), (".skops",), "container.flavours.estimator", True, _load_sklearn),
        Flavour("pickle", (), (".pkl", ".pickle", ".joblib"), "container.flavours.pickled", False, _load_pickle),
    ]
}  # fmt: skip
