"""Training on several hosts: real `./train` processes on this machine forming XGBoost's collective
(tests/helpers/cluster_jobs.py), with data sharded, replicated, or missing on a host."""

from __future__ import annotations

import json
import re
import signal
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import xgboost

from tests.helpers import cluster_jobs
from tests.helpers.models import synthetic
from tests.helpers.training_jobs import OptMl, csv_text, run_train

BINARY = {"objective": "binary:logistic", "num_round": "30", "max_depth": "3", "eval_metric": "auc,logloss"}
SHARDED = {"train": "ShardedByS3Key", "validation": "FullyReplicated"}
REPLICATED = {"train": "FullyReplicated", "validation": "FullyReplicated"}


def data(rows: int = 2400, n_classes: int = 2, names: list[str] | None = None) -> dict[str, list[str]]:
    """Four train files and one validation file of `synthetic` data."""
    features, labels = synthetic(n_classes=n_classes, rows=rows + 600, seed=1)
    named = np.asarray(names)[labels] if names is not None else labels
    files = [csv_text(named[part], features[part]) for part in np.array_split(np.arange(rows), 4)]
    return {"train": files, "validation": [csv_text(named[rows:], features[rows:])]}


def sharded(channels: dict[str, list[str]], hosts: int) -> list[dict[str, list[str]]]:
    """As S3 shards by key: train file i goes to host i mod n; validation to every host."""
    files = channels["train"]
    return [
        {"train": files[host::hosts], "validation": channels["validation"]} if files[host::hosts] else {}
        for host in range(hosts)
    ]


def manifest(model: Path) -> dict[str, object]:
    return json.loads((model / "manifest.json").read_text())  # type: ignore[no-any-return]


def test_two_hosts_with_sharded_data_score_as_one_host_with_all_of_it(tmp_path: Path) -> None:
    channels = data()
    alone = OptMl.create(tmp_path / "one", BINARY, channels)
    assert run_train(alone).returncode == 0
    cluster = cluster_jobs.create(tmp_path / "two", BINARY, sharded(channels, 2), SHARDED, shared_model=True)
    results = cluster_jobs.run(cluster)
    assert [result.returncode for result in results.values()] == [0, 0], cluster_jobs.report(results)
    assert cluster.model is not None
    one, two = manifest(alone.model)["metrics"], manifest(cluster.model)["metrics"]
    print(f"validation AUC: one host {one['validation-auc']:.6f}, two hosts {two['validation-auc']:.6f}")  # type: ignore[index]
    print(
        f"validation logloss: one host {one['validation-logloss']:.6f}, two {two['validation-logloss']:.6f}"
    )  # type: ignore[index]
    assert two["validation-auc"] == pytest.approx(one["validation-auc"], rel=0.01)  # type: ignore[index]
    first, second = results.values()
    assert "on 1200 rows x 6 features (host 127.0.0.1, rank 0 of 2)" in first.stdout
    assert "on 1200 rows x 6 features (host 127.0.0.2, rank 1 of 2)" in second.stdout
    assert re.search(r"^\[29\] train-auc", first.stdout, re.MULTILINE) and "validation-auc: " in first.stdout
    assert "[0]" not in second.stdout and "127.0.0.1 writes the model" in second.stdout


def test_only_the_first_host_writes_a_shared_model_directory(tmp_path: Path) -> None:
    cluster = cluster_jobs.create(tmp_path, BINARY, sharded(data(800), 2), SHARDED, shared_model=True)
    results = cluster_jobs.run(cluster)
    assert all(result.returncode == 0 for result in results.values()), cluster_jobs.report(results)
    assert cluster.model is not None
    assert sorted(path.name for path in cluster.model.iterdir()) == ["manifest.json", "xgboost-model.ubj"]
    recorded = manifest(cluster.model)
    booster = xgboost.Booster(model_file=str(cluster.model / "xgboost-model.ubj"))
    assert booster.num_boosted_rounds() == 30 and recorded["n_features"] == 6
    assert json.loads((tmp_path / "127.0.0.1" / "output" / "data" / "metrics.json").read_text())
    assert not (tmp_path / "127.0.0.2" / "output" / "data" / "metrics.json").exists()


def test_a_host_without_data_leaves_and_the_others_train(tmp_path: Path) -> None:
    # Two train files over three hosts: the third gets none, as ShardedByS3Key may deliver it.
    channels = data(800)
    channels["train"] = ["".join(channels["train"][:2]), "".join(channels["train"][2:])]
    cluster = cluster_jobs.create(tmp_path, BINARY, sharded(channels, 3), SHARDED)
    results = cluster_jobs.run(cluster)
    assert [result.returncode for result in results.values()] == [0, 0, 0], cluster_jobs.report(results)
    idle = results["127.0.0.3"].stdout
    assert "127.0.0.3 received no train data; 127.0.0.1, 127.0.0.2 train without it" in idle
    assert "(host 127.0.0.2, rank 1 of 2)" in results["127.0.0.2"].stdout
    assert (tmp_path / "127.0.0.1" / "model" / "manifest.json").is_file()
    assert not (tmp_path / "127.0.0.3" / "model").exists()


def test_the_first_host_without_data_leaves_the_model_to_the_next(tmp_path: Path) -> None:
    channels = data(800)
    cluster = cluster_jobs.create(tmp_path, BINARY, [{}, channels], SHARDED, shared_model=True)
    results = cluster_jobs.run(cluster)
    assert [result.returncode for result in results.values()] == [0, 0], cluster_jobs.report(results)
    assert "received no train data" in results["127.0.0.1"].stdout
    assert cluster.model is not None and (cluster.model / "manifest.json").is_file()


def test_no_host_with_data_fails_every_host(tmp_path: Path) -> None:
    cluster = cluster_jobs.create(tmp_path, BINARY, [{}, {}], SHARDED)
    results = cluster_jobs.run(cluster)
    assert [result.returncode for result in results.values()] == [1, 1], cluster_jobs.report(results)
    for host in cluster.hosts:
        reason = cluster.jobs[host].failure.read_text()
        assert reason.startswith("no host received train data (127.0.0.1, 127.0.0.2)"), reason


def test_replicated_data_is_split_by_rank_so_each_row_counts_once(tmp_path: Path) -> None:
    channels = data(800)
    alone = OptMl.create(tmp_path / "one", BINARY, channels)
    assert run_train(alone).returncode == 0
    cluster = cluster_jobs.create(tmp_path / "two", BINARY, [channels, channels], REPLICATED)
    results = cluster_jobs.run(cluster)
    assert all(result.returncode == 0 for result in results.values()), cluster_jobs.report(results)
    assert "on 400 rows x 6 features (host 127.0.0.1, rank 0 of 2)" in results["127.0.0.1"].stdout
    one = manifest(alone.model)["metrics"]
    two = manifest(cluster.jobs["127.0.0.1"].model)["metrics"]
    assert two["validation-auc"] == pytest.approx(one["validation-auc"], rel=0.01)  # type: ignore[index]
    # Accuracy over both hosts' rows is a mean of means; with the same rows it is one host's.
    assert two["validation-accuracy"] == pytest.approx(one["validation-accuracy"], abs=0.02)  # type: ignore[index]


def test_every_host_numbers_the_classes_alike_when_a_share_lacks_one(tmp_path: Path) -> None:
    hyperparameters = {"objective": "multi:softprob", "num_round": "5"}
    features, labels = synthetic(n_classes=3, rows=600, seed=2)
    names = np.asarray(["low", "mid", "high"])[labels]
    without_high = names != "high"
    shares = [
        {"train": [csv_text(names[without_high], features[without_high])]},
        {"train": [csv_text(names[~without_high], features[~without_high])]},
    ]
    cluster = cluster_jobs.create(tmp_path, hyperparameters, shares, {"train": "ShardedByS3Key"})
    results = cluster_jobs.run(cluster)
    assert all(result.returncode == 0 for result in results.values()), cluster_jobs.report(results)
    recorded = manifest(cluster.jobs["127.0.0.1"].model)
    assert recorded["classes"] == ["high", "low", "mid"]
    assert recorded["metrics"]["train-accuracy"] > 0.8  # type: ignore[index]


def test_a_bad_share_on_one_host_fails_every_host_with_its_reason(tmp_path: Path) -> None:
    good = data(400)
    bad = {"train": ["1,2,3\n0,1\n"], "validation": good["validation"]}
    cluster = cluster_jobs.create(tmp_path, BINARY, [good, bad], SHARDED)
    results = cluster_jobs.run(cluster)
    assert [result.returncode for result in results.values()] == [1, 1], cluster_jobs.report(results)
    assert "line 2: 1 features where line 1 has 2" in cluster.jobs["127.0.0.2"].failure.read_text()
    first = cluster.jobs["127.0.0.1"].failure.read_text()
    assert first.startswith("host 127.0.0.2: channel 'train', file part-0.data"), first


def test_a_host_that_cannot_reach_the_tracker_names_it(tmp_path: Path) -> None:
    cluster = cluster_jobs.create(tmp_path, BINARY, [{}, data(400)], SHARDED)
    lone = cluster_jobs.Cluster({"127.0.0.2": cluster.jobs["127.0.0.2"]}, cluster.port)
    results = cluster_jobs.run(lone, timeout_seconds=3)
    assert results["127.0.0.2"].returncode == 1, cluster_jobs.report(results)
    reason = cluster.jobs["127.0.0.2"].failure.read_text().strip()
    assert reason.startswith(f"127.0.0.2 cannot reach the tracker at 127.0.0.1:{cluster.port} within 3 s")
    assert "\n" not in reason and "Traceback" not in results["127.0.0.2"].stderr


def test_a_host_name_that_never_resolves_fails_within_the_deadline(tmp_path: Path) -> None:
    job = OptMl.create(tmp_path, BINARY, data(400))
    config = job.base / "input" / "config" / "resourceconfig.json"
    config.write_text(json.dumps({"current_host": "127.0.0.1", "hosts": ["127.0.0.1", "algo-2.invalid"]}))
    lone = cluster_jobs.Cluster({"127.0.0.1": job}, cluster_jobs.tracker_ports())
    results = cluster_jobs.run(lone, timeout_seconds=2)
    assert results["127.0.0.1"].returncode == 1, cluster_jobs.report(results)
    assert job.failure.read_text().startswith(
        "127.0.0.1: host name algo-2.invalid did not resolve within 2 s"
    )


def test_scikit_learn_on_several_hosts_is_refused(tmp_path: Path) -> None:
    cluster = cluster_jobs.create(
        tmp_path, {"algorithm": "random_forest"}, [data(200), data(200)], REPLICATED
    )
    results = cluster_jobs.run(cluster)
    assert [result.returncode for result in results.values()] == [1, 1], cluster_jobs.report(results)
    assert (
        cluster.jobs["127.0.0.2"]
        .failure.read_text()
        .startswith("random_forest trains on one instance; the job has 2 (127.0.0.1, 127.0.0.2)")
    )


def test_early_stopping_stops_every_host_at_the_best_round(tmp_path: Path) -> None:
    hyperparameters = {**BINARY, "num_round": "500", "eta": "0.5", "early_stopping_rounds": "3"}
    cluster = cluster_jobs.create(tmp_path, hyperparameters, sharded(data(1600), 2), SHARDED)
    results = cluster_jobs.run(cluster)
    assert all(result.returncode == 0 for result in results.values()), cluster_jobs.report(results)
    first = results["127.0.0.1"].stdout
    losses = [
        float(loss) for loss in re.findall(r"^\[\d+\] .*validation-logloss: (\S+)$", first, re.MULTILINE)
    ]
    booster = xgboost.Booster(model_file=str(cluster.jobs["127.0.0.1"].model / "xgboost-model.ubj"))
    assert booster.num_boosted_rounds() == int(np.argmin(losses)) + 1 < len(losses) < 500


def test_a_validation_channel_missing_on_a_host_that_trains_is_refused(tmp_path: Path) -> None:
    channels = data(800)
    shares = [
        {"train": channels["train"][0::2], "validation": channels["validation"]},
        {"train": channels["train"][1::2]},
    ]
    cluster = cluster_jobs.create(
        tmp_path, BINARY, shares, {"train": "ShardedByS3Key", "validation": "ShardedByS3Key"}
    )
    results = cluster_jobs.run(cluster)
    assert [result.returncode for result in results.values()] == [1, 1], cluster_jobs.report(results)
    for job in cluster.jobs.values():
        assert job.failure.read_text().startswith(
            "the validation channel reached 127.0.0.1 but not 127.0.0.2"
        )


def test_sigterm_on_one_host_stops_every_host_at_the_same_round(tmp_path: Path) -> None:
    hyperparameters = {**BINARY, "num_round": "1000000", "max_depth": "2"}
    cluster = cluster_jobs.create(tmp_path, hyperparameters, sharded(data(400), 2), SHARDED)
    logs = {host: tmp_path / f"{host}.log" for host in cluster.hosts}
    started = {
        host: cluster_jobs.start(cluster, job, cluster_jobs.TIMEOUT_SECONDS, logs[host])
        for host, job in cluster.jobs.items()
    }
    try:
        while "[0]" not in logs["127.0.0.1"].read_text():  # a file: the line per round never blocks
            assert all(process.poll() is None for process in started.values()), logs["127.0.0.1"].read_text()
            time.sleep(0.1)
        started["127.0.0.2"].send_signal(signal.SIGTERM)  # the second host only
        codes = [process.wait(timeout=120) for process in started.values()]
    finally:
        for process in started.values():
            process.kill()
    assert codes == [143, 143]
    assert json.loads((cluster.jobs["127.0.0.1"].model / "manifest.json").read_text())["interrupted"] is True
    assert "saved by the first host" in cluster.jobs["127.0.0.2"].failure.read_text()


def test_a_current_host_outside_the_hosts_is_refused(tmp_path: Path) -> None:
    job = OptMl.create(tmp_path, BINARY, data(200))
    config = job.base / "input" / "config" / "resourceconfig.json"
    config.write_text(json.dumps({"current_host": "algo-3", "hosts": ["algo-1", "algo-2"]}))
    result = run_train(job)
    assert result.returncode == 1, result.stdout + result.stderr
    assert job.failure.read_text().startswith(
        "resourceconfig.json: current_host 'algo-3' is not one of hosts ['algo-1', 'algo-2']"
    )


def test_replicated_data_beyond_the_memory_budget_trains_the_in_memory_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """60,000 rows x 6 float32 (1.4 MiB) over a 1 MiB budget: each host re-reads its every-other
    row from the files into XGBoost's external-memory matrix, and the trees match the in-memory run."""
    channels = data(60_000)
    in_memory = cluster_jobs.create(tmp_path / "memory", BINARY, [channels, channels], REPLICATED)
    results = cluster_jobs.run(in_memory)
    assert all(result.returncode == 0 for result in results.values()), cluster_jobs.report(results)
    monkeypatch.setenv("BYOM_TRAINING_MEMORY_MB", "1")
    streamed = cluster_jobs.create(tmp_path / "streamed", BINARY, [channels, channels], REPLICATED)
    results = cluster_jobs.run(streamed)
    assert all(result.returncode == 0 for result in results.values()), cluster_jobs.report(results)
    assert all("read again at each pass" in result.stdout for result in results.values())
    assert "on 30000 rows x 6 features (host 127.0.0.2, rank 1 of 2)" in results["127.0.0.2"].stdout
    dumps = [
        xgboost.Booster(model_file=str(cluster.jobs["127.0.0.1"].model / "xgboost-model.ubj")).get_dump()
        for cluster in (in_memory, streamed)
    ]
    assert dumps[0] == dumps[1]


def test_the_first_host_writes_checkpoints_and_every_host_resumes_from_them(tmp_path: Path) -> None:
    cluster = cluster_jobs.create(tmp_path, {**BINARY, "num_round": "20"}, [data(800)] * 2, REPLICATED)
    for job in cluster.jobs.values():
        (job.base / "checkpoints").mkdir()
    results = cluster_jobs.run(cluster)
    assert all(result.returncode == 0 for result in results.values()), cluster_jobs.report(results)
    first, second = (job.base / "checkpoints" for job in cluster.jobs.values())
    assert json.loads((first / "checkpoint.json").read_text())["rounds"] == 20
    assert list(second.iterdir()) == []
    for job in cluster.jobs.values():
        (job.base / "input" / "config" / "hyperparameters.json").write_text(json.dumps(BINARY))
    results = cluster_jobs.run(replace(cluster, port=cluster_jobs.tracker_ports()))  # the old may linger
    assert all(result.returncode == 0 for result in results.values()), cluster_jobs.report(results)
    assert all("resuming from the checkpoint after round 20 of 30" in r.stdout for r in results.values())
    model = cluster.jobs["127.0.0.1"].model / "xgboost-model.ubj"
    assert xgboost.Booster(model_file=str(model)).num_boosted_rounds() == 30
    assert json.loads((first / "checkpoint.json").read_text())["rounds"] == 30
    assert list(second.iterdir()) == []
