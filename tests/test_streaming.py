"""Large bodies answered a chunk of rows at a time (container.streaming) give the whole-body
path's answer to the byte, on every model flavour, content type and output, and its refusals."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
from werkzeug.test import Client

from container.app import create_app
from container.codecs.text import UTF8_BOM
from container.errors import ContainerError
from container.flavours import load_model
from container.invocations import Invoker, Plan
from container.multimodel.registry import Registry
from container.settings import Settings
from container.streaming import line_chunks
from tests.helpers.harness import serving
from tests.helpers.models import CASES, ModelCase

CHUNK_KIB = 16  # the smallest chunk the setting allows: bodies of a few hundred KiB make many
WHOLE_KIB = 1024 * 1024  # a chunk larger than any body here: the whole-body path
ROWS = 3000


@pytest.fixture(params=sorted(CASES), scope="module")
def case(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> ModelCase:
    return CASES[request.param](tmp_path_factory.mktemp(request.param))


def invokers(case: ModelCase) -> tuple[Invoker, Invoker]:
    """(chunked, whole) over one loaded model; contributions allowed for every row here."""
    model = load_model(Settings(model_dir=case.directory, allow_pickle=case.needs_pickle))
    base = Settings(model_dir=case.directory, max_contribution_row_trees=10**9)
    chunked = Invoker(dataclasses.replace(base, stream_chunk_kib=CHUNK_KIB), model)
    return chunked, Invoker(dataclasses.replace(base, stream_chunk_kib=WHOLE_KIB), model)


def many_rows(case: ModelCase) -> np.ndarray:
    """ROWS rows around the case's own, some with values rounded onto its thresholds' neighbours."""
    rng = np.random.default_rng(7)
    rows = case.rows[rng.integers(0, len(case.rows), ROWS)]
    return np.where(rng.random(rows.shape) < 0.5, rows, np.round(rows, 1))


def csv_body(rows: np.ndarray) -> bytes:
    return b"".join(b",".join(repr(float(v)).encode() for v in row) + b"\n" for row in rows)


def jsonlines_body(rows: np.ndarray) -> bytes:
    lines = [
        ("[" if i % 2 else '{"features": [') + ",".join(map(repr, map(float, row)))
        for i, row in enumerate(rows)
    ]
    return "".join(line + ("]\n" if i % 2 else "]}\n") for i, line in enumerate(lines)).encode()


def libsvm_body(rows: np.ndarray) -> bytes:
    lines = (" ".join(f"{i}:{float(v)!r}" for i, v in enumerate(row) if v != 0) for row in rows)
    return "".join(f"0 {line}\n" for line in lines).encode()


BODIES: dict[str, Callable[[np.ndarray], bytes]] = {
    "text/csv": csv_body,
    "application/jsonlines": jsonlines_body,
    "text/libsvm": libsvm_body,
}


def counting(plan: Plan) -> tuple[Plan, list[int]]:
    """The plan with its real decoder wrapped to count the bodies it decodes."""
    calls: list[int] = []

    def decoder(body: bytes, params: Any) -> Any:
        calls.append(len(body))
        return plan.decoder(body, params)

    return dataclasses.replace(plan, decoder=decoder), calls


def outcome(invoker: Invoker, plan: Plan, body: bytes) -> tuple[str, bytes] | tuple[int, str]:
    try:
        return invoker.answer(plan, body)
    except ContainerError as error:
        return error.status, error.message


@pytest.mark.parametrize("content_type", sorted(BODIES))
@pytest.mark.parametrize("accept", ["text/csv", "application/jsonlines"])
def test_chunked_answers_are_the_whole_answers(case: ModelCase, content_type: str, accept: str) -> None:
    chunked, whole = invokers(case)
    body = BODIES[content_type](many_rows(case))
    for keys in (None, ",".join(sorted(chunked.model.outputs))):
        attributes = None if keys is None else f"output={keys}"
        plan, calls = counting(chunked.plan(content_type, accept, attributes))
        assert plan.by_lines
        got = chunked.answer(plan, body)
        assert len(calls) >= 3 and sum(calls) <= len(body)  # really in chunks, each decoded once
        assert got == whole.answer(whole.plan(content_type, accept, attributes), body)
        assert got[1].count(b"\n") == ROWS  # one line per record


def test_a_refusal_in_a_later_chunk_is_the_whole_paths(case: ModelCase) -> None:
    chunked, whole = invokers(case)
    good = csv_body(many_rows(case))
    lines = good.splitlines(keepends=True)
    width = lines[0].count(b",") + 1
    broken = {
        "a word": b"".join([*lines[:2500], b"1,x" + b",1" * (width - 2) + b"\n", *lines[2500:]]),
        "another width": b"".join([*lines[:2500], b"1," * width + b"1\n", *lines[2500:]]),
        "a blank line": b"".join([*lines[:2500], b"\n", *lines[2500:]]),
        "a byte-order mark": b"".join([*lines[:2500], UTF8_BOM + lines[2500], *lines[2501:]]),
    }
    for name, body in broken.items():
        refused = outcome(whole, whole.plan("text/csv", None, None), body)
        assert refused[0] in (400, 422), name
        assert outcome(chunked, chunked.plan("text/csv", None, None), body) == refused, name


def test_contributions_over_the_limit_are_refused_over_all_chunks(case: ModelCase, tmp_path: Path) -> None:
    chunked, whole = invokers(case)
    if "contributions" not in chunked.model.outputs:
        pytest.skip("this flavour offers no contributions")
    body = csv_body(many_rows(case))
    work = chunked.model.contribution_row_trees(ROWS)  # type: ignore[attr-defined]
    limits = Settings(model_dir=case.directory, max_contribution_row_trees=work - 1)
    limited = {
        name: Invoker(dataclasses.replace(limits, stream_chunk_kib=kib), invoker.model)
        for name, kib, invoker in (("chunked", CHUNK_KIB, chunked), ("whole", WHOLE_KIB, whole))
    }
    answers = {
        name: outcome(invoker, invoker.plan("text/csv", None, "output=contributions"), body)
        for name, invoker in limited.items()
    }
    assert answers["chunked"] == answers["whole"]
    assert answers["whole"][0] == 413


@pytest.mark.parametrize(
    "body",
    [b"1,2\n3,4\n5,6\n", b"1,2\r\n3,4\r\n\r\n\n", b"1\n" * 100, b"no line end", b"12345678\n" * 7 + b"9"],
)
@pytest.mark.parametrize("size", [1, 4, 9, 10, 64])
def test_chunks_are_whole_lines_that_join_into_the_body(body: bytes, size: int) -> None:
    chunks = list(line_chunks(body, size))
    assert b"".join(chunks) == body.rstrip(b"\r\n")
    assert all(chunk.endswith(b"\n") and len(chunk) >= size for chunk in chunks[:-1])
    assert all(b"\n" not in chunk[size - 1 : -1] for chunk in chunks[:-1])  # cut at the first line end


def test_small_bodies_are_answered_whole() -> None:
    assert list(line_chunks(b"1,2\n", 1024)) == [b"1,2"]


def test_gunicorn_answers_a_large_body_as_the_whole_path(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    case = CASES["xgboost-binary-json"](tmp_path / "model")
    _, whole = invokers(case)
    body = csv_body(np.tile(many_rows(case), (4, 1)))  # about 2 MiB
    expected = whole.answer(whole.plan("text/csv", None, None), body)[1]
    env = {"BYOM_STREAM_CHUNK_KIB": "64", "SAGEMAKER_MAX_PAYLOAD_IN_MB": "8"}
    with serving(case.directory, tmp_path, env) as server:
        reply = requests.post(
            server.url + "/invocations", data=body, headers={"Content-Type": "text/csv"}, timeout=60
        )
    assert reply.status_code == 200
    assert reply.content == expected


def test_a_multi_model_invoke_is_answered_in_chunks_as_invocations_is(tmp_path: Path) -> None:
    directory = tmp_path / "models" / "xgb" / "model"
    directory.mkdir(parents=True)
    case = CASES["xgboost-multi-ubj"](directory)
    _, whole = invokers(case)
    body = csv_body(many_rows(case))
    env = {
        "SAGEMAKER_MULTI_MODEL": "true",
        "BYOM_MODEL_ROOT": str(tmp_path / "models"),
        "BYOM_STREAM_CHUNK_KIB": "16",
    }
    registry = Registry.private()
    try:
        client = Client(create_app(Settings.from_env(env), registry=registry))
        loaded = client.post("/models", json={"model_name": "xgb", "url": str(directory)})
        assert loaded.status_code == 200, loaded.get_data()
        reply = client.post("/models/xgb/invoke", data=body, headers={"Content-Type": "text/csv"})
    finally:
        registry.remove()
    assert reply.status_code == 200
    assert reply.get_data() == whole.answer(whole.plan("text/csv", None, None), body)[1]
