"""Multi-host training jobs on one machine: one `/opt/ml` tree per host and `./train` run on each
at once, the hosts named 127.0.0.1, 127.0.0.2, ... (all of 127/8 is this machine's loopback), so
the processes form a real XGBoost collective. Each job gets its own tracker ports and short
timeouts, so a test that goes wrong fails in seconds instead of hanging.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.helpers.harness import REPO
from tests.helpers.training_jobs import OptMl

TIMEOUT_SECONDS = 60  # each wait of the start-up (BYOM_TRACKER_TIMEOUT); the test's own bound is 5x
Channels = Mapping[str, Sequence[str]]  # a channel name to the texts of its files


@dataclass(frozen=True)
class Cluster:
    jobs: dict[str, OptMl]  # by host name, in rank order
    port: int
    model: Path | None = None  # one model directory for every host, as in SDK local mode

    @property
    def hosts(self) -> list[str]:
        return list(self.jobs)


def loopback_hosts(count: int) -> list[str]:
    return [f"127.0.0.{number}" for number in range(1, count + 1)]


def create(
    base: Path,
    hyperparameters: Mapping[str, str],
    shares: Sequence[Channels],
    distribution: Mapping[str, str],
    shared_model: bool = False,
) -> Cluster:
    """A host per entry of `shares`, each with its own channels; `distribution` maps a channel to
    its S3DistributionType in every host's inputdataconfig.json."""
    hosts = loopback_hosts(len(shares))
    jobs = {}
    for host, channels in zip(hosts, shares, strict=True):
        job = OptMl.create(base / host, hyperparameters, channels)
        config = job.base / "input" / "config"
        (config / "resourceconfig.json").write_text(
            json.dumps({"current_host": host, "hosts": hosts, "network_interface_name": "lo"})
        )
        data_config = {
            name: {"ContentType": "text/csv", "TrainingInputMode": "File", "S3DistributionType": kind}
            for name, kind in distribution.items()
        }
        (config / "inputdataconfig.json").write_text(json.dumps(data_config))
        jobs[host] = job
    return Cluster(jobs, tracker_ports(), base / "shared-model" if shared_model else None)


def tracker_ports() -> int:
    """A port P with P + 1 free too: the tracker's two rounds."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port < 65535 and _free(port + 1):
            return port


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def run(
    cluster: Cluster, timeout_seconds: int = TIMEOUT_SECONDS
) -> dict[str, subprocess.CompletedProcess[str]]:
    """Starts every host's `./train` at once; their results by host, once all have ended."""
    started = {host: start(cluster, job, timeout_seconds) for host, job in cluster.jobs.items()}
    results = {}
    for host, process in started.items():
        try:
            out, err = process.communicate(timeout=5 * timeout_seconds)
        except subprocess.TimeoutExpired:
            for other in started.values():
                other.kill()
            out, err = process.communicate()
            err += f"\n(killed after {5 * timeout_seconds} s)"
        results[host] = subprocess.CompletedProcess(process.args, process.returncode, out, err)
    return results


def start(
    cluster: Cluster, job: OptMl, timeout_seconds: int, log: Path | None = None
) -> subprocess.Popen[str]:
    """One host's `./train`; its stdout and stderr go to pipes, or both to the file `log`."""
    env = {**os.environ, "SAGEMAKER_BASE_DIR": str(job.base), "BYOM_TRACKER_PORT": str(cluster.port)}
    env |= {"BYOM_TRACKER_TIMEOUT": str(timeout_seconds)}
    env.pop("SM_MODEL_DIR", None)
    if cluster.model is not None:
        env["SM_MODEL_DIR"] = str(cluster.model)
    command = [str(REPO / "train")]
    if log is None:
        return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with log.open("w") as sink:
        return subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT, text=True)


def report(results: Mapping[str, subprocess.CompletedProcess[str]]) -> str:
    """Every host's exit code and output, for an assertion's message."""
    return "\n".join(
        f"--- {host}: exit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        for host, result in results.items()
    )
