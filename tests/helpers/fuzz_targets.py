"""The fuzz targets: one per C entry point that takes untrusted input, each comparing the C answer
with the strict Python path where there is one. scripts/fuzz runs them under atheris against the
sanitized build (scripts/sanitize), so a read outside a buffer or undefined behaviour aborts with
its report. tests/test_fuzz_regressions.py replays every file of tests/fuzz/corpus/<target>/
through its target on the normal build. (The sanitized modules leave the ASan runtime to the one
preloaded, clang's or atheris'; linked to clang's by name, they failed to load under atheris.)

    csv         _row_reader.csv_rows (through csv.fast_csv_table) against decode_csv_strict
    csv_block   _row_reader.csv_block (training pieces: labels, float32 features) against
                decode_csv_strict's first column and the rest cast to float32
    libsvm      _row_reader.libsvm_block (training pieces: labels, CSR) against decode_libsvm
    json        _row_reader.json_row (through json.fast_json_row) against decode_json_strict
    tree_walk   _tree_walk.margins on fuzzed rows and fuzzed trees that pass tree_checks,
                against the numpy walk, bit for bit
    tree_shap   _tree_shap.add_group on raw buffers and counts: refused or run, never a crash
"""

from __future__ import annotations

import contextlib
import functools
import struct
from collections.abc import Callable
from typing import Any

import numpy as np

from container.codecs import csv as csv_codec
from container.codecs import json as json_codec
from container.codecs import routes
from container.codecs.libsvm import decode_libsvm
from container.codecs.text import UTF8_BOM
from container.errors import RequestError
from container.flavours import tree_walk
from container.flavours.compiled_walk import LIBRARY, CompiledWalk, load_module
from container.flavours.tree_checks import BadTrees, check_booster_trees


def _strict(decoder: Callable[[bytes, dict[str, str]], Any], body: bytes) -> np.ndarray | None:
    try:
        return np.asarray(decoder(body, {}).rows)
    except RequestError:
        return None


def _agree(fast: np.ndarray | None, strict: np.ndarray | None, body: bytes) -> None:
    if fast is None:
        return
    assert strict is not None, f"the C reader took a body the strict path refuses: {body!r}"
    assert fast.shape == strict.shape and fast.tobytes() == strict.tobytes(), body


def csv(data: bytes) -> None:
    table = csv_codec.fast_csv_table(data, {})
    _agree(
        None if table is None else np.asarray(table.rows), _strict(csv_codec.decode_csv_strict, data), data
    )


def csv_block(data: bytes) -> None:
    read = routes.ROW_READER.csv_block(data) if routes.ROW_READER is not None else None
    if read is None:
        return
    strict = _strict(csv_codec.decode_csv_strict, data)
    assert strict is not None and strict.shape[1] >= 2, (
        f"csv_block took what the strict path refuses: {data!r}"
    )
    labels, features, rows, width = read
    assert (rows, width + 1) == strict.shape, data
    with np.errstate(over="ignore"):
        expected = strict[:, 1:].astype(np.float32)
    assert np.frombuffer(labels, np.float64).tobytes() == strict[:, 0].tobytes(), data
    assert np.frombuffer(features, np.float32).tobytes() == expected.tobytes(), data


def libsvm(data: bytes) -> None:
    read = routes.ROW_READER.libsvm_block(data) if routes.ROW_READER is not None else None
    if read is None:
        return
    labels, values, indices, indptr, rows, width = read
    try:  # the readers take one UTF-8 BOM at the start, as every reader here does
        strict = decode_libsvm(data, {}).rows
        # as the serving decoder reads lines: LF ends one (a CR is blank space), trailing ends dropped
        lines = data.removeprefix(UTF8_BOM).rstrip(b"\r\n").split(b"\n")
        strict_labels = [float(line.split()[0]) for line in lines]
    except (RequestError, ValueError, IndexError):
        raise AssertionError(f"libsvm_block took what the strict path refuses: {data!r}") from None
    assert (rows, width) == strict.shape, data
    assert np.frombuffer(labels, np.float64).tolist() == strict_labels, data
    assert np.frombuffer(indptr, np.int32).tolist() == strict.indptr.tolist(), data
    assert np.frombuffer(indices, np.int32).tolist() == strict.indices.tolist(), data
    with np.errstate(over="ignore"):
        assert np.frombuffer(values, np.float32).tobytes() == strict.data.astype(np.float32).tobytes(), data


def json_(data: bytes) -> None:
    _agree(json_codec.fast_json_row(data, {}), _strict(json_codec.decode_json_strict, data), data)


# --- tree_walk: the first bytes shape a small tree, the rest are the rows' float64 values


def _tree(data: bytes) -> tuple[dict[str, Any], bytes]:
    """An XGBoost JSON model of one tree of up to 15 nodes, whatever the bytes say."""
    n_nodes = 1 + (data[0] % 15) if data else 1
    fields = data[1 : 1 + 4 * n_nodes].ljust(4 * n_nodes, b"\0")
    left, right, feature, cut = (list(fields[k::4]) for k in range(4))
    tree = {
        "tree_param": {"num_nodes": str(n_nodes)},
        "left_children": [c % 17 - 1 for c in left],
        "right_children": [c % 17 - 1 for c in right],
        "split_indices": [f % 7 - 1 for f in feature],
        "split_conditions": [(c - 128) / 16 for c in cut],
        "default_left": [c & 1 for c in cut],
        "split_type": [0] * n_nodes,
    }
    model = {
        "learner": {
            "learner_model_param": {"num_feature": "5", "base_score": "0.5", "num_class": "0"},
            "objective": {"name": "reg:squarederror"},
            "gradient_booster": {"name": "gbtree", "model": {"trees": [tree]}},
        }
    }
    return model, data[1 + 4 * n_nodes :]


@functools.cache
def _walk_module() -> Any:
    return load_module(LIBRARY)


def walk(data: bytes) -> None:
    model, rest = _tree(data)
    try:
        check_booster_trees(model)
        numpy_walk = tree_walk.build(model)
    except (BadTrees, tree_walk.Unsupported):
        return
    width = 5 + (rest[0] % 3 if rest else 0)
    values = np.frombuffer(
        rest[1 : 1 + 8 * width * 40][: (len(rest) - 1) // (8 * width) * 8 * width], np.float64
    )
    rows = values.reshape(-1, width) if values.size else np.zeros((1, width))
    compiled = CompiledWalk(numpy_walk, _walk_module(), whole_batches=True)
    expected = numpy_walk.margins(rows)
    assert compiled.margins(rows).tobytes() == expected.tobytes(), (model, rows)


# --- tree_shap: raw buffers and counts straight into add_group


def shap(data: bytes) -> None:
    from container import tree_shap

    if tree_shap.COMPILED is None or len(data) < 10:
        return
    counts = [int.from_bytes(data[k : k + 2], "little", signed=True) for k in range(0, 10, 2)]
    if data[0] & 1:  # now and then a count near the int64 edge, whose products overflow
        counts[data[1] % 5] = struct.unpack("<q", data[2:10])[0]
    n, f, leaves, d, c = counts
    sizes = [abs(x) % 64 for x in (n * f, leaves * d, leaves * c, d, n * c * (f + 1))]
    pool = np.frombuffer(data[10:].ljust(8 * 64, b"\0")[: 8 * 64], np.float64)
    buffers = [pool[: sizes[0]].copy(), np.zeros(sizes[1], np.int64)]
    buffers += [pool[: sizes[1]].copy(), np.zeros(sizes[1], np.uint8), pool[: sizes[1]].copy()]
    buffers += [np.ones(sizes[1], np.uint8), np.full(sizes[1], 0.5), pool[: sizes[2]].copy()]
    buffers += [np.full(sizes[3], 0.25), np.zeros(sizes[4])]
    buffers[1][:] = (np.frombuffer(data[10:].ljust(8 * sizes[1], b"\0")[: 8 * sizes[1]], np.int64) % 9) - 1
    with contextlib.suppress(ValueError, OverflowError):
        tree_shap.COMPILED.add_group(*buffers, n, f, leaves, d, c)


TARGETS: dict[str, Callable[[bytes], None]] = {
    "csv": csv,
    "csv_block": csv_block,
    "libsvm": libsvm,
    "json": json_,
    "tree_walk": walk,
    "tree_shap": shap,
}
