"""`export-tree`: write the export of a scikit-learn decision tree that was not trained by `train`.

Owns: the command's checks and messages. It finds the model file in SM_MODEL_DIR as `serve` does,
loads it as `serve` would (skops, with BYOM_SKOPS_TRUSTED_TYPES), and writes its
`<artifact>.tree.npz` beside it (exported_tree), which `serve` then uses instead of importing
scikit-learn. Anything it cannot export ends it with status 1 and a one-line reason.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from container.errors import StartupError
from container.flavours import check_artifact
from container.flavours.estimator import load_skops
from container.flavours.exported_tree import ExportRejected, write_export
from container.settings import Settings

ONLY_TREES = "only single-output scikit-learn decision trees are exported"


def main(args: list[str]) -> None:
    if args:
        sys.exit("usage: export-tree  (exports the tree in SM_MODEL_DIR, by default /opt/ml/model)")
    try:
        written = export_tree(Settings.from_env(os.environ))
    except (StartupError, ExportRejected, OSError) as error:
        sys.exit(f"byom: cannot export: {error}")
    print(f"byom: wrote {written}", flush=True)


def export_tree(settings: Settings) -> Path:
    artifact = check_artifact(settings)
    if artifact.flavour != "sklearn":
        raise ExportRejected(f"{artifact.path.name} is not a skops file; {ONLY_TREES}")
    model = load_skops(artifact.path, settings.skops_trusted_types)
    written = write_export(model.estimator, model.schema, artifact.path)
    if written is None:
        raise ExportRejected(f"{artifact.path.name} holds a {type(model.estimator).__name__}; {ONLY_TREES}")
    return written


if __name__ == "__main__":
    main(sys.argv[1:])
