"""docs/shipping.md's sections on variants, asynchronous inference and rollout settings in
byom.toml, run as a reader runs them: each section's `byom.toml` block written to the project
file, then each `byom ...` command of its shell block against moto, in order."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from tests.helpers.ship import IMAGE, MODEL_DATA, ROLE, byom, lint

DOC = Path(__file__).resolve().parents[2] / "docs" / "shipping.md"
NEW_IMAGE = IMAGE.replace("abc1234", "def5678")


def section(title: str) -> str:
    text = DOC.read_text()
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def block(text: str, language: str) -> str:
    start = text.index(f"```{language}\n") + len(language) + 4
    return text[start : text.index("```", start)]


def commands(text: str, scratch: Path) -> list[list[str]]:
    """The `byom` lines of the section's sh block, continuations joined, variables put in."""
    values = {"$IMAGE": IMAGE, "$NEW_IMAGE": NEW_IMAGE, "$MODEL_DATA": MODEL_DATA, "$ROLE": ROLE}
    found = []
    for line in block(text, "sh").replace("\\\n", " ").splitlines():
        if not line.startswith("byom "):
            continue
        line = line.replace("$scratch", str(scratch))
        for name, value in values.items():
            line = line.replace(f'"{name}"', value)
        found.append(shlex.split(line, comments=True)[1:])
    return found


def run_all(argvs: list[list[str]]) -> list[str]:
    outs = []
    for argv in argvs:
        result = byom(*argv)
        assert result.code == 0, (argv, result.err)
        outs.append(result.out)
    return outs


def test_the_documented_variants(client: Any, tmp_path: Path) -> None:
    text = section("Several variants")
    (tmp_path / "byom.toml").write_text(block(text, "toml"))
    (tmp_path / "rows.csv").write_text("5.1,3.5,1.4,0.2\n")
    argvs = commands(text, tmp_path)
    assert [argv[0] for argv in argvs] == ["deploy", "status", "scale", "invoke", "cfn"]
    [preview] = run_all(argvs[:1])
    assert '"ShadowProductionVariants": [{"VariantName": "Candidate"' in preview
    assert run_all([[word for word in argvs[0] if word != "--dry-run"]])  # the endpoint, in moto
    outs = run_all(argvs[1:])
    assert "variant Green: 1 x ml.m5.xlarge" in outs[0]
    linted = lint(tmp_path / "ab.json")
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_the_documented_async_endpoint(client: Any, tmp_path: Path) -> None:
    client("s3").create_bucket(Bucket="byom-async")
    (tmp_path / "rows.csv").write_text("5.1,3.5,1.4,0.2\n")
    argvs = commands(section("Asynchronous inference"), tmp_path)
    assert [argv[0] for argv in argvs] == ["deploy", "invoke"]
    outs = run_all(argvs)
    assert '"AsyncInferenceConfig": {"OutputConfig": {"S3OutputPath": "s3://byom-async/iris/"' in outs[0]
    assert outs[1].startswith("s3://")
    assert (
        client("s3").get_object(Bucket="byom-async", Key="in/rows.csv")["Body"].read() == b"5.1,3.5,1.4,0.2\n"
    )


def test_the_documented_rollout_settings(client: Any, tmp_path: Path) -> None:
    text = section("Rollout settings in byom.toml")
    argvs = commands(text, tmp_path)
    assert len(argvs) == 2 and all("--dry-run" in argv for argv in argvs)
    first = [word if word != NEW_IMAGE else IMAGE for word in argvs[0] if word != "--dry-run"]
    assert run_all([first])  # the endpoint as it runs, before the project file asks for a canary
    (tmp_path / "byom.toml").write_text(block(text, "toml"))
    baked = run_all(argvs)
    for out, wait in zip(baked, (600, 120), strict=True):
        [update] = [line for line in out.splitlines() if "will call sagemaker UpdateEndpoint" in line]
        assert f'"Type": "CANARY", "WaitIntervalInSeconds": {wait}, "CanarySize"' in update
