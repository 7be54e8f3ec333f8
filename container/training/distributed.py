"""Several hosts, one XGBoost job, over XGBoost's own collective (`xgboost.collective`).

Owns: who the hosts are (`resourceconfig.json`, sorted; a host's rank is its index), waiting for
their names to resolve and for the tracker to accept, and the two rounds AWS's XGBoost container
also makes. In the first, on the tracker port of the first host, every host loads its share and
tells the others whether it has train data, how wide it is and any error; a host without data then
leaves (exit 0), and any error fails every host with the same line. In the second, on the next
port of the first host with data, the hosts with data train: a FullyReplicated channel is split by
rank so that each row counts once (data.every_nth, on streamed blocks too), libsvm shares are
widened to the widest, a validation channel must reach every host that trains, the class list is
the union of every host's labels, every host resumes from the first host's checkpoint and stops at
the same round, and the final metrics are combined over the hosts. XGBoost's matrices are built
inside the group, where the hosts' quantile sketches are merged. The first host of that group
writes the model and the checkpoints. One host needs none of it and forms no group.

Must not know: file formats (data.py), how a model is fit or scored (algorithms.py), the files it
writes (job.py).
"""

from __future__ import annotations

import functools
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import xgboost
from xgboost import collective
from xgboost.tracker import RabitTracker

from container.errors import TrainingError
from container.settings import TrackerSettings
from container.training.checkpoints import Checkpoints
from container.training.data import Channels, Dataset, every_nth, has_train_data, load_channels, widened

# Final metrics that are a mean over rows: combined over the hosts by their row counts. rmse goes
# through its square; r2 through its sums; auc's mean over hosts is an approximation (docs).
ROW_MEANS = ("accuracy", "logloss", "mae", "auc")


class NoShare(Exception):
    """This host received no train data; the others train without it (exit 0)."""


@dataclass(frozen=True)
class Cluster:
    hosts: tuple[str, ...]  # sorted: rank is the index
    current: str
    sharded: frozenset[str] = frozenset()  # ShardedByS3Key; the rest every host receives whole

    @classmethod
    def from_config(cls, resources: Any, data_config: Mapping[str, Any]) -> Cluster:
        hosts = resources.get("hosts") if isinstance(resources, dict) else None
        if not isinstance(hosts, list) or len(hosts) < 2:  # one host: nothing to agree on
            return cls(("localhost",), "localhost")
        current = resources.get("current_host")
        if not all(isinstance(host, str) and host for host in hosts) or current not in hosts:
            raise TrainingError(f"resourceconfig.json: current_host {current!r} is not one of hosts {hosts}")
        sharded = frozenset(
            name for name, channel in data_config.items()
            if isinstance(channel, dict) and channel.get("S3DistributionType") == "ShardedByS3Key"
        )  # fmt: skip
        return cls(tuple(sorted(hosts)), current, sharded)


@dataclass(frozen=True)
class Team:
    """The hosts that train together; rank 0 writes the model."""

    hosts: tuple[str, ...] = ("localhost",)
    rank: int = 0
    gather: Callable[[Any], list[Any]] = field(default=lambda value: [value])

    @property
    def writes(self) -> bool:
        return self.rank == 0

    def describe(self) -> str:
        return f"host {self.hosts[self.rank]}, rank {self.rank} of {len(self.hosts)}"


@dataclass(frozen=True)
class Share:
    """What a host tells the others in the first round."""

    host: str
    has_data: bool
    width: int = 0
    has_validation: bool = False
    error: str | None = None


@dataclass(frozen=True)
class Loading:
    """How every host reads its channels (data.load_channels's arguments)."""

    data_dir: Path
    data_config: Mapping[str, Any]
    task: str | None = None
    memory_mb: int | None = None

    def channels(self) -> Channels:
        return load_channels(self.data_dir, self.data_config, task=self.task, memory_mb=self.memory_mb)


@contextmanager
def training_team(
    cluster: Cluster, tracker: TrackerSettings, loading: Loading
) -> Iterator[tuple[Team, Channels]]:
    """The team and this host's channels; XGBoost's matrices are to be built inside it, where
    the hosts' quantile sketches are merged."""
    if len(cluster.hosts) == 1:
        yield Team(), loading.channels()
        return
    _wait_for_names(cluster, tracker.timeout_seconds)
    with _group(cluster.hosts, cluster.current, tracker.port, tracker.timeout_seconds) as everyone:
        share, channels = _load_share(cluster.current, loading)
        shares: list[Share] = everyone.gather(share)
    trainers = _trainers(shares, cluster.current)
    assert channels is not None  # _trainers raised for a host without data
    if len(trainers) == 1:
        yield Team(), channels
        return
    with _group(trainers, cluster.current, tracker.port + 1, tracker.timeout_seconds) as team:
        yield team, _shaped(channels, team, [s for s in shares if s.has_data], cluster.sharded)


def check_algorithm(cluster: Cluster, algorithm: str) -> None:
    if len(cluster.hosts) > 1 and algorithm != "xgboost":
        raise TrainingError(
            f"{algorithm} trains on one instance; the job has {len(cluster.hosts)} "
            f"({', '.join(cluster.hosts)}): use an instance count of 1, or algorithm xgboost"
        )


def shared_checkpoints(team: Team, checkpoints: Checkpoints | None) -> Checkpoints | None:
    """The first host's checkpoints (SageMaker syncs one location): every host resumes from the
    booster the first resumes from, so that all train the same rounds, and only the first writes."""
    if len(team.hosts) == 1:
        return checkpoints
    offer: tuple[int, bytes | None, str | None] = (0, None, None)  # every 0: no checkpoints
    if team.writes and checkpoints is not None:
        try:
            resumed = checkpoints.resume()
            offer = (checkpoints.every, None if resumed is None else bytes(resumed.save_raw("ubj")), None)
        except TrainingError as error:
            offer = (checkpoints.every, None, error.message)
    every, raw, refusal = team.gather(offer)[0]
    if not every:
        return None
    if refusal is not None:
        raise TrainingError(refusal if team.writes else f"host {team.hosts[0]}: {refusal}")
    if team.writes and checkpoints is not None:
        return _TeamCheckpoints(checkpoints.directory, every, checkpoints.fingerprint, raw, writes=True)
    return _TeamCheckpoints(Path(), every, {}, raw, writes=False)


@dataclass(frozen=True)
class _TeamCheckpoints(Checkpoints):
    resumed: bytes | None = None
    writes: bool = False

    def resume(self) -> xgboost.Booster | None:
        return None if self.resumed is None else xgboost.Booster(model_file=bytearray(self.resumed))

    def save(self, booster: xgboost.Booster) -> None:
        if self.writes:
            super().save(booster)


def every_label(team: Team, channels: Channels, classify: bool) -> np.ndarray | None:
    if not classify or len(team.hosts) == 1:
        return None
    everyone = team.gather(np.unique(channels.train.labels))
    return np.unique(np.concatenate(everyone))


def combined_scores(
    team: Team, channels: Channels, evaluate: Callable[[Channels], dict[str, float]], regression: bool
) -> dict[str, float]:
    """The final metrics over every host's rows, as one host with all of them would print them."""
    if len(team.hosts) == 1:
        return evaluate(channels)
    has_validation = channels.validation is not None and channels.validation.shape[0] > 0
    local = evaluate(channels if has_validation else replace(channels, validation=None))
    sums = {"train": _label_sums(channels.train, regression)}
    if has_validation and channels.validation is not None:
        sums["validation"] = _label_sums(channels.validation, regression)
    everyone: list[tuple[dict[str, float], dict[str, tuple[float, ...]]]] = team.gather((local, sums))
    return {name: _combine(name, everyone) for name in local}


def _combine(name: str, everyone: list[tuple[dict[str, float], dict[str, tuple[float, ...]]]]) -> float:
    part, metric = name.split("-", 1)
    held = [(scores, sums[part]) for scores, sums in everyone if name in scores]
    rows = np.array([counts[0] for _, counts in held])
    values = np.array([scores[name] for scores, _ in held])
    if metric in ROW_MEANS:
        return float(values @ rows / rows.sum())
    if metric == "rmse":
        return float(np.sqrt(values**2 @ rows / rows.sum()))
    if metric == "r2":  # 1 - squared errors / squares about the mean of every host's labels
        errors = sum(scores[f"{part}-rmse"] ** 2 * counts[0] for scores, counts in held)
        total, linear, square = (sum(counts[i] for _, counts in held) for i in range(3))
        return float(1 - errors / (square - linear**2 / total))
    raise AssertionError(f"no way to combine {name} over hosts")


def _label_sums(dataset: Dataset, regression: bool) -> tuple[float, ...]:
    rows = float(dataset.shape[0])
    if not regression:
        return (rows,)
    labels = dataset.labels.astype(np.float64)
    return rows, float(labels.sum()), float(np.square(labels).sum())


def _load_share(host: str, loading: Loading) -> tuple[Share, Channels | None]:
    if not has_train_data(loading.data_dir):
        return Share(host, has_data=False), None
    try:
        channels = loading.channels()
    except TrainingError as error:
        return Share(host, has_data=True, error=error.message), None
    width = int(channels.train.shape[1])
    return Share(host, True, width, channels.validation is not None), channels


def _trainers(shares: list[Share], current: str) -> tuple[str, ...]:
    failed = [(share.host, share.error) for share in shares if share.error]
    if failed:
        host, error = failed[0]
        raise TrainingError(error if host == current else f"host {host}: {error}")
    trainers = tuple(share.host for share in shares if share.has_data)
    if not trainers:
        raise TrainingError(f"no host received train data ({', '.join(s.host for s in shares)}): "
                            "check the train channel's S3 prefix")  # fmt: skip
    _same_validation(shares)
    if current not in trainers:
        raise NoShare(f"{current} received no train data; {', '.join(trainers)} train without it")
    return trainers


def _same_validation(shares: list[Share]) -> None:
    """XGBoost evaluates over every host's rows: a host without any desynchronises the group
    (its AUC skips the collective), so a validation channel must reach every host that trains."""
    having = [share.host for share in shares if share.has_data and share.has_validation]
    lacking = [share.host for share in shares if share.has_data and not share.has_validation]
    if having and lacking:
        raise TrainingError(
            f"the validation channel reached {', '.join(having)} but not {', '.join(lacking)}: every host "
            "with train data needs validation data (give the channel S3DistributionType FullyReplicated)"
        )


def _shaped(channels: Channels, team: Team, shares: list[Share], sharded: frozenset[str]) -> Channels:
    width = max(share.width for share in shares)
    train = _my_rows(_widened(channels.train, width, shares), team, sharded)
    validation = channels.validation
    if validation is not None:
        validation = _my_rows(_widened(validation, width, shares), team, sharded)
    return Channels(train, validation)


def _widened(dataset: Dataset, width: int, shares: list[Share]) -> Dataset:
    if dataset.shape[1] == width:
        return dataset
    if dataset.kind != "libsvm":
        narrow = min(shares, key=lambda share: share.width)
        wide = max(shares, key=lambda share: share.width)
        raise TrainingError(
            f"host {narrow.host}'s train data has {narrow.width} features, {wide.host}'s {wide.width}"
        )
    return widened(dataset, width)


def _my_rows(dataset: Dataset, team: Team, sharded: frozenset[str]) -> Dataset:
    """A FullyReplicated channel: every host has all of it; each trains on every n-th row."""
    if dataset.channel in sharded:
        return dataset
    return every_nth(dataset, team.rank, len(team.hosts))


@contextmanager
def _group(hosts: tuple[str, ...], current: str, port: int, timeout: int) -> Iterator[Team]:
    """Every host in `hosts` joins XGBoost's collective, the tracker running on the first."""
    first, rank = hosts[0], hosts.index(current)
    address = _address(first)
    tracker = _tracker(len(hosts), address, port, timeout) if current == first else None
    if tracker is None:
        _reach(current, first, port, timeout)
    # Zero-padded task ids: the tracker sorts them as text, and "10" sorts before "2".
    args: dict[str, str | int | None] = {"dmlc_tracker_uri": address, "dmlc_tracker_port": port}
    args |= {"dmlc_task_id": f"{rank:06d}", "dmlc_timeout": timeout}
    try:
        with collective.CommunicatorContext(**args):
            yield Team(hosts, collective.get_rank(), _gather)
            # No host leaves before the first has written the model: SDK local mode stops every
            # container as soon as one exits (docker-compose --abort-on-container-exit).
            collective.allreduce(np.zeros(1, dtype=np.int32), collective.Op.SUM)
    except xgboost.core.XGBoostError as error:
        _stop(tracker, timeout)
        raise TrainingError(f"{current} lost the group at {first}:{port}: {_last_line(error)}") from None
    except BaseException:
        _stop(tracker, timeout)
        raise
    failure = _stop(tracker, timeout)
    if failure is not None:
        raise TrainingError(f"the tracker at {first}:{port} failed: {failure}")


def _tracker(workers: int, address: str, port: int, timeout: int) -> RabitTracker:
    try:
        tracker = RabitTracker(n_workers=workers, host_ip=address, port=port, sortby="task", timeout=timeout)
        tracker.start()
    except xgboost.core.XGBoostError as error:
        raise TrainingError(
            f"cannot start XGBoost's tracker on {address}:{port}: {_last_line(error)}"
        ) from None
    return tracker


def _stop(tracker: RabitTracker | None, timeout: int) -> str | None:
    """Waits for the tracker to see every host leave; the reason when it failed."""
    if tracker is None:
        return None
    try:
        tracker.wait_for(timeout)
        tracker.free()
    except xgboost.core.XGBoostError as error:
        return _last_line(error)
    return None


def _gather(value: Any) -> list[Any]:
    """Every host's value, in rank order (XGBoost broadcasts pickles, one root after another)."""
    me = collective.get_rank()
    return [
        collective.broadcast(value if root == me else None, root)
        for root in range(collective.get_world_size())
    ]


def _wait_for_names(cluster: Cluster, timeout: int) -> None:
    """SageMaker's hosts may not resolve each other yet when the job starts."""
    deadline = time.monotonic() + timeout
    for host in cluster.hosts:
        _retry(
            functools.partial(_address, host),
            deadline,
            f"{cluster.current}: host name {host} did not resolve within {timeout} s",
        )


def _reach(current: str, host: str, port: int, timeout: int) -> None:
    def connect() -> None:
        socket.create_connection((host, port), timeout=5).close()

    _retry(
        connect,
        time.monotonic() + timeout,
        f"{current} cannot reach the tracker at {host}:{port} within {timeout} s",
    )


def _retry(attempt: Callable[[], object], deadline: float, failure: str) -> None:
    pause = 0.1
    while True:
        try:
            attempt()
            return
        except OSError as error:
            if time.monotonic() + pause > deadline:
                raise TrainingError(f"{failure} ({error.strerror or error})") from None
        time.sleep(pause)
        pause = min(2 * pause, 2.0)


def _address(host: str) -> str:
    return str(socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_STREAM)[0][4][0])


def _last_line(error: Exception) -> str:
    text = str(error).split("Stack trace:")[0]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__
