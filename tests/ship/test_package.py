"""`byom package` against moto's S3: the archive's contents, the content-addressed key, no second
upload, and every refusal of a directory SageMaker or the container would choke on."""

from __future__ import annotations

import io
import shutil
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.ship import byom, dry_run_calls

DEMO_MODEL = Path(__file__).resolve().parents[2] / "model"


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    return Path(shutil.copytree(DEMO_MODEL, tmp_path / "model"))


def test_package_uploads_a_reproducible_archive(client: Any, model_dir: Path) -> None:
    (model_dir / "._decision-tree-model.skops").write_bytes(b"macOS resource fork")
    first = byom("package", str(model_dir), "--bucket", "byom-test-models")
    assert first.code == 0, first.err
    url = first.out.strip()
    assert url.startswith("s3://byom-test-models/byom/models/") and url.endswith("/model.tar.gz")
    key = url.removeprefix("s3://byom-test-models/")
    body = client("s3").get_object(Bucket="byom-test-models", Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        assert sorted(tar.getnames()) == [
            "decision-tree-model.skops",
            "decision-tree-model.skops.tree.npz",
            "manifest.json",
        ]
        member = tar.extractfile("decision-tree-model.skops")
        assert member is not None and member.read() == (model_dir / "decision-tree-model.skops").read_bytes()
    (model_dir / "manifest.json").touch()  # a newer mtime must not change the archive
    second = byom("package", str(model_dir), "--bucket", "byom-test-models")
    assert (second.code, second.out.strip()) == (0, url)
    assert "already uploaded" in second.err


def test_package_defaults_to_the_sagemaker_bucket(client: Any, model_dir: Path) -> None:
    result = byom("package", str(model_dir))
    assert result.code == 0, result.err
    assert result.out.startswith("s3://sagemaker-us-east-1-123456789012/byom/models/")
    assert "bucket sagemaker-us-east-1-123456789012: created" in result.err


def test_package_dry_run_uploads_nothing(client: Any, model_dir: Path) -> None:
    result = byom("package", str(model_dir), "--bucket", "byom-test-models", "--dry-run")
    assert result.code == 0, result.err
    assert dry_run_calls(result, "err") == ["s3 CreateBucket", "s3 upload_file"]
    assert (
        result.out == ""
        and "(dry run) the model URL will be s3://byom-test-models/byom/models/" in result.err
    )
    assert client("s3").list_buckets()["Buckets"] == []


def break_with_symlink(model_dir: Path) -> None:
    (model_dir / "extra").symlink_to("/etc/passwd")


def break_with_second_model(model_dir: Path) -> None:
    shutil.copy(model_dir / "decision-tree-model.skops", model_dir / "other.skops")


def break_with_no_model(model_dir: Path) -> None:
    (model_dir / "decision-tree-model.skops").unlink()


def break_with_no_manifest(model_dir: Path) -> None:
    (model_dir / "manifest.json").unlink()


def break_the_checksum(model_dir: Path) -> None:
    with (model_dir / "decision-tree-model.skops").open("ab") as artifact:
        artifact.write(b"\0")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (break_with_symlink, "is a symlink or a special file"),
        (break_with_second_model, "several model files"),
        (break_with_no_model, "no model file"),
        (break_with_no_manifest, "has no manifest.json"),
        (break_the_checksum, "sha256"),
    ],
)
def test_package_refuses(aws_env: str, model_dir: Path, damage: Any, message: str) -> None:
    damage(model_dir)
    result = byom("package", str(model_dir), "--bucket", "byom-test-models")
    assert result.code == 2 and message in result.err, result.err
    assert result.err.count("\n") == 1


def test_package_refuses_a_missing_directory(aws_env: str, tmp_path: Path) -> None:
    result = byom("package", str(tmp_path / "nope"))
    assert (result.code, result.err) == (2, f"byom package: {tmp_path / 'nope'} is not a directory\n")
