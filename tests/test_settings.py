"""Settings.from_env: defaults, variable names old and new, refusals, and the CPU count."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import container.settings
from container.errors import ConfigurationError
from container.settings import Settings, _cgroup_cpu_quota, usable_cpu_count


@pytest.fixture
def three_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(container.settings, "usable_cpu_count", lambda: 3)


def settings(**environ: str) -> Settings:
    return Settings.from_env(environ)


# --- defaults and names --------------------------------------------------------------------------


def test_defaults() -> None:
    configured = settings()

    assert configured.port == 8080
    assert configured.host == "0.0.0.0"
    assert configured.model_dir == Path("/opt/ml/model")
    assert configured.timeout_seconds == 60
    assert configured.max_payload_mb == 6
    assert configured.max_body_bytes == 6 * 1024 * 1024
    assert configured.default_accept == "text/csv"
    assert configured.inference_output is None
    assert configured.batch is False
    assert configured.batch_strategy == "MULTI_RECORD"
    assert configured.allow_pickle is False
    assert configured.http_parser == "byom"


def test_default_workers_is_two_per_usable_cpu_plus_one() -> None:
    assert settings().workers == 2 * usable_cpu_count() + 1


def test_workers_and_threads_follow_the_cpu_count(three_cpus: None) -> None:
    configured = settings()

    assert configured.workers == 7
    assert configured.model_threads == 1
    assert configured.max_concurrent_transforms == 7


def test_one_worker_gets_every_cpu_for_the_model(three_cpus: None) -> None:
    assert settings(SAGEMAKER_MODEL_SERVER_WORKERS="1").model_threads == 3


@pytest.mark.parametrize(
    ("environ", "model_dir"),
    [
        pytest.param({"SM_MODEL_DIR": "/data/model"}, "/data/model", id="sm-model-dir"),
        pytest.param({"SAGEMAKER_BASE_DIR": "/base"}, "/base/model", id="base-dir"),
        pytest.param({"SM_MODEL_DIR": "/m", "SAGEMAKER_BASE_DIR": "/base"}, "/m", id="sm-model-dir-wins"),
        pytest.param({"SM_MODEL_DIR": "", "SAGEMAKER_BASE_DIR": "/base"}, "/base/model", id="empty-ignored"),
        pytest.param({"SAGEMAKER_BASE_DIR": ""}, "/opt/ml/model", id="empty-base-dir"),
    ],
)
def test_model_dir(environ: dict[str, str], model_dir: str) -> None:
    assert Settings.from_env(environ).model_dir == Path(model_dir)


@pytest.mark.parametrize(
    ("environ", "attribute", "value"),
    [
        pytest.param({"SAGEMAKER_BIND_TO_PORT": "9090"}, "port", 9090, id="port"),
        pytest.param({"SAGEMAKER_BIND_TO_PORT": " 9090 "}, "port", 9090, id="port-spaces"),
        pytest.param({"SAGEMAKER_BIND_TO_PORT": "65535"}, "port", 65535, id="port-max"),
        pytest.param({"SAGEMAKER_BIND_TO_PORT": ""}, "port", 8080, id="port-empty-is-default"),
        pytest.param({"SAGEMAKER_MAX_PAYLOAD_IN_MB": "100"}, "max_payload_mb", 100, id="payload-max"),
        pytest.param({"SAGEMAKER_MODEL_SERVER_TIMEOUT": "5"}, "timeout_seconds", 5, id="timeout"),
        pytest.param({"MODEL_SERVER_TIMEOUT": "7"}, "timeout_seconds", 7, id="timeout-old-name"),
        pytest.param({"MODEL_SERVER_WORKERS": "5"}, "workers", 5, id="workers-old-name"),
        pytest.param({"SAGEMAKER_BATCH": "TRUE"}, "batch", True, id="batch-true"),
        pytest.param({"SAGEMAKER_BATCH": "off"}, "batch", False, id="batch-off"),
        pytest.param(
            {"SAGEMAKER_BATCH_STRATEGY": "single_record"},
            "batch_strategy",
            "SINGLE_RECORD",
            id="batch-strategy",
        ),
        pytest.param({"BYOM_HTTP_PARSER": "Fast"}, "http_parser", "fast", id="http-parser-any-case"),
        pytest.param(
            {"SAGEMAKER_INFERENCE_OUTPUT": "probability"},
            "inference_output",
            "probability",
            id="inference-output",
        ),
        pytest.param(
            {"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "application/json"},
            "default_accept",
            "application/json",
            id="accept",
        ),
    ],
)
def test_values_are_read(environ: dict[str, str], attribute: str, value: object) -> None:
    assert getattr(Settings.from_env(environ), attribute) == value


@pytest.mark.parametrize(
    ("new", "old", "attribute"),
    [
        pytest.param("SAGEMAKER_MODEL_SERVER_WORKERS", "MODEL_SERVER_WORKERS", "workers", id="workers"),
        pytest.param(
            "SAGEMAKER_MODEL_SERVER_TIMEOUT", "MODEL_SERVER_TIMEOUT", "timeout_seconds", id="timeout"
        ),
    ],
)
def test_new_variable_names_win_over_old_ones(new: str, old: str, attribute: str) -> None:
    assert getattr(Settings.from_env({new: "3", old: "5"}), attribute) == 3
    assert getattr(Settings.from_env({old: "5"}), attribute) == 5
    assert getattr(Settings.from_env({new: " ", old: "5"}), attribute) == 5  # a blank new name is unset


# --- refusals --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        pytest.param("SAGEMAKER_MODEL_SERVER_WORKERS", "four", id="workers-not-integer"),
        pytest.param("SAGEMAKER_MODEL_SERVER_WORKERS", "0", id="workers-zero"),
        pytest.param("SAGEMAKER_MODEL_SERVER_WORKERS", "-2", id="workers-negative"),
        pytest.param("MODEL_SERVER_WORKERS", "2.5", id="old-workers-not-integer"),
        pytest.param("SAGEMAKER_MODEL_SERVER_TIMEOUT", "1.5", id="timeout-fraction"),
        pytest.param("SAGEMAKER_MODEL_SERVER_TIMEOUT", "0", id="timeout-zero"),
        pytest.param("SAGEMAKER_BIND_TO_PORT", "70000", id="port-70000"),
        pytest.param("SAGEMAKER_BIND_TO_PORT", "0", id="port-zero"),
        pytest.param("SAGEMAKER_BIND_TO_PORT", "http", id="port-word"),
        pytest.param("SAGEMAKER_MAX_PAYLOAD_IN_MB", "101", id="payload-101"),
        pytest.param("SAGEMAKER_MAX_PAYLOAD_IN_MB", "0", id="payload-zero"),
        pytest.param("SAGEMAKER_MAX_CONCURRENT_TRANSFORMS", "0", id="transforms-zero"),
        pytest.param("BYOM_WORKER_THREADS", "0", id="threads-zero"),
        pytest.param("SAGEMAKER_BATCH", "maybe", id="batch-maybe"),
        pytest.param("BYOM_ALLOW_PICKLE", "2", id="allow-pickle-2"),
        pytest.param("SAGEMAKER_BATCH_STRATEGY", "bogus", id="strategy-bogus"),
        pytest.param("BYOM_HTTP_PARSER", "h1c", id="http-parser-unknown"),
    ],
)
def test_bad_values_raise_configuration_error_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=f"^{re.escape(f'{name}={value!r}')}: expected "):
        Settings.from_env({name: value})


def test_the_old_name_is_named_when_it_holds_the_bad_value() -> None:
    with pytest.raises(ConfigurationError, match=r"^MODEL_SERVER_TIMEOUT="):
        Settings.from_env({"MODEL_SERVER_TIMEOUT": "soon"})


def test_a_bad_old_value_is_ignored_when_the_new_name_is_set() -> None:
    assert (
        Settings.from_env({"SAGEMAKER_MODEL_SERVER_WORKERS": "2", "MODEL_SERVER_WORKERS": "x"}).workers == 2
    )


def test_range_is_stated() -> None:
    with pytest.raises(ConfigurationError, match="expected a whole number from 1 to 65535"):
        Settings.from_env({"SAGEMAKER_BIND_TO_PORT": "70000"})


# --- cgroup CPU quota ------------------------------------------------------------------------------


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.parametrize(
    ("cpu_max", "quota"),
    [
        pytest.param("max 100000\n", None, id="unlimited"),
        pytest.param("150000 100000\n", 1.5, id="one-and-a-half"),
        pytest.param("50000 100000", 0.5, id="half"),
        pytest.param("400000 100000\n", 4.0, id="four"),
    ],
)
def test_cgroup_v2_cpu_max(tmp_path: Path, cpu_max: str, quota: float | None) -> None:
    write(tmp_path / "cpu.max", cpu_max)

    assert _cgroup_cpu_quota(tmp_path) == quota


@pytest.mark.parametrize(
    ("quota_us", "period_us", "quota"),
    [
        pytest.param("-1\n", "100000\n", None, id="unlimited"),
        pytest.param("200000\n", "100000\n", 2.0, id="two"),
        pytest.param("25000", "100000", 0.25, id="quarter"),
    ],
)
def test_cgroup_v1_cfs_quota(tmp_path: Path, quota_us: str, period_us: str, quota: float | None) -> None:
    write(tmp_path / "cpu" / "cpu.cfs_quota_us", quota_us)
    write(tmp_path / "cpu" / "cpu.cfs_period_us", period_us)

    assert _cgroup_cpu_quota(tmp_path) == quota


def test_no_cgroup_files_means_no_quota(tmp_path: Path) -> None:
    assert _cgroup_cpu_quota(tmp_path) is None


def test_unreadable_v2_file_falls_back_to_v1(tmp_path: Path) -> None:
    write(tmp_path / "cpu.max", "garbage")
    write(tmp_path / "cpu" / "cpu.cfs_quota_us", "300000")
    write(tmp_path / "cpu" / "cpu.cfs_period_us", "100000")

    assert _cgroup_cpu_quota(tmp_path) == 3.0


def test_v2_wins_over_v1(tmp_path: Path) -> None:
    write(tmp_path / "cpu.max", "100000 100000")
    write(tmp_path / "cpu" / "cpu.cfs_quota_us", "300000")
    write(tmp_path / "cpu" / "cpu.cfs_period_us", "100000")

    assert _cgroup_cpu_quota(tmp_path) == 1.0


@pytest.mark.parametrize(
    ("quota", "cores"),
    [
        pytest.param(None, 4, id="no-quota"),
        pytest.param(1.5, 2, id="quota-rounded-up"),
        pytest.param(0.25, 1, id="at-least-one"),
        pytest.param(16.0, 4, id="affinity-caps-quota"),
    ],
)
def test_usable_cpu_count(monkeypatch: pytest.MonkeyPatch, quota: float | None, cores: int) -> None:
    monkeypatch.setattr(container.settings.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.setattr(container.settings, "_cgroup_cpu_quota", lambda: quota)

    assert usable_cpu_count() == cores


# --- the table of variables ----------------------------------------------------------------------


def test_every_settings_field_is_set_by_one_variable() -> None:
    computed = {
        "model_dir",
        "base_dir",
        "model_threads",
        "system_root",
    }  # from SM_MODEL_DIR / SAGEMAKER_BASE_DIR, and the cores; where /proc and /sys are
    fields = [variable.field for variable in container.settings.VARIABLES if variable.field]
    assert sorted(fields) == sorted(set(Settings.__dataclass_fields__) - computed)


def test_every_variable_the_settings_module_reads_is_in_the_table() -> None:
    source = Path(container.settings.__file__).read_text()
    read = set(re.findall(r'"((?:SM|SAGEMAKER|BYOM|MODEL)_[A-Z_]+)"', source))
    documented = {name for variable in container.settings.VARIABLES for name in variable.names}
    assert read == documented


def test_the_configuration_reference_is_generated_from_the_table() -> None:
    docs = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
    assert docs.read_text() == container.settings.configuration_reference(), (
        "docs/configuration.md is stale: run `python -m container.settings > docs/configuration.md`"
    )
