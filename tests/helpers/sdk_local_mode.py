"""Deploys a scikit-learn model with an inference.py to the image through the SageMaker Python SDK
v2's local mode, predicts two rows, deletes the endpoint. tests/test_sdk_local_mode.py runs it with
.venv-sdk/bin/python (the SDK's pins conflict with the dev venv's), so it imports nothing from the
project: only the standard library and the SDK.

    sdk_local_mode.py IMAGE MODEL_TAR_GZ SOURCE_DIR PORT LABEL CONTAINER_ROOT RESULT_JSON

The SDK is used as its documentation shows, with one argument more, `code_location`: with
`local_code` the SDK uploads no code, but without a bucket named it still asks for its default one
(`Session.default_bucket()`: STS GetCallerIdentity, then S3), so a deploy without an AWS account
fails with NoCredentialsError. The bucket it names is never contacted. And with three settings of
its own configuration: `local_code` (the code stays on this machine: no S3 upload, source_dir
mounted at /opt/ml/code), `serving_port` (a free port instead of 8080, published on 127.0.0.1 only:
see LoopbackPort) and `container_config` (a label, so the test removes the container even when this
process is killed); and TelemetryOptOut, without which each deploy and predict looks up the account
ID (STS) and GETs an S3 object. A socket audit hook refuses, and reports, any connection other than
to this machine, so the test fails if the SDK reaches for AWS.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import time
from typing import Any

UNUSED_BUCKET = "s3://byom-sdk-local-mode-never-contacted/code"
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
REFUSED: list[str] = []


def refuse_remote_connections(event: str, args: tuple[Any, ...]) -> None:
    """An audit hook: connections to anything but the loopback (or a Unix socket) fail at once."""
    if event == "socket.getaddrinfo":
        host = args[0]
    elif event == "socket.connect":
        address = args[1]
        if not isinstance(address, tuple):
            return  # a Unix socket
        host = address[0]
    else:
        return
    if isinstance(host, bytes):
        host = host.decode()
    if host is None or str(host) in LOCAL_HOSTS:
        return
    REFUSED.append(f"{event} {host}")
    raise ConnectionRefusedError(f"sdk_local_mode: no connection to {host} (nothing may leave this machine)")


class LoopbackPort(int):
    """The serving port. The SDK writes `"%s:8080" % port` into the compose file's `ports` (which
    alone would publish it on every interface) and reads `"http://localhost:%d/" % port`: as a
    string this int is `127.0.0.1:PORT`, so Docker publishes it on the loopback only."""

    def __str__(self) -> str:
        return f"127.0.0.1:{int(self)}"


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60).stdout


def local_session() -> Any:
    """The SDK's LocalSession, telemetry off (else each call looks up the account: STS, S3)."""
    from sagemaker.local import LocalSession

    return LocalSession(
        sagemaker_config={
            "SchemaVersion": "1.0",
            "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}},
        }
    )


def main(
    image: str, model_tar: str, source_dir: str, port: int, label: str, root: str, result_path: str
) -> int:
    sys.addaudithook(refuse_remote_connections)

    import numpy as np
    from sagemaker.deserializers import JSONDeserializer
    from sagemaker.model import Model
    from sagemaker.predictor import Predictor
    from sagemaker.serializers import CSVSerializer

    session = local_session()
    session.config = {
        "local": {
            "local_code": True,
            "serving_port": LoopbackPort(port),
            "container_root": root,
            "container_config": {"labels": {"byom.test": label}},
        }
    }
    model = Model(
        image_uri=image,
        model_data=f"file://{model_tar}",
        role="arn:aws:iam::123456789012:role/SageMakerRole",
        entry_point="inference.py",
        source_dir=source_dir,
        sagemaker_session=session,
        code_location=UNUSED_BUCKET,
        predictor_cls=Predictor,  # without one, Model.deploy returns None
    )
    result: dict[str, Any] = {}
    predictor = None
    started = time.monotonic()
    try:
        predictor = model.deploy(initial_instance_count=1, instance_type="local")
        result["deploy_s"] = round(time.monotonic() - started, 1)
        predictor.serializer = CSVSerializer()
        predictor.deserializer = JSONDeserializer()
        rows = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]])
        result["predictions"] = predictor.predict(rows)
        # What the SDK ran: its compose file and the container as Docker sees it.
        (compose_file,) = glob.glob(os.path.join(root, "*", "docker-compose.yaml"))
        with open(compose_file) as f:
            result["compose_file"] = f.read()
        (container_id,) = docker("ps", "-q", "--filter", f"label=byom.test={label}").split()
        result["container"] = json.loads(docker("inspect", container_id))[0]
    finally:
        # Always: docker-compose runs in a thread that keeps this process (and the container) alive.
        if predictor is not None:
            predictor.delete_endpoint()
        elif model.endpoint_name:  # deploy failed after starting the container
            session.delete_endpoint(model.endpoint_name)
        result["total_s"] = round(time.monotonic() - started, 1)
        result["refused"] = REFUSED
        with open(result_path, "w") as f:
            json.dump(result, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    image, model_tar, source_dir, port, label, root, result_path = sys.argv[1:]
    sys.exit(main(image, model_tar, source_dir, int(port), label, root, result_path))
