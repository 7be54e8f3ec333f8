"""Trains on the image through the SageMaker Python SDK v2's local mode on two instances:
`Estimator(image_uri=IMAGE, instance_count=2, instance_type="local").fit(...)` on file:// channels,
then unpacks the model.tar.gz the SDK made. tests/test_image_multi_host.py runs it with
.venv-sdk/bin/python, so it imports only the standard library, the SDK, and the socket audit hook
and LocalSession of its sibling sdk_local_mode.py (this directory is on sys.path when it runs as a script).

    sdk_local_training.py IMAGE TRAIN_DIR VALIDATION_DIR OUTPUT_DIR LABEL CONTAINER_ROOT RESULT_JSON

Local mode runs both hosts (`algo-1-xxxxx`, `algo-2-xxxxx`) on a compose network, gives each the
channels whole (FullyReplicated) and mounts one /opt/ml/model directory in both.
"""

from __future__ import annotations

import json
import os
import sys
import tarfile
import time
from typing import Any

from sdk_local_mode import REFUSED, local_session, refuse_remote_connections

HYPERPARAMETERS = {"objective": "binary:logistic", "num_round": "20", "max_depth": "3", "eval_metric": "auc"}


def main(
    image: str, train: str, validation: str, output: str, label: str, root: str, result_path: str
) -> int:
    sys.addaudithook(refuse_remote_connections)

    from sagemaker.estimator import Estimator

    session = local_session()
    session.config = {"local": {"container_root": root, "container_config": {"labels": {"byom.test": label}}}}
    estimator = Estimator(
        image_uri=image,
        role="arn:aws:iam::123456789012:role/SageMakerRole",
        instance_count=2,
        instance_type="local",
        sagemaker_session=session,
        hyperparameters=HYPERPARAMETERS,
        output_path=f"file://{output}",
        environment={"BYOM_TRACKER_TIMEOUT": "120"},
    )
    result: dict[str, Any] = {}
    started = time.monotonic()
    try:
        estimator.fit({"train": f"file://{train}", "validation": f"file://{validation}"})
        result["fit_s"] = round(time.monotonic() - started, 1)
        archive = estimator.model_data.removeprefix("file://")
        unpacked = os.path.join(output, "unpacked")
        with tarfile.open(archive) as tar:
            tar.extractall(unpacked, filter="data")
        result["model_files"] = sorted(os.listdir(unpacked))
        with open(os.path.join(unpacked, "manifest.json")) as f:
            result["manifest"] = json.load(f)
    finally:
        result["refused"] = REFUSED
        with open(result_path, "w") as f:
            json.dump(result, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:8]))
